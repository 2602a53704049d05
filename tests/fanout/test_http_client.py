"""The @connections HTTP/1.1 client against small local servers that behave in the ways a real
server may: closing idle keep-alive connections, chunked answers, answering too slowly."""

from __future__ import annotations

import asyncio
import contextlib
import errno
import socket
import ssl
import threading
import time
from collections.abc import Iterator

import pytest

from tests.waiting import wait_until
from wsgateway.aws.management import NO_ANSWER, ConnectionsClient, Endpoint, close_engine, get_engine
from wsgateway.aws.sigv4 import Credentials, Signer

pytestmark = pytest.mark.timeout(30)


def serve(handler, connections: int = 50) -> Iterator[int]:
    server = socket.socket()
    server.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    server.bind(("127.0.0.1", 0))
    server.listen(64)
    server.settimeout(0.2)
    stop = threading.Event()

    def accept() -> None:
        while not stop.is_set():
            try:
                conn, _ = server.accept()
            except TimeoutError:
                continue
            threading.Thread(target=handler, args=(conn,), daemon=True).start()

    thread = threading.Thread(target=accept, daemon=True)
    thread.start()
    yield server.getsockname()[1]
    stop.set()
    thread.join(2)
    server.close()


def read_request(conn: socket.socket) -> bytes:
    data = b""
    while b"\r\n\r\n" not in data:
        chunk = conn.recv(65536)
        if not chunk:
            return b""
        data += chunk
    head, _, body = data.partition(b"\r\n\r\n")
    length = next(
        (
            int(line.split(b":")[1])
            for line in head.split(b"\r\n")
            if line.lower().startswith(b"content-length")
        ),
        0,
    )
    while len(body) < length:
        body += conn.recv(65536)
    return head


class OneAnswerServer:
    """Answers one request per connection (keep-alive advertised), then closes it once the test
    sets ``close`` (the client has pooled the connection by then); counts closes."""

    def __init__(self) -> None:
        self.closed = 0
        self.close = threading.Event()
        self._lock = threading.Lock()

    def handler(self, conn: socket.socket) -> None:
        with conn:
            if read_request(conn):
                conn.sendall(b"HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n")
                self.close.wait(10)
        with self._lock:
            self.closed += 1


@pytest.fixture
def one_answer_per_connection() -> Iterator[tuple[int, OneAnswerServer]]:
    server = OneAnswerServer()
    for port in serve(server.handler):
        yield port, server


@pytest.fixture
def chunked_errors() -> Iterator[int]:
    """Answers every request 410 with a chunked JSON body, on a kept-alive connection."""

    def handler(conn: socket.socket) -> None:
        with conn:
            while read_request(conn):
                conn.sendall(
                    b"HTTP/1.1 410 Gone\r\nTransfer-Encoding: chunked\r\n"
                    b"x-amzn-ErrorType: GoneException\r\n\r\n"
                    b'5\r\n{"mes\r\n10\r\nsage": "gone!"} \r\n0\r\n\r\n'
                )

    yield from serve(handler)


@pytest.fixture
def silent() -> Iterator[int]:
    """Reads requests and never answers (holds the connection open until the test is over)."""
    over = threading.Event()

    def handler(conn: socket.socket) -> None:
        with conn:
            read_request(conn)
            over.wait(30)

    try:
        yield from serve(handler)
    finally:
        over.set()


def call(port: int, ids: list[str], *, timeout: float = 5.0, concurrency: int = 4):
    endpoint = Endpoint.from_url(f"http://127.0.0.1:{port}/api/stage")
    client = get_engine().client(endpoint)
    signer = Signer(Credentials("AKID", "secret"), "us-east-1", endpoint.host)
    return client, get_engine().run(
        client.call_many("POST", ids, signer, b"{}", concurrency=concurrency, timeout=timeout)
    )


@pytest.fixture(autouse=True)
def _fresh_engine() -> Iterator[None]:
    close_engine()
    yield
    close_engine()


