"""A real ``celery worker`` subprocess on the test database and Redis, for tests that kill its
pool processes mid-broadcast (tests/fanout/test_worker_kill.py, test_inline_delivery.py).

The fault tests (tests/faults) start theirs differently: in a process group, with a short
visibility timeout and their own settings (tests/faults/worker_process.py).
"""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from django.db import connection

from tests.waiting import wait_until

ROOT = Path(__file__).resolve().parents[2]


def database_url() -> str:
    """The URL of the database this test process uses (the worker must use the same)."""
    db = connection.settings_dict
    if db["ENGINE"].endswith("sqlite3"):
        return f"sqlite:///{db['NAME']}"
    port = db.get("PORT") or 5432
    return f"postgres://{db['USER']}@{db['HOST'] or '127.0.0.1'}:{port}/{db['NAME']}"


def pool_children(pid: int) -> list[int]:
    """The process ids of a prefork worker's pool processes (Linux ``/proc``)."""
    path = Path(f"/proc/{pid}/task/{pid}/children")
    return [int(x) for x in path.read_text().split()] if path.exists() else []


@contextmanager
def fanout_worker(
    log: Path, redis_url: str, *, name: str, concurrency: int
) -> Iterator[subprocess.Popen[bytes]]:
    """Run a prefork worker of the ``fanout`` queue, logging to ``log``; yields it once ready and
    stops it (SIGTERM, then SIGKILL) on the way out."""
    env = dict(
        os.environ,
        DJANGO_SETTINGS_MODULE="tests.settings",
        WSGATEWAY_TEST_DATABASE_URL=database_url(),
        WSGATEWAY_TEST_REDIS_URL=redis_url,
    )
    command = [
        sys.executable, "-m", "celery", "-A", "tests.celery_app", "worker", "-Q", "fanout",
        "-c", str(concurrency), "--pool", "prefork", "-l", "info",
        "--without-gossip", "--without-mingle", "--without-heartbeat",
        "-n", f"{name}-{os.getpid()}@{socket.gethostname()}",
    ]  # fmt: skip
    with log.open("w") as out:
        worker = subprocess.Popen(command, env=env, stdout=out, stderr=subprocess.STDOUT, cwd=ROOT)
    try:
        wait_until(lambda: "ready." in log.read_text(), 60, "the worker to start")
        yield worker
    finally:
        worker.send_signal(signal.SIGTERM)
        try:
            worker.wait(20)
        except subprocess.TimeoutExpired:
            worker.kill()
            worker.wait(10)
