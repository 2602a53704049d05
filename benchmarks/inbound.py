"""Inbound: SQL statements and wall time per ``$connect``, message and ``$disconnect`` (design §11).

Every event goes through Django's real request handling: a ``WSGIHandler`` is called in this
process with the WSGI environ a server would build for API Gateway's POST (headers of design §4:
secret, API id, connection id, ``X-Forwarded-*``, trace id; on ``$connect`` also ``Origin``, the
session ``Cookie``, the ``Sec-WebSocket-*`` handshake headers and ``?token=…&channel=…``). No
network; the database is real (a fresh scratch database, the migrations of wsgateway, auth,
contenttypes and sessions applied) and the middleware chain, installed apps and ``WSGATEWAY``
settings are the test suite's (``tests/settings.py``), with ``DEBUG = False`` and persistent
database connections (``CONN_MAX_AGE = None``, as a production deployment would run).

Measured, in batches that interleave every kind of event (so a busy neighbour on the machine
slows all of them alike):

- ``reference``: the minimal database-touching view — one ORM read of a row by primary key and
  one UPDATE of it — POSTed with the same headers as a message event;
- ``$connect``: a successful connect, each with a fresh one-time token of a logged-in user
  (distinct client IPs, at most 10 connects per user, so the default rate limit never refuses);
- ``message ping``: a message on a live session whose handler does no database work (the
  view's own cost);
- ``message change_channel``: the built-in handler (a rule lookup and an update of its own);
- ``$disconnect``.

SQL statements are counted with a ``connection.execute_wrapper``; transaction control
(``BEGIN``, ``SAVEPOINT``…) is not counted, as in ``tests/ingestion/test_query_budget.py``.
Time is wall time around the WSGI call (building the environ, reading the answer, closing it),
and this process's CPU time over the same span (``cpu`` columns: the Python cost of the view,
without the database server's work or waits for the disk, steadier on a busy machine). The
gateway lookup is cached for ``GATEWAY_CACHE_SECONDS``, so an occasional ``$connect`` pays one
more query when the entry expires (the max column shows it). A warm-up batch is not recorded.

Bounded: the measuring stops a few seconds before ``--timeout`` (default 120 s) and the whole
run is aborted at ``--timeout`` whatever happens (the scratch database is still dropped).

    python benchmarks/inbound.py [--events 2000] [--database-url URL] [--timeout 120]

``--database-url`` defaults to a SQLite file in a temporary directory. With a SQLite URL the
script uses a fresh file next to the one named; with a PostgreSQL URL it connects to that
database only to ``CREATE`` (and finally ``DROP``) its own scratch database on the same server.

Exit status: 0 when every event answered 200 and the rows check out afterwards (every session
disconnected, two messages counted on each, every token consumed); 1 otherwise; 2 when the
hard timeout struck.
"""

from __future__ import annotations

import argparse
import base64
import itertools
import json
import os
import secrets
import signal
import statistics
import string
import sys
import tempfile
import time
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import timedelta
from io import BytesIO
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

API_ID = "benchinbound1"
HOST = "backend.example.com"
ORIGIN = "https://app.example.com"
CONNECTS_PER_USER = 10  # half the default CONNECT_RATE_LIMIT_ATTEMPTS per user and window
WARMUP_EVENTS = 20
BATCH_EVENTS = 100
CLEANUP_RESERVE_SECONDS = 8.0
MIGRATED_APPS = ("wsgateway", "sessions")
CONTROL_STATEMENTS = ("BEGIN", "COMMIT", "ROLLBACK", "SAVEPOINT", "RELEASE SAVEPOINT")

REFERENCE = "reference (read + UPDATE)"
CONNECT = "$connect (fresh token)"
PING = "message ping (no handler SQL)"
CHANGE_CHANNEL = "message change_channel"
DISCONNECT = "$disconnect"
ROWS = (REFERENCE, CONNECT, PING, CHANGE_CHANNEL, DISCONNECT)


class BenchmarkError(RuntimeError):
    """An event was not answered 200, or the rows do not check out after the run."""


class HardTimeout(BaseException):
    """Raised by SIGALRM when the run reaches ``--timeout``; a BaseException so that no
    ``except Exception`` on the way swallows it."""


# ------------------------------------------------------------------------------------ database


