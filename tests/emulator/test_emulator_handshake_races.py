"""Handshakes whose timing used to break the emulator: a client leaving as ``$connect`` answers,
and a ``$connect`` sent on a kept-alive connection the backend was closing.

Both were seen under ~100 concurrent handshakes (benchmarks/latency.py: 502s on ``$connect``
and aiohttp's ``RuntimeError: Call .prepare() first``). Here each race is forced to happen
every time with a backend scripted on a plain socket.
"""

from __future__ import annotations

import asyncio
import base64
import logging
import os
import random
import socket
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager

import pytest

from tests import waiting
from tests.emulator.test_emulator_data_plane import _raw_handshake
from wsgateway.emulator.testing import create_websocket_api

pytestmark = pytest.mark.timeout(60)

OK_KEEP_ALIVE = b"HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n"
OK_CLOSE = b"HTTP/1.1 200 OK\r\nContent-Length: 0\r\nConnection: close\r\n\r\n"


class ScriptedBackend:
    """A backend on a plain socket whose every step (accept, read, answer, close) the test drives."""

    def __init__(self) -> None:
        self.listener = socket.create_server(("127.0.0.1", 0))
        self.listener.settimeout(15)
        self.port = self.listener.getsockname()[1]

    def url(self, path: str) -> str:
        return f"http://127.0.0.1:{self.port}/{path}"

    def accept(self) -> socket.socket:
        conn, _ = self.listener.accept()
        conn.settimeout(15)
        return conn

    @staticmethod
    def read_request(conn: socket.socket) -> bytes:
        """The request head (our integration requests of these tests have no body); b"" at EOF."""
        data = b""
        while b"\r\n\r\n" not in data:
            chunk = conn.recv(65536)
            if not chunk:
                return data
            data += chunk
        return data

    def close(self) -> None:
        self.listener.close()


@pytest.fixture
def scripted_backend() -> Iterator[ScriptedBackend]:
    backend = ScriptedBackend()
    yield backend
    backend.close()


@contextmanager
def background(step: Callable[[], object]) -> Iterator[dict[str, object]]:
    """Run ``step`` in a thread; its result (or error) is in the yielded dict after the block."""
    out: dict[str, object] = {}

    def run() -> None:
        try:
            out["result"] = step()
        except BaseException as err:  # reported to the test below
            out["error"] = err

    thread = threading.Thread(target=run, daemon=True)
    thread.start()
    yield out
    thread.join(20)
    assert not thread.is_alive(), "the scripted backend step did not finish"
    if "error" in out:
        raise AssertionError("the scripted backend step failed") from out["error"]  # type: ignore[arg-type]


def _handshake_bytes(port: int, path: str) -> bytes:
    key = base64.b64encode(os.urandom(16)).decode()
    return (
        f"GET {path} HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
        f"Sec-WebSocket-Key: {key}\r\nSec-WebSocket-Version: 13\r\n\r\n"
    ).encode()


@contextmanager
def emulator_loop_paused(emulator) -> Iterator[None]:
    """Hold the emulator's event loop inside one callback until the block ends.

    What happens meanwhile on its sockets is seen by the loop in one turn, in arrival order.
    """
    entered, release = threading.Event(), threading.Event()

    def hold() -> None:
        entered.set()
        release.wait(15)

    emulator._loop.call_soon_threadsafe(hold)
    assert entered.wait(15)
    try:
        yield
    finally:
        release.set()


def test_a_client_leaving_as_connect_answers_is_told_to_the_backend_without_an_error(
    emulator, scripted_backend, caplog
):
    # The $connect answer and the client's FIN reach the emulator in the same loop turn: the
    # handshake resumes on a transport that is closing but not yet reported lost. The old code
    # returned a half-prepared WebSocketResponse and aiohttp failed with "Call .prepare() first".
    api = create_websocket_api(emulator.url, scripted_backend.url("ws/"))
    client = socket.create_connection(("127.0.0.1", emulator.port), timeout=15)
    client.sendall(_handshake_bytes(emulator.port, f"/{api.api_id}/{api.stage}"))
    backend_conn = scripted_backend.accept()
    assert scripted_backend.read_request(backend_conn).startswith(b"POST /ws/connect ")
    caplog.set_level(logging.WARNING)
    with emulator_loop_paused(emulator):
        backend_conn.sendall(OK_CLOSE)
        client.shutdown(socket.SHUT_WR)
    backend_conn.close()
    # The backend accepted the socket, so it must hear that it ended.
    disconnect = scripted_backend.accept()
    assert scripted_backend.read_request(disconnect).startswith(b"POST /ws/disconnect ")
    disconnect.sendall(OK_CLOSE)
    disconnect.close()
    client.close()
    assert emulator.admin("connections")["items"] == []
    errors = [r for r in caplog.records if r.levelno >= logging.ERROR]
    assert errors == [], [r.getMessage() for r in errors]