def test_idle_connections_closed_by_the_server_are_replaced(one_answer_per_connection):
    port, server = one_answer_per_connection
    _, first = call(port, ["a", "b"], concurrency=2)
    server.close.set()  # both answers read: the connections sit idle in the client's pool
    wait_until(lambda: server.closed >= 2, 5, "the server closing both kept-alive connections")
    _, second = call(port, ["c", "d", "e"], concurrency=2)
    assert [a.status for a in first + second] == [200] * 5


def test_chunked_error_answers_are_parsed_on_a_kept_alive_connection(chunked_errors):
    _, answers = call(chunked_errors, ["a", "b", "c"], concurrency=1)
    assert [(a.status, a.error_type) for a in answers] == [(410, "GoneException")] * 3
    assert answers[0].detail == '{"message": "gone!"} '


def test_a_server_that_does_not_answer_times_out_as_no_answer(silent):
    start = time.monotonic()
    _, answers = call(silent, ["a", "b"], timeout=0.3)
    assert [a.status for a in answers] == [NO_ANSWER, NO_ANSWER]
    assert "TimeoutError" in answers[0].detail
    assert time.monotonic() - start < 2


def test_client_pools_are_per_endpoint():
    engine = get_engine()
    a = engine.client(Endpoint.from_url("http://127.0.0.1:1/x/y"))
    assert engine.client(Endpoint.from_url("http://127.0.0.1:1/x/y")) is a
    assert isinstance(a, ConnectionsClient)
    assert engine.client(Endpoint.from_url("http://127.0.0.1:1/x/z")) is not a


@pytest.fixture
def not_http() -> Iterator[int]:
    """Answers garbage and keeps the connection open until the test is over: a client that
    waited for the close instead of seeing the garbage would run into its timeout."""
    over = threading.Event()

    def handler(conn: socket.socket) -> None:
        with conn:
            read_request(conn)
            conn.sendall(b"SSH-2.0-OpenSSH\r\n\r\n")
            over.wait(30)

    try:
        yield from serve(handler)
    finally:
        over.set()


def test_a_malformed_answer_is_no_answer_at_once(not_http):
    start = time.monotonic()
    _, answers = call(not_http, ["a"], timeout=5)
    assert answers[0].status == NO_ANSWER and "malformed HTTP answer" in answers[0].detail
    assert time.monotonic() - start < 2


@pytest.fixture
def keep_alive() -> Iterator[int]:
    """Answers every request 200 on a kept-alive connection (reading bodies of any size)."""

    def handler(conn: socket.socket) -> None:
        with conn:
            while read_request(conn):
                conn.sendall(b"HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n")

    yield from serve(handler)


def test_requests_reuse_their_connections_without_a_future_or_a_registration_each(keep_alive, monkeypatch):
    """The batch loop writes each request when its connection has read the previous answer: no
    asyncio future (or task, or timer) per request, and a connection stays registered for
    reading from one request to the next (a system call per request would be a regression)."""
    import asyncio

    from wsgateway.aws import management

    registrations: list[int] = []
    real_set = management._Poller.set

    def counted_set(self, conn, want):  # type: ignore[no-untyped-def]
        if want != conn.want:
            registrations.append(want)
        real_set(self, conn, want)

    futures: list[int] = []
    real_future = asyncio.BaseEventLoop.create_future

    def counted_future(self):  # type: ignore[no-untyped-def]
        futures.append(1)
        return real_future(self)

    monkeypatch.setattr(management._Poller, "set", counted_set)
    monkeypatch.setattr(asyncio.BaseEventLoop, "create_future", counted_future)
    _, answers = call(keep_alive, [f"c{i}" for i in range(200)], concurrency=4)
    assert [a.status for a in answers] == [200] * 200
    # 4 connections: connect (write), then read; a partial write may add a pair.
    assert len(registrations) <= 4 * 4, registrations
    assert futures == []
    _, again = call(keep_alive, [f"d{i}" for i in range(200)], concurrency=4)
    assert [a.status for a in again] == [200] * 200