@contextmanager
def scratch_database(url: str | None) -> Iterator[dict[str, Any]]:
    """Django's settings for a fresh, empty database, removed again on exit."""
    import dj_database_url

    if url is None:
        with tempfile.TemporaryDirectory(prefix="wsgateway-inbound-") as tmp:
            yield dict(dj_database_url.parse(f"sqlite:///{tmp}/inbound.sqlite3"))
        return
    db: dict[str, Any] = dict(dj_database_url.parse(url))
    engine = db["ENGINE"]
    if engine.endswith("sqlite3"):
        named = Path(db["NAME"] or Path(tempfile.gettempdir()) / "wsgateway.sqlite3")
        scratch = named.with_name(f"{named.stem}-inbound-{os.getpid()}.sqlite3")
        db["NAME"] = str(scratch)
        try:
            yield db
        finally:
            for suffix in ("", "-journal", "-wal", "-shm"):
                Path(f"{scratch}{suffix}").unlink(missing_ok=True)
        return
    if not engine.endswith("postgresql"):
        raise BenchmarkError(f"unsupported database URL (SQLite or PostgreSQL): {engine}")
    import psycopg

    name = f"wsgateway_inbound_{os.getpid()}_{secrets.token_hex(3)}"
    with psycopg.connect(url, autocommit=True, connect_timeout=5) as admin:
        admin.execute(f'CREATE DATABASE "{name}"')
    try:
        yield {**db, "NAME": name}
    finally:
        from django.db import connections

        connections.close_all()
        with psycopg.connect(url, autocommit=True, connect_timeout=5) as admin:
            admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


class URLConf:
    """``ROOT_URLCONF`` of the run (filled by :func:`mount_views` once Django is set up)."""

    urlpatterns: list[Any] = []


def configure_django(db: dict[str, Any]) -> None:
    """The test suite's settings (middleware, apps, ``WSGATEWAY``) on the scratch database."""
    import django
    from django.conf import settings

    from tests import settings as test_settings

    values = {name: getattr(test_settings, name) for name in dir(test_settings) if name.isupper()}
    values.update(
        DEBUG=False,
        DATABASES={"default": {**db, "CONN_MAX_AGE": None}},
        ROOT_URLCONF=URLConf,
    )
    settings.configure(**values)
    django.setup()
    mount_views()


def mount_views() -> None:
    """The view under test at ``ws/<route>`` and the reference view at ``reference/``."""
    from django.contrib.auth.models import User
    from django.http import HttpRequest, JsonResponse
    from django.urls import path
    from django.utils import timezone
    from django.views.decorators.csrf import csrf_exempt

    from wsgateway.views import WebSocketView

    class BenchView(WebSocketView):
        """The app's view with one handler that does no database work of its own."""

        allowed_handlers = ("change_channel", "ping")

        def ping(self, body: dict[str, Any]) -> dict[str, Any]:
            return {"pong": True}

    @csrf_exempt
    def reference(request: HttpRequest) -> JsonResponse:
        # The smallest view that reads and writes a row: what any DB-touching endpoint costs.
        pk = int(request.GET["user"])
        found = User.objects.filter(pk=pk).values_list("pk", flat=True).first()
        User.objects.filter(pk=pk).update(last_login=timezone.now())
        return JsonResponse({"user": found})

    URLConf.urlpatterns[:] = [
        path("ws/<slug:route>", BenchView.as_view()),
        path("reference/", reference),
    ]


# ---------------------------------------------------------------------------------- fixtures


@dataclass
class Browser:
    """A logged-in user: its row, its Django session key and that key's stored hash."""

    user_id: int
    session_key: str
    session_key_hash: str


def create_gateway() -> None:
    from wsgateway.models import ApiGateway

    ApiGateway.objects.create(
        api_name="bench-inbound",
        api_id=API_ID,
        api_endpoint=f"wss://{API_ID}.execute-api.us-east-1.amazonaws.com",
        stage_name="production",
        default_channel_name="lobby",
        api_created=True,
    )


