"""Inbound: SQL statements and CPU per ``$connect``, message and ``$disconnect``, against the reference.

Every event goes through Django's real request handling: a ``WSGIHandler`` is called in-process
with the WSGI environ a server would build for API Gateway's POST (``benchmarks/inbound_wsgi.py``:
the headers of docs/architecture.md §4; on ``$connect`` also ``Origin``, the session ``Cookie``,
the ``Sec-WebSocket-*`` handshake headers and ``?token=…&channel=…``). No network; the database
is real (a fresh scratch database, the migrations applied), ``DEBUG = False`` and persistent
database connections (``CONN_MAX_AGE = None``, as a production deployment would run).
wsgateway's side runs the test suite's middleware chain, apps and ``WSGATEWAY`` settings
(``tests/settings.py``).

With ``--reference`` the same events go, in the same run, to the real ``WebSocketView`` of the
PyPI package ``django-aws-api-gateway-websockets==4.1.0``: in its own virtualenv
(``benchmarks/peers.py`` builds it on first use), a child process
(``benchmarks/inbound_reference.py``, settings ``benchmarks/inbound_reference_settings.py``: the
same middleware, its own scratch SQLite file) driven batch by batch, the two sides taking turns
(a busy neighbour on the machine slows both alike). The table then shows ours/theirs ratios.

Measured per batch, one loop per kind:

- ``$connect``: a successful connect, each with a fresh one-time token of a logged-in user
  (distinct client IPs, at most 10 connects per user, so neither rate limit refuses);
- ``$connect refused (bad token)``: a token nobody issued (wsgateway answers 401, the reference 400);
- ``message``: a message on a live session whose handler (``ping``) does no database work, i.e.
  the view's own cost;
- ``message change_channel``: the built-in handler (a rule lookup and an update of its own);
- ``$disconnect``;
- ``floor`` (wsgateway's side only, not a peer): a plain Django view that reads one row by
  primary key and UPDATEs it, POSTed with a message's headers: what any database-touching
  endpoint costs in this process.

SQL statements are counted with a ``connection.execute_wrapper`` (transaction control is not
counted, as in ``tests/ingestion/test_query_budget.py``). ``cpu`` is this process's CPU time
around the WSGI call (the view's Python cost; with SQLite, in-process, also the SQL engine's),
``wall`` the wall time. wsgateway caches the gateway lookup for ``GATEWAY_CACHE_SECONDS``, so an
occasional event pays one more query when the entry expires (the ``q max`` column shows it). A
warm-up batch is not recorded.

Bounded: the measuring stops a few seconds before ``--timeout`` (default 180 s) and the whole
run is aborted at ``--timeout`` whatever happens (the scratch databases are still removed, the
child process killed).

    python benchmarks/inbound.py [--reference] [--events 2000] [--database-url URL] [--timeout 180]

``--database-url`` defaults to a SQLite file in a temporary directory. With a SQLite URL the
script uses a fresh file next to the one named; with a PostgreSQL URL it connects to that
database only to ``CREATE`` (and finally ``DROP``) its own scratch database on the same server.
``--reference`` runs on SQLite only (both sides then pay the same in-process SQL engine).

Exit status: 0 when every event got its expected answer and the rows check out afterwards (every
session disconnected, two messages counted on each, every token consumed); 1 otherwise; 2 when
the hard timeout struck.
"""

from __future__ import annotations

import argparse
import json
import os
import secrets
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from benchmarks.inbound_wsgi import (  # noqa: E402  (after the path set-up)
    API_ID,
    CONNECTS_PER_USER,
    EVENTS,
    SECRET,
    BatchRunner,
    BenchmarkError,
    Browser,
    Sample,
    WsgiGateway,
    client_ip,
    create_browsers,
)
from tests.gateway_rows import event_gateway_fields  # noqa: E402  (after the path set-up)

WARMUP_EVENTS = 20
BATCH_EVENTS = 100
CLEANUP_RESERVE_SECONDS = 8.0
MIGRATED_APPS = ("wsgateway", "sessions")
FLOOR = "floor: plain view, 1 read + 1 UPDATE"
REFERENCE_LABEL = "django-aws-api-gateway-websockets"


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
    """``ROOT_URLCONF`` of wsgateway's side (filled by :func:`mount_views` once Django is set up)."""

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
        WSGATEWAY={**test_settings.WSGATEWAY, "GATEWAY_SECRETS": [SECRET]},
    )
    settings.configure(**values)
    django.setup()
    mount_views()


