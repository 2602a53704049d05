"""The fast ``@connections`` client used by fan-out (management API, SigV4 service ``execute-api``).

boto3 spends about a millisecond of CPU per ``post_to_connection`` (request serialisation, a full
SigV4 derivation, urllib3, response parsing) and blocks a thread per request in flight. A
broadcast sends the same body to thousands of connection ids on one endpoint, so this client:

- speaks HTTP/1.1 itself over non-blocking sockets with its own ``epoll`` loop per batch (no
  asyncio future, task or timer per request; TLS through the ``ssl`` module's socket, in C): a
  small pool of keep-alive connections per endpoint, one request in flight per connection (no
  pipelining), ``concurrency`` connections at once, the next request written as soon as a
  connection has read its answer;
- signs with :class:`wsgateway.aws.sigv4.Signer` (signing key per day, payload hash per message);
- parses answers with :mod:`wsgateway.aws.http_answer` (strict, bounded CPU, interim 1xx
  skipped) under one hard deadline per request;
- returns raw answers (status + ``x-amzn-ErrorType``) that callers turn into our exceptions with
  :func:`wsgateway.aws.errors.error_from_status`; a request that got no answer (refused, reset,
  timed out) has status 0.

Pools live with a per-thread event loop kept for the life of the process (:func:`get_engine`; the
loop runs :meth:`ConnectionsClient.call_many` and awaits the account limiter), so a Celery worker
child reuses its connections from one chunk task to the next.
"""

from __future__ import annotations

import asyncio
import collections
import contextlib
import errno
import os
import re
import select
import socket
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


# What a connection waits for (the events it is registered for).
_IN = select.POLLIN
_OUT = select.POLLOUT
# Connection states.
_CONNECTING, _HANDSHAKE, _SENDING, _WAITING, _IDLE = range(5)


class _Conn:
    """One HTTP/1.1 connection (a non-blocking socket, TLS or not) and the request it carries."""

    __slots__ = ("addresses", "fresh", "got_bytes", "index", "out", "parser", "sock", "state", "want")

    def __init__(self, sock: socket.socket, state: int, *, fresh: bool) -> None:
        self.sock = sock
        self.state = state
        self.fresh = fresh  # opened for the request it carries (a closed one is not retried)
        self.index = -1  # the request carried (its index in the batch), -1 when idle
        self.out = b""  # request bytes not written yet
        self.parser: AnswerParser | None = None
        self.want = 0  # events it is registered for (0: not registered)
        self.got_bytes = False
        self.addresses: list[Any] = []  # addresses not tried yet (while connecting)

    def close(self) -> None:
        with contextlib.suppress(OSError):
            self.sock.close()


class _Poller:
    """``select.epoll`` (Linux) or ``select.poll``: one registration per connection, changed
    only when what it waits for changes (a connection carrying request after request stays
    registered for reading: no system call per request)."""

    def __init__(self) -> None:
        self._epoll = getattr(select, "epoll", None)
        self._p: Any = self._epoll() if self._epoll is not None else select.poll()
        self.conns: dict[int, _Conn] = {}

    def set(self, conn: _Conn, want: int) -> None:
        if want == conn.want:
            return
        fd = conn.sock.fileno()
        if conn.want:
            self._p.modify(fd, want)
        else:
            self._p.register(fd, want)
            self.conns[fd] = conn
        conn.want = want

    def drop(self, conn: _Conn) -> None:
        if conn.want:
            fd = conn.sock.fileno()
            with contextlib.suppress(OSError, KeyError, ValueError):
                self._p.unregister(fd)
            self.conns.pop(fd, None)
            conn.want = 0

    def poll(self, timeout: float) -> list[tuple[int, int]]:
        if self._epoll is not None:
            return self._p.poll(timeout)
        return self._p.poll(timeout * 1000)

    def close(self) -> None:
        if self._epoll is not None:
            self._p.close()


