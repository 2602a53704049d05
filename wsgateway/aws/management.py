"""The fast ``@connections`` client used by fan-out (management API, SigV4 service ``execute-api``).

boto3 spends about a millisecond of CPU per ``post_to_connection`` (request serialisation, a full
SigV4 derivation, urllib3, response parsing) and blocks a thread per request in flight. A
broadcast sends the same body to thousands of connection ids on one endpoint, so this client:

- speaks HTTP/1.1 itself over ``asyncio`` protocols: a small pool of keep-alive connections per
  endpoint, one request in flight per connection, ``concurrency`` connections at once;
- signs with :class:`wsgateway.aws.sigv4.Signer` (signing key per day, payload hash per message);
- parses answers with :mod:`wsgateway.aws.http_answer` (strict, bounded CPU, interim 1xx
  skipped) under one hard deadline per request;
- returns raw answers (status + ``x-amzn-ErrorType``) that callers turn into our exceptions with
  :func:`wsgateway.aws.errors.error_from_status`; a request that got no answer (refused, reset,
  timed out) has status 0.

Pools live on a per-thread event loop kept for the life of the process (:func:`get_engine`), so a
Celery worker child reuses its connections from one chunk task to the next.
"""

from __future__ import annotations

import asyncio
import os
import re
import ssl
import threading
import time
from collections.abc import Awaitable, Callable, Coroutine, Sequence
from dataclasses import dataclass
from functools import cached_property
from typing import Any, TypeVar
from urllib.parse import quote, urlsplit

from wsgateway.aws.clients import _credentials, get_region_name, tls_context
from wsgateway.aws.http_answer import AnswerParser, MalformedAnswer, RawAnswer
from wsgateway.aws.sigv4 import EMPTY_SHA256, Credentials, Signer, amz_date, canonical_path, payload_hash
from wsgateway.conf import wsgateway_settings

T = TypeVar("T")

#: ``status`` of an answer that never came (connection refused / reset / timed out).
NO_ANSWER = 0

# Connection ids are URL-encoded as a path segment: AWS ids are base64 (``=``, ``+``, ``/``).
_SAFE_ID = "-_.~"
# The usual id (unreserved characters and base64's three) is encoded by one translate instead of
# urllib's quote (a quarter of the client's CPU per request); anything else goes through quote.
_PLAIN_ID = re.compile(r"[A-Za-z0-9_.~=+/-]+")
_BASE64_ESCAPES = str.maketrans({"=": "%3D", "+": "%2B", "/": "%2F"})


@dataclass(frozen=True, slots=True)
class Answer:
    """What ``@connections`` answered: HTTP status (0 = no answer) and ``x-amzn-ErrorType``."""

    status: int
    error_type: str | None = None
    detail: str = ""


@dataclass(frozen=True)
class Endpoint:
    """Where to send: the origin actually connected to, the Host (and SigV4 host), the path prefix."""

    scheme: str
    connect_host: str
    connect_port: int
    host: str
    base_path: str

    @classmethod
    def from_url(cls, management_url: str) -> Endpoint:
        """Parse a management endpoint URL, applying ``MANAGEMENT_ENDPOINT_OVERRIDES``.

        An override maps a custom-domain host onto the base URL actually connected to; the Host
        header and the signature keep the domain (the emulator routes by Host, like AWS).
        """
        parts = urlsplit(management_url)
        if parts.scheme not in ("http", "https") or not parts.hostname:
            raise ValueError(f"Not an http(s) management endpoint: {management_url!r}")
        host = parts.netloc
        override = wsgateway_settings.MANAGEMENT_ENDPOINT_OVERRIDES.get(parts.hostname)
        target = urlsplit(override) if override else parts
        if not target.hostname:
            raise ValueError(f"Not an http(s) URL in MANAGEMENT_ENDPOINT_OVERRIDES: {override!r}")
        scheme = target.scheme
        port = target.port or (443 if scheme == "https" else 80)
        return cls(scheme, target.hostname or "", port, host, parts.path.rstrip("/"))

    def path(self, connection_id: str) -> str:
        """The URL-encoded request path of ``@connections/{connection_id}``."""
        return f"{self.base_path}/@connections/{_encode_id(connection_id)}"

    @cached_property
    def _canonical_prefix(self) -> str:
        # canonical_path of the path up to the id: a plain last segment ("x") is kept as it is.
        return canonical_path(self.path("x"))[:-1]

    def request_paths(self, connection_id: str) -> tuple[str, str]:
        """``(path(connection_id), canonical_path(path(connection_id)))``, the canonical form
        built from a prefix computed once per endpoint."""
        encoded = _encode_id(connection_id)
        path = f"{self.base_path}/@connections/{encoded}"
        if encoded in (".", ".."):  # a segment canonical_path would drop or pop
            return path, canonical_path(path)
        # The encoded id holds only unreserved characters and %XX: encoding it once more (what
        # canonical_path does to every segment) only turns "%" into "%25".
        return path, self._canonical_prefix + encoded.replace("%", "%25")