def mount_views() -> None:
    """The view under test at ``ws/<route>`` and the floor view at ``floor/``."""
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
    def floor(request: HttpRequest) -> JsonResponse:
        # The smallest view that reads and writes a row: what any DB-touching endpoint costs.
        pk = int(request.GET["user"])
        found = User.objects.filter(pk=pk).values_list("pk", flat=True).first()
        User.objects.filter(pk=pk).update(last_login=timezone.now())
        return JsonResponse({"user": found})

    URLConf.urlpatterns[:] = [
        path("ws/<slug:route>", BenchView.as_view()),
        path("floor/", floor),
    ]


# -------------------------------------------------------------------------------- our side


def issue_tokens(browsers: Sequence[Browser]) -> list[str]:
    """One fresh connect token per browser, as ``WebSocketToken.generate_token`` stores them
    (bulk, and just before their batch so none outlives ``TOKEN_MAX_AGE_SECONDS``)."""
    from wsgateway.hashing import session_key_hash, token_hash
    from wsgateway.models import WebSocketToken

    values = [secrets.token_urlsafe(32) for _ in browsers]
    WebSocketToken.objects.bulk_create(
        [
            WebSocketToken(
                token=token_hash(value),
                user_id=b.user_id,
                session_key=session_key_hash(b.session_key),
                auth_hash=b.auth_hash,
            )
            for value, b in zip(values, browsers, strict=True)
        ]
    )
    return values


