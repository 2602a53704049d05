"""What both sides of ``benchmarks/inbound.py`` share: API Gateway's requests as WSGI calls, timed.

Imports only the standard library and Django, so the reference's own virtualenv (which has no
wsgateway) runs it too (``benchmarks/inbound_reference.py``). Both sides send the same headers
to their view: those of docs/architecture.md §4 (gateway secret, API id, connection id,
``X-Forwarded-*``, trace id, ``User-Agent``), on ``$connect`` also ``Origin``, the session
``Cookie`` and the ``Sec-WebSocket-*`` handshake headers.
"""

from __future__ import annotations

import base64
import itertools
import json
import secrets
import string
import sys
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import timedelta
from io import BytesIO
from typing import Any

API_ID = "benchinbound1"
HOST = "app.example.com"
ORIGIN = "https://app.example.com"  # the Host itself: both packages' Origin rules accept it
SECRET = "bench-inbound-gateway-secret-0123456789abcdef"  # noqa: S105 (the benchmark's own)
CONNECTS_PER_USER = 10  # half of either package's default connect rate limit per user and window
CONTROL_STATEMENTS = ("BEGIN", "COMMIT", "ROLLBACK", "SAVEPOINT", "RELEASE SAVEPOINT")

# The kinds of event, in the order each batch runs them (one loop per kind, so a busy neighbour
# on the machine slows all of them alike).
CONNECT = "$connect"
REFUSED = "$connect refused (bad token)"
MESSAGE = "message (handler without SQL)"
CHANGE_CHANNEL = "message change_channel"
DISCONNECT = "$disconnect"
EVENTS = (CONNECT, REFUSED, MESSAGE, CHANGE_CHANNEL, DISCONNECT)

#: One measured event: wall µs, this process's CPU µs, SQL statements that read or write rows.
Sample = tuple[float, float, int]


class BenchmarkError(RuntimeError):
    """An event got an unexpected answer, or the rows do not check out after the run."""


class QueryCounter:
    """A ``connection.execute_wrapper`` counting statements that read or write rows
    (transaction control such as ``BEGIN`` or ``SAVEPOINT`` is not counted)."""

    def __init__(self) -> None:
        self.rows = 0

    def __call__(self, execute: Callable[..., Any], sql: str, params: Any, many: bool, context: Any) -> Any:
        if not sql.lstrip().upper().startswith(CONTROL_STATEMENTS):
            self.rows += 1
        return execute(sql, params, many, context)


@dataclass
class Browser:
    """A logged-in user: its row, its Django session key and its session auth hash."""

    user_id: int
    session_key: str
    auth_hash: str


def create_browsers(count: int) -> list[Browser]:
    """``count`` users, each logged in with a real Django session row (bulk inserts)."""
    from django.contrib.auth import BACKEND_SESSION_KEY, HASH_SESSION_KEY, SESSION_KEY
    from django.contrib.auth.hashers import make_password
    from django.contrib.auth.models import User
    from django.contrib.sessions.backends.db import SessionStore
    from django.contrib.sessions.models import Session
    from django.utils import timezone
    from django.utils.crypto import get_random_string

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
        auth_hash = user.get_session_auth_hash()
        data = {
            SESSION_KEY: str(user.pk),
            BACKEND_SESSION_KEY: "django.contrib.auth.backends.ModelBackend",
            HASH_SESSION_KEY: auth_hash,
        }
        rows.append(Session(session_key=key, session_data=store.encode(data), expire_date=expires))
        browsers.append(Browser(user.pk, key, auth_hash))
    Session.objects.bulk_create(rows, batch_size=500)
    return browsers


def client_ip(index: int) -> str:
    """A distinct client address per event index (198.18.0.0/15, the benchmarking range)."""
    return f"198.{18 + (index >> 16) % 2}.{(index >> 8) % 256}.{index % 256}"