def test_connect_on_a_kept_alive_connection_the_backend_closed_is_sent_again_not_a_502(
    emulator, scripted_backend
):
    api = create_websocket_api(emulator.url, scripted_backend.url("ws/"), routes=("$connect",))
    path = f"/{api.api_id}/{api.stage}"

    def first() -> None:
        conn = scripted_backend.accept()
        assert scripted_backend.read_request(conn).startswith(b"POST /ws/connect ")
        conn.sendall(OK_KEEP_ALIVE)  # the emulator keeps this connection for the next event
        return conn

    with background(first) as out:
        assert _raw_handshake(emulator.port, path) == 101
    kept = out["result"]

    def second() -> list[bytes]:
        # The backend's keep-alive timer fires as the next $connect arrives: it closes without
        # an answer (what gunicorn does to a connection idle for 2 s).
        seen = [scripted_backend.read_request(kept)]
        kept.close()
        fresh = scripted_backend.accept()
        seen.append(scripted_backend.read_request(fresh))
        fresh.sendall(OK_CLOSE)
        fresh.close()
        return seen

    with background(second) as out:
        status = _raw_handshake(emulator.port, path)
    assert status == 101
    first_try, again = out["result"]
    assert first_try.startswith(b"POST /ws/connect ") and again.startswith(b"POST /ws/connect ")
    assert emulator.stats()["forward.stale_connection_retries"] == 1


def test_connect_dropped_on_a_new_connection_is_not_sent_twice(emulator, scripted_backend):
    # A new connection closed without an answer may mean the backend acted on the request and
    # crashed: no retry, the handshake is refused with 502.
    api = create_websocket_api(emulator.url, scripted_backend.url("ws/"), routes=("$connect",))

    def drop() -> bytes:
        conn = scripted_backend.accept()
        head = scripted_backend.read_request(conn)
        conn.close()
        return head

    with background(drop) as out:
        status = _raw_handshake(emulator.port, f"/{api.api_id}/{api.stage}")
    # A retry would hold the handshake until it got an answer (nobody accepts it here), so an
    # immediate 502 also shows that nothing was sent again.
    assert status == 502
    assert out["result"].startswith(b"POST /ws/connect ")  # type: ignore[union-attr]
    assert "forward.stale_connection_retries" not in emulator.stats()


def test_150_concurrent_handshakes_some_leaving_during_a_slow_connect(emulator, recording_backend, caplog):
    # The load the races above were first seen under: a slow $connect backend, many handshakes
    # at once, and clients giving up at random moments around its answer. Whatever the timing:
    # no 5xx, no error logged, and every $connect the backend accepted ends with a $disconnect.
    recording_backend.respond("/ws/connect", delay=0.3)
    api = create_websocket_api(emulator.url, recording_backend.url("ws/"))
    path = f"/{api.api_id}/{api.stage}"
    rng = random.Random(150)
    caplog.set_level(logging.WARNING)

    async def one(leave_after: float | None) -> str:
        reader, writer = await asyncio.open_connection("127.0.0.1", emulator.port)
        writer.write(_handshake_bytes(emulator.port, path))
        await writer.drain()
        try:
            if leave_after is not None:
                await asyncio.sleep(leave_after)
                return "left"
            return (await asyncio.wait_for(reader.readline(), 30)).decode().strip()
        finally:
            writer.close()

    async def run_all() -> list[str]:
        plans = [None if rng.random() < 0.5 else rng.uniform(0.0, 1.2) for _ in range(150)]
        return await asyncio.gather(*(one(plan) for plan in plans))

    answers = asyncio.run(run_all())
    assert all(a == "left" or a.startswith("HTTP/1.1 101 ") for a in answers), set(answers)
    waiting.wait_until(lambda: emulator.admin("connections")["items"] == [], 30, "every socket to be gone")
    waiting.wait_until(
        lambda: (
            len(recording_backend.by_path("/ws/disconnect")) == len(recording_backend.by_path("/ws/connect"))
        ),
        30,
        "a $disconnect for every $connect",
    )
    # A client leaving at once may be gone before its request is read; every other one got through.
    stayed = len(answers) - answers.count("left")
    assert 30 < stayed <= len(recording_backend.by_path("/ws/connect")) <= len(answers)
    errors = [r for r in caplog.records if r.levelno >= logging.ERROR]
    assert errors == [], [r.getMessage() for r in errors]