def test_a_body_larger_than_the_socket_buffer_is_written_in_parts(keep_alive):
    endpoint = Endpoint.from_url(f"http://127.0.0.1:{keep_alive}/api/stage")
    client = get_engine().client(endpoint)
    signer = Signer(Credentials("AKID", "secret"), "us-east-1", endpoint.host)
    body = b'{"x":"' + b"y" * (4 << 20) + b'"}'
    answers = get_engine().run(client.call_many("POST", ["a", "b"], signer, body, concurrency=2, timeout=10))
    assert [a.status for a in answers] == [200, 200]


def test_a_refused_connection_is_no_answer_at_once():
    probe = socket.socket()
    probe.bind(("127.0.0.1", 0))
    port = probe.getsockname()[1]
    probe.close()  # nothing listens there now
    start = time.monotonic()
    _, answers = call(port, ["a", "b"], timeout=5)
    assert [a.status for a in answers] == [NO_ANSWER, NO_ANSWER]
    assert "ConnectionRefusedError" in answers[0].detail
    assert time.monotonic() - start < 2


def test_answers_that_come_one_by_one_are_read_in_rounds_while_many_are_in_flight(keep_alive, monkeypatch):
    """A wait that returned few events is followed by a short pause before the next one, but only
    while many requests are in flight: answers then arrive in batches (fewer wake-ups per
    request), and a small batch is never delayed."""
    from wsgateway.aws import management

    real_poll = management._Poller.poll
    in_flight_at_pause: list[int] = []
    batches: list[management._Batch] = []
    real_init = management._Batch.__init__

    def init(self, *args, **kwargs):  # type: ignore[no-untyped-def]
        real_init(self, *args, **kwargs)
        batches.append(self)

    def one_event(self, timeout):  # type: ignore[no-untyped-def]
        return real_poll(self, timeout)[:1]  # level-triggered: the rest come with the next waits

    real_sleep = time.sleep

    def sleep(seconds: float) -> None:
        if seconds == management.COALESCE_SECONDS:
            in_flight_at_pause.append(len(batches[-1].inflight))
        real_sleep(seconds)

    monkeypatch.setattr(management._Batch, "__init__", init)
    monkeypatch.setattr(management._Poller, "poll", one_event)
    monkeypatch.setattr(management.time, "sleep", sleep)
    _, answers = call(keep_alive, [f"c{i}" for i in range(100)], concurrency=32)
    assert [a.status for a in answers] == [200] * 100
    assert len(in_flight_at_pause) >= 10
    assert min(in_flight_at_pause) >= management.COALESCE_IN_FLIGHT
    in_flight_at_pause.clear()
    _, answers = call(keep_alive, [f"d{i}" for i in range(40)], concurrency=8)
    assert [a.status for a in answers] == [200] * 40
    assert in_flight_at_pause == []  # 8 in flight: never paused


def test_a_chunk_buys_its_tokens_in_batches_of_200_never_more_than_the_burst(keep_alive, monkeypatch):
    from tests.fanout.conftest import wsgateway_overrides
    from wsgateway.fanout import delivery, limiter
    from wsgateway.fanout.planner import POST, make_chunk

    taken: list[int] = []

    async def atake(self, n: int, max_wait: float = 60.0) -> None:  # type: ignore[no-untyped-def]
        taken.append(n)

    monkeypatch.setattr(limiter.SharedTokenBucket, "atake", atake)
    ids = [f"c{i}" for i in range(450)]
    chunk = make_chunk(
        message_id="m",
        op=POST,
        body="{}",
        endpoint=f"http://127.0.0.1:{keep_alive}/api/stage",
        chunk="0",
        connections=[[i, 0.0] for i in ids],
    )
    assert [a.status for a in delivery.send(chunk, ids)] == [200] * 450
    assert taken == [200, 200, 50]  # 3 Redis round trips for 450 requests, not 9
    taken.clear()
    with wsgateway_overrides(ACCOUNT_BURST=30):  # a take larger than the burst could never succeed
        assert [a.status for a in delivery.send(chunk, ids[:100])] == [200] * 100
    assert taken == [30, 30, 30, 10]