class WsgiGateway:
    """Builds API Gateway's HTTP_PROXY requests and hands them to Django's WSGI handler."""

    def __init__(self, token_param: str) -> None:
        from django.core.handlers.wsgi import WSGIHandler

        self.handler = WSGIHandler()
        self.token_param = token_param
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

    @staticmethod
    def _headers(connection_id: str, ip: str) -> dict[str, str]:
        return {
            "Host": HOST,
            "X-Amzn-Apigateway-Api-Id": API_ID,
            "X-Ws-Gateway-Secret": SECRET,
            "Connectionid": connection_id,
            "X-Forwarded-For": ip,
            "X-Forwarded-Proto": "https",
            "X-Forwarded-Port": "443",
            "X-Real-Ip": ip,
            "X-Amzn-Trace-Id": f"Root=1-{secrets.token_hex(4)}-{secrets.token_hex(12)}",
            "User-Agent": f"AmazonAPIGateway_{API_ID}",
        }

    def connect(self, connection_id: str, token: str, session_key: str, ip: str, channel: str) -> Any:
        from django.conf import settings

        headers = {
            **self._headers(connection_id, ip),
            "Origin": ORIGIN,
            "Cookie": f"{settings.SESSION_COOKIE_NAME}={session_key}",
            "Sec-Websocket-Key": base64.b64encode(secrets.token_bytes(16)).decode(),
            "Sec-Websocket-Version": "13",
            "Sec-Websocket-Extensions": "permessage-deflate; client_max_window_bits",
        }
        return self.call("/ws/connect", f"{self.token_param}={token}&channel={channel}", b"", headers)

    def message(self, connection_id: str, ip: str, body: dict[str, Any]) -> Any:
        headers = {**self._headers(connection_id, ip), "Content-Type": "application/json"}
        return self.call("/ws/default", "", json.dumps(body).encode(), headers)

    def disconnect(self, connection_id: str, ip: str) -> Any:
        return self.call("/ws/disconnect", "", b"", self._headers(connection_id, ip))


class BatchRunner:
    """Runs batches of every kind of event through one side's view, recording each one."""

    def __init__(
        self,
        gateway: WsgiGateway,
        browsers: Sequence[Browser],
        issue_tokens: Callable[[Sequence[Browser]], list[str]],
        refused_status: int,
    ) -> None:
        self.gateway = gateway
        self.browsers = browsers
        self.issue_tokens = issue_tokens
        self.refused_status = refused_status
        self.counter = QueryCounter()

    def timed(
        self, out: dict[str, list[Sample]], name: str, expected: int, call: Callable[..., Any], *args: Any
    ) -> None:
        before = self.counter.rows
        cpu0, t0 = time.process_time_ns(), time.perf_counter_ns()
        status, content = call(*args)
        elapsed, cpu = time.perf_counter_ns() - t0, time.process_time_ns() - cpu0
        if status != expected:
            raise BenchmarkError(f"{name}: HTTP {status} (expected {expected}): {content[:300]!r}")
        out.setdefault(name, []).append((elapsed / 1000, cpu / 1000, self.counter.rows - before))

    def batch(self, start: int, size: int) -> dict[str, list[Sample]]:
        """Events ``start`` … ``start + size - 1`` of every kind."""
        from django.db import connection

        g = self.gateway
        indexes = range(start, start + size)
        batch = [self.browsers[i % len(self.browsers)] for i in indexes]
        tokens = self.issue_tokens(batch)  # not timed: the page fetched them beforehand
        ids = [g.new_connection_id() for _ in indexes]
        ips = [client_ip(i) for i in indexes]
        out: dict[str, list[Sample]] = {}
        with connection.execute_wrapper(self.counter):
            for i, cid, ip, browser, token in zip(indexes, ids, ips, batch, tokens, strict=True):
                args = (cid, token, browser.session_key, ip, f"room-{i % 10}")
                self.timed(out, CONNECT, 200, g.connect, *args)
            for i, browser in zip(indexes, batch, strict=True):
                # A token nobody issued, from an address of its own (the refusals never add up
                # to a rate limit), on a connection id that never opens.
                bad = secrets.token_hex(32)
                args = (g.new_connection_id(), bad, browser.session_key, client_ip(0x10000 + i), "lobby")
                self.timed(out, REFUSED, self.refused_status, g.connect, *args)
            for cid, ip in zip(ids, ips, strict=True):
                self.timed(out, MESSAGE, 200, g.message, cid, ip, {"handler": "ping"})
            for i, cid, ip in zip(indexes, ids, ips, strict=True):
                body = {"handler": "change_channel", "channel": f"room-{(i + 1) % 10}"}
                self.timed(out, CHANGE_CHANNEL, 200, g.message, cid, ip, body)
            for cid, ip in zip(ids, ips, strict=True):
                self.timed(out, DISCONNECT, 200, g.disconnect, cid, ip)
        return out