class OurSide:
    """wsgateway's view, in this process."""

    def __init__(self, events: int) -> None:
        from django.core.cache import cache
        from django.core.management import call_command

        from wsgateway.conf import wsgateway_settings
        from wsgateway.models import ApiGateway

        # The migrations of the apps events touch (auth and contenttypes come as dependencies).
        for app in MIGRATED_APPS:
            call_command("migrate", app, verbosity=0, interactive=False, skip_checks=True)
        cache.clear()
        ApiGateway.objects.create(api_name="bench-inbound", **event_gateway_fields(API_ID))
        browsers = create_browsers(-(-events // CONNECTS_PER_USER))
        gateway = WsgiGateway(wsgateway_settings.TOKEN_QUERY_PARAM)
        self.runner = BatchRunner(gateway, browsers, issue_tokens, refused_status=401)

    def batch(self, start: int, size: int) -> dict[str, list[Sample]]:
        from django.db import connection

        out = self.runner.batch(start, size)
        g, browsers = self.runner.gateway, self.runner.browsers
        with connection.execute_wrapper(self.runner.counter):
            for i in range(start, start + size):
                user = browsers[i % len(browsers)].user_id
                args = ("/floor/", f"user={user}", b'{"handler": "ping"}', g._headers("floor", client_ip(i)))
                self.runner.timed(out, FLOOR, 200, g.call, *args)
        return out

    @staticmethod
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


# ---------------------------------------------------------------------------- their side


class ReferenceSide:
    """The reference's view in a child process of its own virtualenv (``inbound_reference.py``)."""

    def __init__(self, events: int, database: Path) -> None:
        from benchmarks.peers import peer_python

        python = peer_python("reference")
        env = {
            **os.environ,
            "DJANGO_SETTINGS_MODULE": "benchmarks.inbound_reference_settings",
            "INBOUND_REFERENCE_DATABASE": str(database),
            "PYTHONPATH": str(ROOT),
        }
        self.process = subprocess.Popen(
            [str(python), str(ROOT / "benchmarks" / "inbound_reference.py")],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            text=True,
            cwd=ROOT,
            env=env,
        )
        self.about = self._ask(f"setup {events}")

    def _ask(self, command: str) -> Any:
        stdin, stdout = self.process.stdin, self.process.stdout
        assert stdin is not None and stdout is not None
        stdin.write(command + "\n")
        stdin.flush()
        line = stdout.readline()
        if not line:
            raise BenchmarkError(f"the reference side exited (status {self.process.wait()}) on {command!r}")
        answer = json.loads(line)
        if isinstance(answer, dict) and "error" in answer:
            raise BenchmarkError(f"reference side: {answer['error']}")
        return answer

    def batch(self, start: int, size: int) -> dict[str, list[Sample]]:
        return {
            name: [tuple(s) for s in samples] for name, samples in self._ask(f"batch {start} {size}").items()
        }

    def verify(self, connects: int) -> list[str]:
        return list(self._ask(f"verify {connects}"))

    def close(self) -> None:
        if self.process.poll() is None:
            stdin: IO[str] | None = self.process.stdin
            try:
                if stdin is not None:
                    stdin.write("quit\n")
                    stdin.close()
                self.process.wait(timeout=5)
            except (OSError, subprocess.TimeoutExpired):
                self.process.kill()
                self.process.wait(timeout=5)


# ------------------------------------------------------------------------------- measurement


@dataclass
class Series:
    """What one kind of event cost on one side, event by event."""

    samples: list[Sample] = field(default_factory=list)

    def cpu_mean(self) -> float:
        return statistics.fmean(s[1] for s in self.samples)

    def cpu_median(self) -> float:
        return statistics.median(s[1] for s in self.samples)

    def wall_median(self) -> float:
        return statistics.median(s[0] for s in self.samples)

    def queries(self) -> str:
        low, high = min(s[2] for s in self.samples), max(s[2] for s in self.samples)
        return f"{low}" if low == high else f"{low}-{high}"


@dataclass
class Results:
    ours: dict[str, Series]
    theirs: dict[str, Series] | None
    database: str
    elapsed: float
    complete: bool
    checks: list[str]
    reference_version: str = ""


class Deadline:
    def __init__(self, seconds: float) -> None:
        self.end = time.monotonic() + seconds

    def passed(self) -> bool:
        return time.monotonic() >= self.end


def record(into: dict[str, Series], samples: dict[str, list[Sample]]) -> None:
    for name, values in samples.items():
        into.setdefault(name, Series()).samples.extend(values)


def run(events: int, deadline: Deadline, reference_db: Path | None) -> Results:
    """Set up both sides, then measure ``events`` of each kind (fewer if ``deadline`` passes)."""
    started = time.monotonic()
    ours = OurSide(events + WARMUP_EVENTS)
    theirs = ReferenceSide(events + WARMUP_EVENTS, reference_db) if reference_db is not None else None
    try:
        our_series: dict[str, Series] = {}
        their_series: dict[str, Series] = {}
        total = events + WARMUP_EVENTS
        done, turn, complete = 0, 0, True
        while done < total:
            if deadline.passed():
                complete = False
                break
            size = min(BATCH_EVENTS if done else WARMUP_EVENTS, total - done)
            sides: list[Any] = [(ours, our_series)] + ([(theirs, their_series)] if theirs else [])
            if turn % 2:
                sides.reverse()  # take turns at going first
            for side, series in sides:
                samples = side.batch(done, size)
                if done:  # the first batch warms up
                    record(series, samples)
            done += size
            turn += 1
        if not our_series:
            raise BenchmarkError("no event was measured before the time limit (setup took too long)")
        checks = ours.verify(done)
        version = ""
        if theirs is not None:
            checks += ["reference: " + ", ".join(theirs.verify(done))]
            version = f"{theirs.about['version']} (Django {theirs.about['django']})"
    finally:
        if theirs is not None:
            theirs.close()
    return Results(
        our_series,
        their_series if theirs else None,
        database_name(),
        time.monotonic() - started,
        complete,
        checks,
        version,
    )


def database_name() -> str:
    """The database's vendor and server version, for the report."""
    import sqlite3

    from django.db import connection

    if connection.vendor == "sqlite":
        return f"SQLite {sqlite3.sqlite_version}"
    version = int(getattr(connection, "pg_version", 0))
    return f"PostgreSQL {version // 10000}.{version % 10000}" if version else connection.vendor


# ------------------------------------------------------------------------------------ report


def format_table(results: Results) -> str:
    """One row per kind of event: queries, CPU (mean and median µs) and wall (median µs) per side,
    and ``cpu ours/theirs`` = our mean CPU / the reference's."""
    header = (
        f"{'event':<38} {'n':>5} {'q ours':>7} {'q ref':>6} {'cpu µs':>7} {'ref cpu':>8} "
        f"{'cpu p50':>8} {'ref p50':>8} {'wall p50':>9} {'ref wall':>9} {'cpu ours/ref':>13}"
    )
    lines = [header, "-" * len(header)]
    for name in (*EVENTS, FLOOR):
        s = results.ours.get(name)
        if s is None:
            continue
        t = (results.theirs or {}).get(name)
        ref = (
            (
                t.queries(),
                f"{t.cpu_mean():.0f}",
                f"{t.cpu_median():.0f}",
                f"{t.wall_median():.0f}",
                f"{s.cpu_mean() / t.cpu_mean():.2f}x",
            )
            if t is not None
            else ("-", "-", "-", "-", "-")
        )
        lines.append(
            f"{name:<38} {len(s.samples):>5} {s.queries():>7} {ref[0]:>6} {s.cpu_mean():>7.0f} {ref[1]:>8} "
            f"{s.cpu_median():>8.0f} {ref[2]:>8} {s.wall_median():>9.0f} {ref[3]:>9} {ref[4]:>13}"
        )
    return "\n".join(lines)


SHORT = {
    EVENTS[0]: "$connect",
    EVENTS[1]: "refused $connect",
    EVENTS[2]: "message",
    EVENTS[3]: "change_channel",
    EVENTS[4]: "$disconnect",
}


def summary(results: Results) -> str:
    n = len(results.ours[EVENTS[0]].samples)
    tail = f"; n={n} each" + ("" if results.complete else " (stopped early at the time limit)")
    if results.theirs is None:
        parts = [
            f"{SHORT[e]} {results.ours[e].queries()} q cpu {results.ours[e].cpu_mean():.0f} µs"
            for e in EVENTS
        ]
        return f"inbound on {results.database}: " + ", ".join(parts) + tail
    parts = [
        f"{SHORT[e]} {results.ours[e].cpu_mean() / results.theirs[e].cpu_mean():.2f}x "
        f"({results.ours[e].queries()} vs {results.theirs[e].queries()} q)"
        for e in EVENTS
    ]
    return (
        f"inbound on {results.database}, cpu ours/reference {REFERENCE_LABEL} {results.reference_version}: "
        + ", ".join(parts)
        + tail
    )


# -------------------------------------------------------------------------------------- main


def parse_args(argv: Sequence[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0] if __doc__ else None)
    parser.add_argument("--events", type=int, default=2000, help="events of each kind to measure")
    parser.add_argument(
        "--reference",
        action="store_true",
        help=f"also drive the real {REFERENCE_LABEL} 4.1.0 view (its own virtualenv) and print ratios",
    )
    parser.add_argument(
        "--database-url",
        default=None,
        help="SQLite or PostgreSQL URL; a scratch database is created from it (default: a temp SQLite file)",
    )
    parser.add_argument("--timeout", type=float, default=180.0, help="hard limit of the whole run, seconds")
    args = parser.parse_args(argv)
    if args.events < 1:
        parser.error("--events must be at least 1")
    if args.timeout < CLEANUP_RESERVE_SECONDS + 2:
        parser.error(f"--timeout must be at least {CLEANUP_RESERVE_SECONDS + 2:.0f} seconds")
    if args.reference and args.database_url and not args.database_url.startswith("sqlite"):
        parser.error("--reference runs on SQLite only (the reference's virtualenv has no PostgreSQL driver)")
    return args


def main(argv: Sequence[str] | None = None) -> int:
    args = parse_args(argv)

    def strike(signum: int, frame: Any) -> None:
        raise HardTimeout

    signal.signal(signal.SIGALRM, strike)
    signal.setitimer(signal.ITIMER_REAL, args.timeout)
    deadline = Deadline(args.timeout - CLEANUP_RESERVE_SECONDS)
    try:
        with (
            scratch_database(args.database_url) as db,
            tempfile.TemporaryDirectory(prefix="wsgw-ref-") as tmp,
        ):
            configure_django(db)
            results = run(args.events, deadline, Path(tmp) / "reference.sqlite3" if args.reference else None)
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