@pytest.fixture
def answers_then_closes() -> Iterator[tuple[int, list[bytes]]]:
    """Answers the first request of each connection (keep-alive advertised) and closes it without
    reading anything more: a request written meanwhile is reset, never read."""
    seen: list[bytes] = []

    def handler(conn: socket.socket) -> None:
        with conn:
            head = read_request(conn)
            if head:
                seen.append(head.split(b"\r\n")[0])
                conn.sendall(b"HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n")

    for port in serve(handler):
        yield port, seen


def test_a_request_reset_by_a_closing_keep_alive_connection_is_sent_again(answers_then_closes):
    port, seen = answers_then_closes
    _, answers = call(port, ["a", "b", "c"], concurrency=1)
    assert [a.status for a in answers] == [200, 200, 200]
    assert sorted(seen) == sorted(f"POST /api/stage/@connections/{i} HTTP/1.1".encode() for i in "abc")


@pytest.fixture
def processes_then_closes() -> Iterator[tuple[int, list[bytes]]]:
    """Answers a connection's first request; reads (processes) its second whole and closes
    without answering, the way a crashing server or a proxy may."""
    seen: list[bytes] = []

    def handler(conn: socket.socket) -> None:
        with conn:
            for n in range(2):
                head = read_request(conn)
                if not head:
                    return
                seen.append(head.split(b"\r\n")[0])
                if n == 0:
                    conn.sendall(b"HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n")

    for port in serve(handler):
        yield port, seen


def test_a_request_the_server_may_have_processed_is_never_sent_twice(processes_then_closes):
    port, seen = processes_then_closes
    _, answers = call(port, ["a", "b"], concurrency=1)
    assert [a.status for a in answers] == [200, NO_ANSWER]
    assert "closed before the answer" in answers[1].detail
    assert seen == [b"POST /api/stage/@connections/a HTTP/1.1", b"POST /api/stage/@connections/b HTTP/1.1"]


@pytest.fixture
def early_413() -> Iterator[int]:
    """Answers 413 as soon as it has the head, then closes without reading the body (unread
    bytes: the close is a reset)."""

    def handler(conn: socket.socket) -> None:
        with conn:
            data = b""
            while b"\r\n\r\n" not in data:
                data += conn.recv(65536)
            conn.sendall(
                b"HTTP/1.1 413 Payload Too Large\r\nx-amzn-ErrorType: PayloadTooLargeException\r\n"
                b"Content-Length: 2\r\nConnection: close\r\n\r\n{}"
            )
            time.sleep(0.1)

    yield from serve(handler)


def test_an_answer_before_the_whole_request_is_written_is_the_answer(early_413):
    endpoint = Endpoint.from_url(f"http://127.0.0.1:{early_413}/api/stage")
    client = get_engine().client(endpoint)
    signer = Signer(Credentials("AKID", "secret"), "us-east-1", endpoint.host)
    body = b"x" * (8 << 20)  # far more than the socket buffers hold
    (answer,) = get_engine().run(client.call_many("POST", ["a"], signer, body, concurrency=1, timeout=5))
    assert (answer.status, answer.error_type) == (413, "PayloadTooLargeException")


def test_no_file_descriptor_left_is_no_answer_not_an_exception(monkeypatch):
    import wsgateway.aws.management as management

    get_engine()  # its own sockets exist before the limit is hit

    def out_of_descriptors(*args, **kwargs):
        raise OSError(errno.EMFILE, "Too many open files")

    monkeypatch.setattr(management.socket, "socket", out_of_descriptors)
    _, answers = call(9, ["a", "b"], timeout=1)
    assert [a.status for a in answers] == [NO_ANSWER, NO_ANSWER]
    assert "Too many open files" in answers[0].detail