def create_browsers(count: int) -> list[Browser]:
    """``count`` users, each logged in with a real Django session row (bulk inserts)."""
    from django.contrib.auth import BACKEND_SESSION_KEY, HASH_SESSION_KEY, SESSION_KEY
    from django.contrib.auth.hashers import make_password
    from django.contrib.auth.models import User
    from django.contrib.sessions.backends.db import SessionStore
    from django.contrib.sessions.models import Session
    from django.utils import timezone
    from django.utils.crypto import get_random_string

    from wsgateway.hashing import session_key_hash

    password = make_password("bench-password")
    User.objects.bulk_create(
        [User(username=f"bench-{i}", password=password) for i in range(count)], batch_size=500
    )
    users = list(User.objects.filter(username__startswith="bench-").order_by("pk"))
    store = SessionStore()
    expires = timezone.now() + timedelta(days=14)
    browsers, rows = [], []
    for user in users:
        key = get_random_string(32, string.ascii_lowercase + string.digits)
        data = {
            SESSION_KEY: str(user.pk),
            BACKEND_SESSION_KEY: "django.contrib.auth.backends.ModelBackend",
            HASH_SESSION_KEY: user.get_session_auth_hash(),
        }
        rows.append(Session(session_key=key, session_data=store.encode(data), expire_date=expires))
        browsers.append(Browser(user.pk, key, session_key_hash(key)))
    Session.objects.bulk_create(rows, batch_size=500)
    return browsers


def issue_tokens(browsers: Sequence[Browser]) -> list[str]:
    """One fresh connect token per browser, as ``WebSocketToken.generate_token`` stores them
    (bulk, and just before their batch so none outlives ``TOKEN_MAX_AGE_SECONDS``)."""
    from wsgateway.hashing import token_hash
    from wsgateway.models import WebSocketToken

    values = [secrets.token_urlsafe(32) for _ in browsers]
    WebSocketToken.objects.bulk_create(
        [
            WebSocketToken(token=token_hash(value), user_id=b.user_id, session_key=b.session_key_hash)
            for value, b in zip(values, browsers, strict=True)
        ]
    )
    return values


# -------------------------------------------------------------------------------- WSGI calls


class QueryCounter:
    """A ``connection.execute_wrapper`` counting statements that read or write rows."""

    def __init__(self) -> None:
        self.rows = 0
        self.control = 0

    def __call__(self, execute: Callable[..., Any], sql: str, params: Any, many: bool, context: Any) -> Any:
        if sql.lstrip().upper().startswith(CONTROL_STATEMENTS):
            self.control += 1
        else:
            self.rows += 1
        return execute(sql, params, many, context)


