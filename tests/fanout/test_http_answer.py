"""The @connections answer parser: strict, bounded, and skipping interim answers; then the
client against servers sending such answers over real sockets."""

from __future__ import annotations

import socket
import threading
import time
from collections.abc import Iterator

import pytest

from tests.fanout.answer_fuzz import HOSTILE, VALID, run
from tests.fanout.test_http_client import _fresh_engine, call, read_request, serve  # noqa: F401
from wsgateway.aws.http_answer import MAX_BODY, AnswerParser, MalformedAnswer
from wsgateway.aws.management import NO_ANSWER

pytestmark = pytest.mark.timeout(60)


def parse(data: bytes, step: int = 0):
    parser = AnswerParser()
    if not step:
        return parser.feed(data)
    answer = None
    for i in range(0, len(data), step):
        answer = parser.feed(data[i : i + step])
        if answer is not None:
            return answer
    return answer


@pytest.mark.parametrize("step", [0, 1, 7])
def test_interim_answers_are_skipped(step):
    answer = parse(b"HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 103 Early\r\nLink: x\r\n\r\n"
                   b"HTTP/1.1 410 Gone\r\nContent-Length: 2\r\n\r\n{}", step)  # fmt: skip
    assert answer is not None and (answer.status, answer.body, answer.reusable) == (410, b"{}", True)


def test_an_interim_answer_alone_is_not_an_answer():
    assert parse(b"HTTP/1.1 100 Continue\r\n\r\n") is None


@pytest.mark.parametrize("step", [0, 1, 5])
def test_chunked_body_with_extensions_and_trailers(step):
    answer = parse(VALID[4], step)
    assert answer is not None and (answer.status, answer.body) == (500, b"x")
    answer = parse(VALID[2], step)
    assert answer is not None and answer.body == b"helloabc"


@pytest.mark.parametrize("data", HOSTILE[:15], ids=range(15))
def test_hostile_answers_are_refused(data):
    with pytest.raises(MalformedAnswer):
        parse(data)


def test_a_body_over_the_limit_is_refused_before_it_is_read():
    with pytest.raises(MalformedAnswer, match="larger"):
        parse(f"HTTP/1.1 200 OK\r\nContent-Length: {MAX_BODY + 1}\r\n\r\n".encode())


def _outcome(data: bytes, step: int) -> tuple[object, ...]:
    try:
        answer = parse(data, step)
    except MalformedAnswer as err:
        return ("malformed", str(err))
    if answer is None:
        return ("incomplete",)
    return (answer.status, answer.headers, answer.body, answer.reusable)


HEADS_IN_ONE_READ = [
    b"HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n",
    b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: 0\r\nDate: x\r\n\r\n",
    b"HTTP/1.1 200 OK\r\nContent-Length: 0\r\nConnection: close\r\n\r\n",
    b"HTTP/1.0 204 No Content\r\n\r\n",  # no length: not reusable
    b"HTTP/1.1 410 Gone\r\nContent-Length: 2\r\n\r\n",  # a body still to come
    b"HTTP/1.1 100 Continue\r\n\r\n",
    b"HTTP/1.1 101 Switching\r\n\r\n",
    b"HTTP/1.1 200 OK\r\nTransfer-Encoding: gzip\r\n\r\n",
    b"HTTP/1.1 200 OK\r\nContent-Length: 0\r\nContent-Length: 1\r\n\r\n",
    b"HTTP/1.1 200 OK\r\nContent-Length: -0\r\n\r\n",
    b"HTTP/1.1 200 OK\r\nBad Name: x\r\n\r\n",
    b"HTTP/1.1 2000 OK\r\n\r\n",
]


@pytest.mark.parametrize("data", HEADS_IN_ONE_READ, ids=range(len(HEADS_IN_ONE_READ)))
def test_a_head_in_one_read_parses_as_byte_by_byte(data):
    # One read takes the parser's shortcut for a bodiless answer; one byte at a time, its steps.
    assert _outcome(data, 0) == _outcome(data, 1)


def test_bytes_beyond_the_answer_make_the_connection_unusable():
    answer = parse(b"HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\nHTTP/1.1 200 OK\r\n")
    assert answer is not None and answer.status == 200 and not answer.reusable


def test_fuzz_2000_random_and_hostile_streams_parse_quickly():
    """Every input ends as an answer, a refusal or "need more bytes" (then the client's deadline
    applies) within a few ms; ``benchmarks/fuzz_http_answer.py`` runs 100,000."""
    stats = run(seed=17, count=2000)
    assert stats.inputs == 2000
    assert stats.answers and stats.malformed and stats.incomplete  # every outcome exercised
    assert stats.slowest < 0.5, f"slowest parse took {stats.slowest:.3f}s"


# ------------------------------------------------------------------ over real sockets


def answering(raw: bytes, *, hold: bool = True) -> Iterator[int]:
    """Answers every request with ``raw``; with ``hold``, answers once and then keeps the
    connection open until the test is over (a client must not wait for the close)."""
    over = threading.Event()

    def handler(conn: socket.socket) -> None:
        with conn:
            while read_request(conn):
                conn.sendall(raw)
                if hold:
                    over.wait(30)
                    return

    try:
        yield from serve(handler)
    finally:
        over.set()


@pytest.fixture
def negative_chunk() -> Iterator[int]:
    yield from answering(HOSTILE[0])


@pytest.fixture
def continue_only() -> Iterator[int]:
    yield from answering(b"HTTP/1.1 100 Continue\r\n\r\n")


@pytest.fixture
def continue_then_ok() -> Iterator[int]:
    yield from answering(VALID[3], hold=False)


@pytest.fixture
def dribbling() -> Iterator[int]:
    """Sends an endless head, one header every 20 ms."""

    def handler(conn: socket.socket) -> None:
        with conn:
            read_request(conn)
            conn.sendall(b"HTTP/1.1 200 OK\r\n")
            for _ in range(250):
                try:
                    conn.sendall(b"X: y\r\n")
                except OSError:
                    return
                time.sleep(0.02)

    yield from serve(handler)


def test_a_negative_chunk_size_is_no_answer_at_once(negative_chunk):
    start = time.monotonic()
    _, answers = call(negative_chunk, ["a"], timeout=5)
    assert answers[0].status == NO_ANSWER and "chunk size" in answers[0].detail
    assert time.monotonic() - start < 2


def test_100_continue_without_a_final_answer_is_not_delivered(continue_only):
    _, answers = call(continue_only, ["a"], timeout=0.5)
    assert answers[0].status == NO_ANSWER and "TimeoutError" in answers[0].detail


def test_100_continue_then_200_is_delivered(continue_then_ok):
    _, answers = call(continue_then_ok, ["a", "b"], concurrency=1)
    assert [a.status for a in answers] == [200, 200]


def test_a_dribbling_server_hits_the_per_request_deadline(dribbling):
    start = time.monotonic()
    _, answers = call(dribbling, ["a"], timeout=0.5)
    assert answers[0].status == NO_ANSWER and "TimeoutError" in answers[0].detail
    assert time.monotonic() - start < 2