def _readable_now(conns: Sequence[_Conn]) -> set[int]:
    """The file descriptors of ``conns`` with something to read (bytes, or the peer's close)."""
    if not conns:
        return set()
    poller = select.poll()
    for conn in conns:
        poller.register(conn.sock.fileno(), _IN)
    return {fd for fd, _ in poller.poll(0)}


TokenSource = Callable[[int], Awaitable[None]]

#: When a wait returned fewer than COALESCE_EVENTS events while COALESCE_IN_FLIGHT or more
#: requests are in flight, the next wait starts COALESCE_SECONDS later: the answers arriving
#: meanwhile are read in one round instead of a system call and a loop turn each (a server
#: slower than this loop otherwise wakes it for every answer). Costs an answer at most that
#: long before it is read (the next request on its connection as long); measured through the
#: Celery worker, 10,000 recipients: 32-41 instead of 45-58 us of chunk-task CPU per message.
COALESCE_EVENTS = 4
COALESCE_IN_FLIGHT = 16
COALESCE_SECONDS = 0.0005


class ConnectionsClient:
    """Keep-alive connections to one management endpoint; sends many requests concurrently.

    A batch (:meth:`call_many`) runs its own loop over non-blocking sockets (``epoll``), not
    asyncio's: a request is written by the loop as soon as its connection has read the previous
    answer, with no coroutine, future or timer per request, and TLS is the ``ssl`` module's own
    socket (C), not asyncio's TLS protocol written in Python. One request in flight per
    connection (no pipelining); idle connections are kept between batches.
    """

    def __init__(self, endpoint: Endpoint, *, ssl_context: ssl.SSLContext | None = None) -> None:
        self.endpoint = endpoint
        self._idle: list[_Conn] = []
        self._ssl = ssl_context if endpoint.scheme == "https" else None
        if endpoint.scheme == "https" and self._ssl is None:
            # AWS_CA_BUNDLE is boto3's own setting: both clients trust the same certificates.
            self._ssl = tls_context()
        # The Host's name without its port; an IPv6 literal without its brackets ("[::1]:443").
        self._server_hostname = urlsplit(f"//{endpoint.host}").hostname or endpoint.host

    def _addresses(self) -> list[Any]:
        ep = self.endpoint
        return [
            (family, sockaddr)
            for family, _, _, _, sockaddr in socket.getaddrinfo(
                ep.connect_host, ep.connect_port, type=socket.SOCK_STREAM
            )
        ]

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
        ``timeout`` bounds each request's whole exchange (the connect, every connection tried,
        the answer), however the server dribbles its bytes.
        """
        batch = _Batch(self, method, connection_ids, signer, body, concurrency, timeout)
        try:
            while True:
                want = batch.tokens_wanted(token_batch) if acquire is not None else 0
                if want and acquire is not None:
                    await acquire(want)
                    batch.allowance += want
                if not batch.step(acquire is None):
                    return batch.answers
        finally:
            batch.finish()

    def close(self) -> None:
        """Close every idle connection."""
        while self._idle:
            self._idle.pop().close()


class _Batch:
    """The requests of one :meth:`ConnectionsClient.call_many` and the loop that runs them."""

    def __init__(
        self,
        client: ConnectionsClient,
        method: str,
        connection_ids: Sequence[str],
        signer: Signer,
        body: bytes,
        concurrency: int,
        timeout: float,
    ) -> None:
        self.client = client
        self.method = method
        self.ids = connection_ids
        self.signer = signer
        self.body = body
        self.body_hash = payload_hash(body) if body else EMPTY_SHA256
        host = client.endpoint.host
        self.head_tail = (
            f"Host: {host}\r\nContent-Type: application/json\r\nContent-Length: {len(body)}\r\n"
            if body or method == "POST"
            else f"Host: {host}\r\nContent-Length: 0\r\n"
        )
        self.request_paths = client.endpoint.request_paths
        self.clock = _Clock()
        self.timeout = timeout
        self.slots = max(1, min(concurrency, len(connection_ids)))
        self.answers: list[Answer] = [Answer(NO_ANSWER)] * len(connection_ids)
        self.next_index = 0
        self.allowance = 0
        self.inflight: dict[int, _Conn] = {}  # request index -> its connection
        self.deadlines: collections.deque[tuple[float, int]] = collections.deque()
        self.poller = _Poller()
        self.sparse = False  # the last wait returned few events
        self.free: list[_Conn] = []  # connections ready for a request (kept-alive, checked)
        self._addresses: list[Any] | None = None
        idle, client._idle = client._idle, []
        # A kept-alive connection with something to read before we wrote anything was closed
        # by the server (or sent bytes nobody asked for): never reused.
        stale = _readable_now(idle)
        for conn in idle:
            if conn.sock.fileno() in stale:
                conn.close()
            else:
                self.free.append(conn)

    # --- requests

    def tokens_wanted(self, token_batch: int) -> int:
        """Tokens to buy before the next step: none while some are left or nothing can start."""
        if self.allowance > 0 or self.next_index >= len(self.ids) or len(self.inflight) >= self.slots:
            return 0
        return max(1, min(token_batch, len(self.ids) - self.next_index))

    def _request(self, index: int) -> bytes:
        method = self.method
        path, canonical = self.request_paths(self.ids[index])
        signed = self.signer.header_lines(method, path, self.body_hash, self.clock.now(), canonical=canonical)
        return f"{method} {path} HTTP/1.1\r\n{self.head_tail}{signed}\r\n".encode() + self.body

    def _start_requests(self, unlimited: bool) -> None:
        """Start requests while a slot and a token are free."""
        ids = len(self.ids)
        while self.next_index < ids and len(self.inflight) < self.slots and (unlimited or self.allowance > 0):
            index = self.next_index
            self.next_index += 1
            self.allowance -= 1
            self.deadlines.append((time.monotonic() + self.timeout, index))
            conn = self.free.pop() if self.free else None
            if conn is None:
                self._open(index)
            else:
                self._send(conn, index)

    def _open(self, index: int) -> None:
        """A new connection for request ``index`` (connect, then TLS, then the request)."""
        try:
            if self._addresses is None:
                self._addresses = self.client._addresses()
            addresses = list(self._addresses)
        except (OSError, UnicodeError) as err:  # UnicodeError: a name IDNA cannot encode
            self._fail(index, err)
            return
        self._connect(addresses, index, None)

    def _connect(self, addresses: list[Any], index: int, last: OSError | None) -> None:
        while addresses:
            family, sockaddr = addresses.pop(0)
            try:
                sock = socket.socket(family, socket.SOCK_STREAM)
            except OSError as refused:  # out of file descriptors (EMFILE), no such family...
                last = refused
                continue
            sock.setblocking(False)
            with contextlib.suppress(OSError):
                sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            err = sock.connect_ex(sockaddr)
            if err in (0, errno.EINPROGRESS, errno.EWOULDBLOCK):
                conn = _Conn(sock, _CONNECTING, fresh=True)
                conn.index = index
                conn.addresses = addresses
                self.inflight[index] = conn
                self.poller.set(conn, _OUT)
                return
            sock.close()
            last = OSError(err, f"Connect call failed {sockaddr}")
        self._fail(index, last or OSError("no address to connect to"))

    def _send(self, conn: _Conn, index: int) -> None:
        conn.index = index
        conn.parser = AnswerParser()
        conn.got_bytes = False
        conn.state = _SENDING
        conn.out = self._request(index)
        self.inflight[index] = conn
        self._write(conn)

    def _write(self, conn: _Conn) -> None:
        try:
            written = conn.sock.send(conn.out)
        except (BlockingIOError, ssl.SSLWantWriteError):
            written = 0
        except ssl.SSLWantReadError:
            self.poller.set(conn, _IN)
            return
        except OSError as err:
            # The server may have answered before it stopped reading (a 413 for a large body,
            # then a close): that answer is the request's, not a lost connection.
            if not self._early_answer(conn):
                self._lost(conn, err, written=False)
            return
        if written < len(conn.out):
            conn.out = conn.out[written:]
            self.poller.set(conn, _OUT)
            return
        conn.out = b""
        conn.state = _WAITING
        self.poller.set(conn, _IN)

    # --- events

    def step(self, unlimited: bool) -> bool:
        """Start what can start, wait for the next events, handle them; False once every request
        has its answer."""
        self._start_requests(unlimited)
        if not self.inflight:
            return self.next_index < len(self.ids)  # only tokens are missing
        now = time.monotonic()
        if self.deadlines and self.deadlines[0][0] <= now:
            # Nothing was read while call_many awaited tokens: an answer that came meanwhile is
            # its request's answer, not a timeout (which delivery would send again).
            self._handle(self.poller.poll(0))
            if not self.inflight:
                return True
        self._expire(now)
        if not self.inflight:
            return True
        wait = max(0.0, self.deadlines[0][0] - now)
        if self.sparse and len(self.inflight) >= COALESCE_IN_FLIGHT and wait > COALESCE_SECONDS:
            time.sleep(COALESCE_SECONDS)
        events = self.poller.poll(wait)
        self.sparse = len(events) < COALESCE_EVENTS
        self._handle(events)
        return True

    def _handle(self, events: list[tuple[int, int]]) -> None:
        """Handle one round of poller events."""
        conns = self.poller.conns
        # The connections first: handling one event may close a socket and open another on the
        # same file descriptor, which a later event of this round must not reach.
        for conn in [conns.get(fd) for fd, _ in events]:
            if conn is None or not conn.want:  # dropped meanwhile
                continue
            state = conn.state
            if state == _WAITING:
                self._read(conn)
            elif state == _SENDING:
                self._write(conn)
            elif state == _HANDSHAKE:
                self._handshake(conn)
            elif state == _CONNECTING:
                self._connected(conn)
            else:  # a free connection with something to read: closed by the server, or junk
                self._drop(conn)
                self.free.remove(conn)

    def _expire(self, now: float) -> None:
        """Requests past their deadline get no answer ("TimeoutError"), their connection closed."""
        deadlines = self.deadlines
        while deadlines:
            deadline, index = deadlines[0]
            conn = self.inflight.get(index)
            if conn is None:  # answered (or failed) already
                deadlines.popleft()
                continue
            if deadline > now:
                return
            deadlines.popleft()
            self._fail(index, TimeoutError(), conn)

    def _connected(self, conn: _Conn) -> None:
        code = conn.sock.getsockopt(socket.SOL_SOCKET, socket.SO_ERROR)
        if code:
            self._drop(conn)
            self.inflight.pop(conn.index, None)
            self._connect(conn.addresses, conn.index, OSError(code, os.strerror(code)))
            return
        conn.addresses = []
        context = self.client._ssl
        if context is None:
            self._send(conn, conn.index)
            return
        self.poller.drop(conn)  # the TLS socket takes the file descriptor over
        try:
            conn.sock = context.wrap_socket(
                conn.sock, server_hostname=self.client._server_hostname, do_handshake_on_connect=False
            )
        except OSError as err:
            self._fail(conn.index, err, conn)
            return
        conn.state = _HANDSHAKE
        self._handshake(conn)

    def _handshake(self, conn: _Conn) -> None:
        try:
            conn.sock.do_handshake()  # type: ignore[attr-defined]
        except ssl.SSLWantReadError:
            self.poller.set(conn, _IN)
            return
        except ssl.SSLWantWriteError:
            self.poller.set(conn, _OUT)
            return
        except OSError as err:  # certificate refused, reset, ...
            self._fail(conn.index, err, conn)
            return
        self._send(conn, conn.index)

    def _read(self, conn: _Conn) -> None:
        sock = conn.sock
        try:
            data = sock.recv(65536)
        except (BlockingIOError, ssl.SSLWantReadError):
            return
        except ssl.SSLWantWriteError:
            self.poller.set(conn, _OUT)
            conn.state = _SENDING  # the TLS layer writes first; the answer is read after
            return
        except OSError as err:
            self._lost(conn, err)
            return
        if not data:
            self._lost(conn, None)
            return
        conn.got_bytes = True
        parser = conn.parser
        assert parser is not None
        try:
            raw = parser.feed(data)
            while raw is None and isinstance(sock, ssl.SSLSocket) and sock.pending():
                raw = parser.feed(sock.recv(65536))
        except MalformedAnswer as err:
            self._fail(conn.index, MalformedAnswer(f"malformed HTTP answer: {err}"), conn)
            return
        except (ssl.SSLWantReadError, BlockingIOError):
            return
        except OSError as err:
            self._lost(conn, err)
            return
        if raw is None:
            return
        index = conn.index
        self.answers[index] = self._answer(raw)
        del self.inflight[index]
        conn.index = -1
        conn.parser = None
        if not raw.reusable:
            self._drop(conn)
            return
        conn.fresh = False
        conn.state = _IDLE
        self.free.append(conn)

    def _early_answer(self, conn: _Conn) -> bool:
        """Read what the server answered while the request was still being written; True when
        that is a whole answer (recorded; the connection is dropped, its state unknown)."""
        parser = conn.parser
        raw = None
        try:
            while raw is None and parser is not None:
                data = conn.sock.recv(65536)
                if not data:
                    break
                conn.got_bytes = True
                raw = parser.feed(data)
        except (OSError, MalformedAnswer):
            pass
        if raw is None:
            return False
        index = conn.index
        self.answers[index] = self._answer(raw)
        del self.inflight[index]
        self._drop(conn)
        return True

    @staticmethod
    def _answer(raw: RawAnswer) -> Answer:
        if raw.status < 300:
            return _OK if raw.status == 200 else Answer(raw.status)
        detail = raw.body[:200].decode("utf-8", "replace")
        return Answer(raw.status, raw.headers.get("x-amzn-errortype"), detail)

    def _lost(self, conn: _Conn, err: OSError | None, *, written: bool = True) -> None:
        """The connection closed (or broke) while carrying a request.

        A kept-alive connection is retried once, on a new connection, only when the server
        cannot have processed the request: it reset the connection (a close with our bytes
        unread, or of a connection already closed when they came) before any answer byte, or
        the request could not be written whole. A clean close after the whole request was
        written may follow its processing (a server that crashed, a proxy): no answer then,
        never a second delivery from here.
        """
        index = conn.index
        reset = not written or isinstance(err, (ConnectionResetError, BrokenPipeError))
        if err is None and not conn.got_bytes:
            with contextlib.suppress(OSError):
                code = conn.sock.getsockopt(socket.SOL_SOCKET, socket.SO_ERROR)
                reset = code in (errno.ECONNRESET, errno.EPIPE)
        self._drop(conn)
        if not conn.got_bytes and not conn.fresh and reset:
            # A kept-alive connection the server had closed before our request reached it
            # (while idle, or just after its last answer): send once more on a new connection,
            # not on another idle one, likely just as stale.
            del self.inflight[index]
            self._open(index)
            return
        if err is None:
            err = ConnectionResetError(
                "connection closed mid-answer" if conn.got_bytes else "connection closed before the answer"
            )
        self._fail(index, err)

    def _fail(self, index: int, err: BaseException, conn: _Conn | None = None) -> None:
        """Request ``index`` gets no answer (``err`` in its detail)."""
        if conn is not None:
            self._drop(conn)
        self.inflight.pop(index, None)
        self.answers[index] = Answer(NO_ANSWER, None, f"{type(err).__name__}: {err}")

    def _drop(self, conn: _Conn) -> None:
        self.poller.drop(conn)
        conn.close()

    def finish(self) -> None:
        """Keep the free connections for the next batch; close what still carries a request
        (left behind by an exception: its state is unknown)."""
        for conn in self.inflight.values():
            self._drop(conn)
        self.inflight.clear()
        for conn in self.free:
            self.poller.drop(conn)
            conn.state = _IDLE
        self.client._idle.extend(self.free)
        self.free = []
        self.poller.close()


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