class Gateway:
    """Builds API Gateway's HTTP_PROXY requests and hands them to Django's WSGI handler."""

    def __init__(self, secret: str) -> None:
        from django.core.handlers.wsgi import WSGIHandler

        self.handler = WSGIHandler()
        self.secret = secret
        self._ids = itertools.count(1)

    def new_connection_id(self) -> str:
        """A fresh id shaped like AWS's (16 characters of base64)."""
        return base64.b64encode(next(self._ids).to_bytes(11, "big")).decode()

    def call(self, path: str, query: str, body: bytes, headers: dict[str, str]) -> tuple[int, bytes]:
        environ: dict[str, Any] = {
            "REQUEST_METHOD": "POST",
            "SCRIPT_NAME": "",
            "PATH_INFO": path,
            "QUERY_STRING": query,
            "CONTENT_TYPE": headers.pop("Content-Type", ""),
            "CONTENT_LENGTH": str(len(body)),
            "SERVER_NAME": HOST,
            "SERVER_PORT": "443",
            "SERVER_PROTOCOL": "HTTP/1.1",
            "REMOTE_ADDR": "10.0.0.1",
            "wsgi.version": (1, 0),
            "wsgi.url_scheme": "https",
            "wsgi.input": BytesIO(body),
            "wsgi.errors": sys.stderr,
            "wsgi.multithread": False,
            "wsgi.multiprocess": True,
            "wsgi.run_once": False,
        }
        for name, value in headers.items():
            environ["HTTP_" + name.upper().replace("-", "_")] = value
        status: list[str] = []

        def start_response(line: str, response_headers: Any, exc_info: Any = None) -> Callable[[bytes], None]:
            status.append(line)
            return lambda data: None

        result = self.handler(environ, start_response)
        try:
            content = b"".join(result)
        finally:
            close = getattr(result, "close", None)
            if close is not None:
                close()  # what a WSGI server does: fires request_finished
        return int(status[0].split()[0]), content

    def _headers(self, connection_id: str, ip: str) -> dict[str, str]:
        return {
            "Host": HOST,
            "X-Amzn-Apigateway-Api-Id": API_ID,
            "X-Ws-Gateway-Secret": self.secret,
            "Connectionid": connection_id,
            "X-Forwarded-For": ip,
            "X-Forwarded-Proto": "https",
            "X-Forwarded-Port": "443",
            "X-Amzn-Trace-Id": f"Root=1-{secrets.token_hex(4)}-{secrets.token_hex(12)}",
        }

    def connect(self, connection_id: str, token: str, browser: Browser, ip: str, channel: str) -> Any:
        from django.conf import settings

        headers = {
            **self._headers(connection_id, ip),
            "Origin": ORIGIN,
            "Cookie": f"{settings.SESSION_COOKIE_NAME}={browser.session_key}",
            "Sec-Websocket-Key": base64.b64encode(secrets.token_bytes(16)).decode(),
            "Sec-Websocket-Version": "13",
            "Sec-Websocket-Extensions": "permessage-deflate; client_max_window_bits",
        }
        return self.call("/ws/connect", f"token={token}&channel={channel}", b"", headers)

    def message(self, connection_id: str, ip: str, body: dict[str, Any]) -> Any:
        headers = {
            **self._headers(connection_id, ip),
            "User-Agent": f"AmazonAPIGateway_{API_ID}",
            "Content-Type": "application/json",
        }
        return self.call("/ws/default", "", json.dumps(body).encode(), headers)

    def disconnect(self, connection_id: str, ip: str) -> Any:
        headers = {**self._headers(connection_id, ip), "User-Agent": f"AmazonAPIGateway_{API_ID}"}
        return self.call("/ws/disconnect", "", b"", headers)

    def reference(self, connection_id: str, ip: str, user_id: int) -> Any:
        # Same headers and a body like a message's: only the view differs.
        headers = {
            **self._headers(connection_id, ip),
            "User-Agent": f"AmazonAPIGateway_{API_ID}",
            "Content-Type": "application/json",
        }
        return self.call("/reference/", f"user={user_id}", json.dumps({"handler": "ping"}).encode(), headers)


# ------------------------------------------------------------------------------- measurement


@dataclass
class Series:
    """What one kind of event cost, event by event."""

    name: str
    micros: list[float] = field(default_factory=list)
    cpu_micros: list[float] = field(default_factory=list)
    queries: list[int] = field(default_factory=list)

    def mean(self) -> float:
        """Mean wall time, µs."""
        return statistics.fmean(self.micros) if self.micros else float("nan")

    def cpu_mean(self) -> float:
        """Mean CPU time of this process, µs (the database server's work is not in it)."""
        return statistics.fmean(self.cpu_micros) if self.cpu_micros else float("nan")

    def percentile(self, q: float) -> float:
        """Nearest-rank percentile of the wall times, in µs."""
        if not self.micros:
            return float("nan")
        ordered = sorted(self.micros)
        rank = max(1, min(len(ordered), round(q / 100 * len(ordered) + 0.5)))
        return ordered[rank - 1]


@dataclass
class Results:
    series: dict[str, Series]
    database: str
    elapsed: float
    complete: bool
    checks: list[str]


class Deadline:
    def __init__(self, seconds: float) -> None:
        self.end = time.monotonic() + seconds

    def passed(self) -> bool:
        return time.monotonic() >= self.end


def client_ip(index: int) -> str:
    """A distinct client address per connect (198.18.0.0/15, the benchmarking range)."""
    return f"198.{18 + (index >> 16) % 2}.{(index >> 8) % 256}.{index % 256}"