def test_an_https_endpoint_at_an_ipv6_address_is_verified_against_that_address(tmp_path):
    from wsgateway.emulator.tls import local_ca_files

    files = local_ca_files(tmp_path, ("::1",))
    server_context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    server_context.load_cert_chain(files.cert, files.key)
    listener = socket.socket(socket.AF_INET6)
    listener.bind(("::1", 0))
    listener.listen(4)
    listener.settimeout(5)

    def answer_one() -> None:
        with contextlib.suppress(OSError), listener:
            conn = server_context.wrap_socket(listener.accept()[0], server_side=True)
            if read_request(conn):
                conn.sendall(b"HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n")
            conn.close()

    thread = threading.Thread(target=answer_one, daemon=True)
    thread.start()
    endpoint = Endpoint.from_url(f"https://[::1]:{listener.getsockname()[1]}/api/stage")
    client = ConnectionsClient(endpoint, ssl_context=files.client_context())
    signer = Signer(Credentials("AKID", "secret"), "us-east-1", endpoint.host)
    try:
        (answer,) = get_engine().run(client.call_many("POST", ["a"], signer, b"{}", concurrency=1, timeout=5))
    finally:
        client.close()
        thread.join(5)
    assert (answer.status, answer.detail) == (200, "")


def test_a_host_name_the_resolver_cannot_encode_is_no_answer_not_an_exception():
    endpoint = Endpoint.from_url(f"http://{'a' * 64}.example/api/stage")  # a label over 63 characters
    client = get_engine().client(endpoint)
    signer = Signer(Credentials("AKID", "secret"), "us-east-1", endpoint.host)
    answers = get_engine().run(client.call_many("POST", ["a", "b"], signer, b"{}", concurrency=2, timeout=2))
    assert [a.status for a in answers] == [NO_ANSWER, NO_ANSWER]
    # UnicodeError on Python 3.11, its subclass UnicodeEncodeError on 3.13; "too long" in both.
    assert answers[0].detail.startswith("Unicode") and "too long" in answers[0].detail


def test_an_answer_that_came_during_a_token_wait_is_the_answer_not_a_timeout():
    """The batch reads nothing while it awaits rate-limit tokens for its next requests. A request
    in flight whose answer came during that wait has its answer: a timeout there would make
    delivery send the message again, a duplicate."""
    served: list[bytes] = []

    def handler(conn: socket.socket) -> None:
        with conn:
            while head := read_request(conn):
                served.append(head.split(b" ")[1])
                if b"/late" in head:
                    time.sleep(0.05)  # answered after the batch started waiting for tokens
                conn.sendall(b"HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n")

    takes: list[int] = []

    async def contended_tokens(n: int) -> None:
        takes.append(n)
        if len(takes) > 1:
            await asyncio.sleep(0.6)  # longer than a request's timeout

    for port in serve(handler):
        endpoint = Endpoint.from_url(f"http://127.0.0.1:{port}/api/stage")
        signer = Signer(Credentials("AKID", "secret"), "us-east-1", endpoint.host)
        answers = get_engine().run(
            get_engine()
            .client(endpoint)
            .call_many(
                "POST",
                ["late", "soon", "next"],
                signer,
                b"{}",
                concurrency=2,
                timeout=0.5,
                acquire=contended_tokens,
                token_batch=2,
            )
        )
        assert len(takes) >= 2  # the batch did wait for tokens with requests in flight
        assert [a.status for a in answers] == [200, 200, 200], answers
        assert sorted(served) == [
            b"/api/stage/@connections/late",
            b"/api/stage/@connections/next",
            b"/api/stage/@connections/soon",
        ]