def _encode_id(connection_id: str) -> str:
    """``quote(connection_id, safe="-_.~")``, without urllib for the usual id."""
    if _PLAIN_ID.fullmatch(connection_id):
        return connection_id.translate(_BASE64_ESCAPES)
    return quote(connection_id, safe=_SAFE_ID)


class _Closed(Exception):
    """The server closed a keep-alive connection before answering (safe to retry on a new one)."""


class _HttpProtocol(asyncio.Protocol):
    """One HTTP/1.1 connection: write a request, feed the answer to an :class:`AnswerParser`."""

    def __init__(self) -> None:
        self.transport: asyncio.Transport | None = None
        self.closed = False
        self._parser = AnswerParser()
        self._waiter: asyncio.Future[RawAnswer] | None = None
        self._got_bytes = False

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport  # type: ignore[assignment]

    def connection_lost(self, exc: Exception | None) -> None:
        self.closed = True
        waiter = self._waiter
        if waiter is not None and not waiter.done():
            if not self._got_bytes:
                waiter.set_exception(_Closed())
            else:
                waiter.set_exception(ConnectionResetError("connection closed mid-answer"))
        self._waiter = None

    def data_received(self, data: bytes) -> None:
        self._got_bytes = True
        waiter = self._waiter
        if waiter is None or waiter.done():
            # Bytes nobody asked for: the connection's state is unknown, never reuse it.
            self.close()
            return
        try:
            answer = self._parser.feed(data)
        except MalformedAnswer as err:
            self._waiter = None
            waiter.set_exception(MalformedAnswer(f"malformed HTTP answer: {err}"))
            self.close()
            return
        if answer is not None:
            self._waiter = None
            waiter.set_result(answer)

    def request(self, data: bytes) -> asyncio.Future[RawAnswer]:
        assert self.transport is not None
        waiter: asyncio.Future[RawAnswer] = asyncio.get_running_loop().create_future()
        self._waiter = waiter
        self._got_bytes = False
        self._parser = AnswerParser()
        self.transport.write(data)
        return waiter

    def close(self) -> None:
        if self.transport is not None and not self.closed:
            self.transport.close()
        self.closed = True


TokenSource = Callable[[int], Awaitable[None]]


class ConnectionsClient:
    """Keep-alive connections to one management endpoint; sends many requests concurrently."""

    def __init__(self, endpoint: Endpoint, *, ssl_context: ssl.SSLContext | None = None) -> None:
        self.endpoint = endpoint
        self._idle: list[_HttpProtocol] = []
        self._ssl = ssl_context if endpoint.scheme == "https" else None
        if endpoint.scheme == "https" and self._ssl is None:
            # AWS_CA_BUNDLE is boto3's own setting: both clients trust the same certificates.
            self._ssl = tls_context()

    async def _open(self) -> _HttpProtocol:
        loop = asyncio.get_running_loop()
        ep = self.endpoint
        _, protocol = await loop.create_connection(
            _HttpProtocol,
            ep.connect_host,
            ep.connect_port,
            ssl=self._ssl,
            server_hostname=ep.host.split(":")[0] if self._ssl else None,
        )
        return protocol

    async def _exchange(self, data: bytes, timeout: float) -> RawAnswer:
        """Send ``data`` and return the answer; ``timeout`` bounds the whole exchange (every
        connection tried, the connect, the answer), however the server dribbles its bytes."""
        async with asyncio.timeout(timeout):
            # A kept-alive connection may have been closed by the server while idle (or just
            # after its last answer): when it closes before any byte of the answer, send once
            # more on a new connection rather than on another idle one, likely just as stale.
            while self._idle:
                protocol = self._idle.pop()
                if protocol.closed:
                    continue
                try:
                    return await self._on(protocol, data)
                except _Closed:
                    break
            protocol = await self._open()
            try:
                return await self._on(protocol, data)
            except _Closed:
                raise ConnectionResetError("connection closed before the answer") from None

    async def _on(self, protocol: _HttpProtocol, data: bytes) -> RawAnswer:
        try:
            answer = await protocol.request(data)
        except BaseException:
            protocol.close()
            raise
        if answer.reusable:
            self._idle.append(protocol)
        else:
            protocol.close()
        return answer

    async def call_many(
        self,
        method: str,
        connection_ids: Sequence[str],
        signer: Signer,
        body: bytes = b"",
        *,
        concurrency: int,
        timeout: float,
        acquire: TokenSource | None = None,
        token_batch: int = 50,
    ) -> list[Answer]:
        """``method`` ``@connections/{id}`` for every id; answers in the order of the ids.

        At most ``concurrency`` requests are in flight. ``acquire(n)`` (the account-wide limiter)
        is awaited for tokens in batches of ``token_batch`` before the requests they pay for.
        """
        answers: list[Answer] = [Answer(NO_ANSWER)] * len(connection_ids)
        host = self.endpoint.host
        body_hash = payload_hash(body) if body else EMPTY_SHA256
        head_tail = (
            f"Host: {host}\r\nContent-Type: application/json\r\nContent-Length: {len(body)}\r\n"
            if body or method == "POST"
            else f"Host: {host}\r\nContent-Length: 0\r\n"
        )
        request_paths = self.endpoint.request_paths
        next_index = 0
        allowance = 0
        lock = asyncio.Lock()
        clock = _Clock()

        async def take_token() -> None:
            nonlocal allowance
            if acquire is None:
                return
            if allowance > 0:  # tokens left from the last batch: no lock, no await (one loop)
                allowance -= 1
                return
            async with lock:
                if allowance == 0:
                    remaining = len(connection_ids) - next_index + 1
                    want = max(1, min(token_batch, remaining))
                    await acquire(want)
                    allowance = want
                allowance -= 1

        async def worker() -> None:
            nonlocal next_index
            while next_index < len(connection_ids):
                index = next_index
                next_index += 1
                await take_token()
                path, canonical = request_paths(connection_ids[index])
                signed = signer.header_lines(method, path, body_hash, clock.now(), canonical=canonical)
                data = f"{method} {path} HTTP/1.1\r\n{head_tail}{signed}\r\n".encode() + body
                try:
                    raw = await self._exchange(data, timeout)
                except (OSError, TimeoutError, MalformedAnswer) as err:
                    answers[index] = Answer(NO_ANSWER, None, f"{type(err).__name__}: {err}")
                    continue
                if raw.status < 300:
                    answers[index] = _OK if raw.status == 200 else Answer(raw.status)
                else:
                    detail = raw.body[:200].decode("utf-8", "replace")
                    answers[index] = Answer(raw.status, raw.headers.get("x-amzn-errortype"), detail)

        workers = max(1, min(concurrency, len(connection_ids)))
        await asyncio.gather(*(worker() for _ in range(workers)))
        return answers

    def close(self) -> None:
        """Close every idle connection."""
        while self._idle:
            self._idle.pop().close()