def run(events: int, deadline: Deadline) -> Results:
    """Set up the rows, then measure ``events`` of each kind (fewer if ``deadline`` passes)."""
    from django.conf import settings
    from django.core.cache import cache
    from django.core.management import call_command
    from django.db import connection

    started = time.monotonic()
    # The migrations of the apps events touch (auth and contenttypes come as dependencies); the
    # admin's and django_celery_beat's tables are never read by an event and would triple the
    # set-up time.
    for app in MIGRATED_APPS:
        call_command("migrate", app, verbosity=0, interactive=False, skip_checks=True)
    cache.clear()
    create_gateway()
    total = events + WARMUP_EVENTS
    browsers = create_browsers(-(-total // CONNECTS_PER_USER))
    gateway = Gateway(settings.WSGATEWAY["GATEWAY_SECRETS"][0])
    series = {name: Series(name) for name in ROWS}
    counter = QueryCounter()

    def timed(name: str, record: bool, call: Callable[..., tuple[int, bytes]], *args: Any) -> None:
        before = counter.rows
        cpu0, t0 = time.process_time_ns(), time.perf_counter_ns()
        status, content = call(*args)
        elapsed, cpu = time.perf_counter_ns() - t0, time.process_time_ns() - cpu0
        if status != 200:
            raise BenchmarkError(f"{name}: HTTP {status}: {content[:300]!r}")
        if record:
            series[name].micros.append(elapsed / 1000)
            series[name].cpu_micros.append(cpu / 1000)
            series[name].queries.append(counter.rows - before)

    done = 0
    complete = True
    with connection.execute_wrapper(counter):
        while done < total:
            if deadline.passed():
                complete = False
                break
            record = done >= WARMUP_EVENTS
            size = min(BATCH_EVENTS if record else WARMUP_EVENTS, total - done)
            indexes = range(done, done + size)
            batch = [browsers[i % len(browsers)] for i in indexes]
            tokens = issue_tokens(batch)  # not timed: the page fetched them beforehand
            ids = [gateway.new_connection_id() for _ in indexes]
            ips = [client_ip(i) for i in indexes]
            # Interleaved kinds, one loop each: every kind sees the same machine load.
            for cid, ip, browser in zip(ids, ips, batch, strict=True):
                timed(REFERENCE, record, gateway.reference, cid, ip, browser.user_id)
            for i, cid, ip, browser, token in zip(indexes, ids, ips, batch, tokens, strict=True):
                timed(CONNECT, record, gateway.connect, cid, token, browser, ip, f"room-{i % 10}")
            for cid, ip in zip(ids, ips, strict=True):
                timed(PING, record, gateway.message, cid, ip, {"handler": "ping"})
            for i, cid, ip in zip(indexes, ids, ips, strict=True):
                body = {"handler": "change_channel", "channel": f"room-{(i + 1) % 10}"}
                timed(CHANGE_CHANNEL, record, gateway.message, cid, ip, body)
            for cid, ip in zip(ids, ips, strict=True):
                timed(DISCONNECT, record, gateway.disconnect, cid, ip)
            done += size
    if not series[REFERENCE].micros:
        raise BenchmarkError("no event was measured before the time limit (setup took too long)")
    checks = verify(done)
    return Results(series, database_name(), time.monotonic() - started, complete, checks)


def database_name() -> str:
    """The database's vendor and server version, for the report."""
    import sqlite3

    from django.db import connection

    if connection.vendor == "sqlite":
        return f"SQLite {sqlite3.sqlite_version}"
    version = int(getattr(connection, "pg_version", 0))
    return f"PostgreSQL {version // 10000}.{version % 10000}" if version else connection.vendor


def verify(connects: int) -> list[str]:
    """Rows after the run: every event did what it answered."""
    from django.db.models import Sum

    from wsgateway.models import ConnectionRateLimit, WebSocketSession, WebSocketToken

    sessions = WebSocketSession.objects.all()
    facts = {
        "sessions": sessions.count(),
        "still connected": sessions.filter(connected=True).count(),
        "messages counted": sessions.aggregate(n=Sum("request_count"))["n"] or 0,
        "tokens consumed": WebSocketToken.objects.filter(used=True).count(),
        "successful attempts": ConnectionRateLimit.objects.filter(successful=True).count(),
    }
    expected = {
        "sessions": connects,
        "still connected": 0,
        # The $connect itself counts as the session's first request.
        "messages counted": (1 + 2) * connects,
        "tokens consumed": connects,
        "successful attempts": connects,
    }
    wrong = [f"{k}: {facts[k]} (expected {v})" for k, v in expected.items() if facts[k] != v]
    if wrong:
        raise BenchmarkError("rows after the run do not check out: " + "; ".join(wrong))
    return [f"{k} {v}" for k, v in facts.items()]


# ------------------------------------------------------------------------------------ report


def format_table(results: Results) -> str:
    """One row per kind of event; ``vs ref`` = mean wall time / the reference's, ``cpu vs ref``
    the same for this process's CPU time."""
    reference = results.series[REFERENCE]
    header = (
        f"{'event':<32} {'n':>6} {'q/min':>6} {'q/max':>6} {'mean µs':>9} {'p50 µs':>9} "
        f"{'p99 µs':>9} {'vs ref':>7} {'cpu µs':>8} {'cpu vs ref':>10}"
    )
    lines = [header, "-" * len(header)]
    for name in ROWS:
        s = results.series[name]
        if not s.micros:
            lines.append(f"{name:<32} {0:>6}")
            continue
        lines.append(
            f"{name:<32} {len(s.micros):>6} {min(s.queries):>6} {max(s.queries):>6} {s.mean():>9.0f} "
            f"{s.percentile(50):>9.0f} {s.percentile(99):>9.0f} {s.mean() / reference.mean():>6.2f}x "
            f"{s.cpu_mean():>8.0f} {s.cpu_mean() / reference.cpu_mean():>9.2f}x"
        )
    return "\n".join(lines)


def summary(results: Results) -> str:
    def part(label: str, name: str) -> str:
        s = results.series[name]
        queries = (
            f"{min(s.queries)}-{max(s.queries)}" if min(s.queries) != max(s.queries) else f"{s.queries[0]}"
        )
        reference = results.series[REFERENCE]
        return (
            f"{label} {queries} queries {s.mean() / reference.mean():.2f}x "
            f"(cpu {s.cpu_mean() / reference.cpu_mean():.2f}x)"
        )

    s = results.series[REFERENCE]
    return (
        f"inbound on {results.database}: "
        + ", ".join(
            [
                part("$connect", CONNECT),
                part("message", PING),
                part("change_channel", CHANGE_CHANNEL),
                part("$disconnect", DISCONNECT),
            ]
        )
        + f" vs reference ({s.queries[0]} queries, {s.mean():.0f} µs, cpu {s.cpu_mean():.0f} µs);"
        + f" n={len(s.micros)} each"
        + ("" if results.complete else " (stopped early at the time limit)")
    )


# -------------------------------------------------------------------------------------- main


def parse_args(argv: Sequence[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0] if __doc__ else None)
    parser.add_argument("--events", type=int, default=2000, help="events of each kind to measure")
    parser.add_argument(
        "--database-url",
        default=None,
        help="SQLite or PostgreSQL URL; a scratch database is created from it (default: a temp SQLite file)",
    )
    parser.add_argument("--timeout", type=float, default=120.0, help="hard limit of the whole run, seconds")
    args = parser.parse_args(argv)
    if args.events < 1:
        parser.error("--events must be at least 1")
    if args.timeout < CLEANUP_RESERVE_SECONDS + 2:
        parser.error(f"--timeout must be at least {CLEANUP_RESERVE_SECONDS + 2:.0f} seconds")
    return args


def main(argv: Sequence[str] | None = None) -> int:
    args = parse_args(argv)

    def strike(signum: int, frame: Any) -> None:
        raise HardTimeout

    signal.signal(signal.SIGALRM, strike)
    signal.setitimer(signal.ITIMER_REAL, args.timeout)
    deadline = Deadline(args.timeout - CLEANUP_RESERVE_SECONDS)
    try:
        with scratch_database(args.database_url) as db:
            configure_django(db)
            results = run(args.events, deadline)
        signal.setitimer(signal.ITIMER_REAL, 0)
    except HardTimeout:
        print(f"inbound: aborted at the {args.timeout:.0f} s time limit", file=sys.stderr)
        return 2
    except BenchmarkError as err:
        signal.setitimer(signal.ITIMER_REAL, 0)
        print(f"inbound: FAILED: {err}", file=sys.stderr)
        return 1
    print(f"Inbound events through Django's WSGI handler, {results.database}, {results.elapsed:.1f} s")
    print(format_table(results))
    print("after the run: " + ", ".join(results.checks))
    print(summary(results))
    return 0


if __name__ == "__main__":
    sys.exit(main())