_OK = Answer(200)


class _Clock:
    """``X-Amz-Date`` value, recomputed at most once per second."""

    __slots__ = ("_second", "_value")

    def __init__(self) -> None:
        self._second = -1
        self._value = ""

    def now(self) -> str:
        second = int(time.time())
        if second != self._second:
            self._second = second
            self._value = amz_date(second)
        return self._value


# --- credentials -------------------------------------------------------------------------------

_cred_lock = threading.Lock()
_cred_state: dict[str, Any] = {}


def get_credentials() -> Credentials:
    """Frozen credentials from the same settings as ``get_boto3_client``.

    Profile, key pair or boto3's default chain, through a boto3 session cached per process;
    temporary credentials are refreshed by botocore when they near expiry.
    """
    settings_key = tuple(sorted(_credentials().items()))
    with _cred_lock:
        if _cred_state.get("pid") != os.getpid() or _cred_state.get("key") != settings_key:
            import boto3.session  # imported lazily: only workers sign requests

            session = boto3.session.Session(**dict(settings_key))
            _cred_state.update(pid=os.getpid(), key=settings_key, creds=session.get_credentials())
        creds = _cred_state["creds"]
    if creds is None:
        from django.core.exceptions import ImproperlyConfigured

        raise ImproperlyConfigured(
            "No AWS credentials for the management API: set AWS_IAM_PROFILE or "
            "AWS_ACCESS_KEY_ID/AWS_SECRET_ACCESS_KEY, or provide them to boto3's default chain."
        )
    frozen = creds.get_frozen_credentials()
    return Credentials(frozen.access_key, frozen.secret_key, frozen.token or None)


def signer_for(endpoint: Endpoint) -> Signer:
    """A signer for ``endpoint`` with the current credentials and region."""
    return Signer(get_credentials(), get_region_name(), endpoint.host)


# --- per-thread engine -------------------------------------------------------------------------


class Engine:
    """A long-lived event loop plus connection pools, one per process and thread."""

    def __init__(self) -> None:
        self.loop = asyncio.new_event_loop()
        self.clients: dict[Endpoint, ConnectionsClient] = {}

    def client(self, endpoint: Endpoint) -> ConnectionsClient:
        """The pooled client of ``endpoint``."""
        client = self.clients.get(endpoint)
        if client is None:
            client = self.clients[endpoint] = ConnectionsClient(endpoint)
        return client

    def run(self, coro: Coroutine[Any, Any, T]) -> T:
        """Run ``coro`` to completion on this engine's loop."""
        return self.loop.run_until_complete(coro)

    def close(self) -> None:
        """Close the pools and the loop."""
        for client in self.clients.values():
            client.close()
        self.clients.clear()
        self.loop.run_until_complete(asyncio.sleep(0))
        self.loop.close()


_local = threading.local()


def get_engine() -> Engine:
    """This thread's engine (a forked child never reuses its parent's loop or sockets)."""
    engine: Engine | None = getattr(_local, "engine", None)
    if engine is None or getattr(_local, "pid", None) != os.getpid():
        engine = _local.engine = Engine()
        _local.pid = os.getpid()
    return engine


def close_engine() -> None:
    """Close this thread's engine (tests, shutdown)."""
    engine: Engine | None = getattr(_local, "engine", None)
    if engine is not None and getattr(_local, "pid", None) == os.getpid():
        engine.close()
    _local.engine = None
