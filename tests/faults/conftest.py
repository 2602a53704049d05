"""Fixtures of the fault tests: Celery workers (in-thread or killable processes), a Redis of our
own that can be killed and restarted, and delivery counting on the emulator.

Every test prints ``sent=... delivered=... duplicates=... lost=...`` for its broadcast.

``emulator`` serves plain HTTP unless a test parametrizes ``emulator_scheme`` with ``https``
(``@over_http_and_https``): then it serves HTTPS/WSS as in tests/fanout/conftest.py, and
worker subprocesses inherit the CA bundle and the host override through the environment.
"""

# ruff: noqa: F811  (the emulator fixture imported from the plugin is used as an argument)

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import redis
from celery.contrib.testing.worker import start_worker
from django.db import connection

from tests import waiting
from tests.celery_app import app
from tests.embedded_redis import redis_server_binary
from tests.fanout.conftest import (  # noqa: F401
    emulator,
    fanout_tls_files,
    gateway_endpoint,
    wait_complete,
    ws_connect,
)
from tests.maintenance.emulated import (
    make_gateway,
    make_sessions,
    received,
    virtual_connections,
    wsgateway_overrides,
)
from wsgateway.emulator.server import EmulatorServer

ROOT = Path(__file__).resolve().parents[2]

#: Retries fast enough for a bounded test; the policy (attempts, table) is the production one.
FAST_RETRIES: dict[str, Any] = {"FANOUT_RETRY_BACKOFF_SECONDS": 0.1, "FANOUT_RETRY_BACKOFF_MAX_SECONDS": 0.4}


#: Runs a test against the emulator over HTTP and over HTTPS (certificate verification on).
over_http_and_https = pytest.mark.parametrize("emulator_scheme", ["http", "https"])


@pytest.fixture
def emulator_scheme() -> str:
    """Plain HTTP unless the test is marked ``@over_http_and_https``."""
    return "http"


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


# ------------------------------------------------------------------------------------------ counts


@dataclass
class Delivery:
    """What the clients got of one message."""

    sent: int
    delivered: int
    duplicates: int
    lost: int

    def line(self, label: str) -> str:
        return (
            f"[{label}] sent={self.sent} delivered={self.delivered} "
            f"duplicates={self.duplicates} lost={self.lost}"
        )


def count_delivery(emu: EmulatorServer, connection_ids: list[str], message_id: str) -> Delivery:
    """Count, per virtual connection, how often ``message_id`` arrived."""
    per = [sum(1 for m in received(emu, c) if m.get("message_id") == message_id) for c in connection_ids]
    return Delivery(
        sent=len(connection_ids),
        delivered=sum(1 for n in per if n),
        duplicates=sum(n - 1 for n in per if n > 1),
        lost=sum(1 for n in per if n == 0),
    )


def virtual_room(emu: EmulatorServer, n: int, channel: str = "room") -> list[str]:
    """``n`` virtual connections on a new API, with live session rows on ``channel``."""
    info = virtual_connections(emu, n)
    make_sessions(make_gateway(emu, info["apiId"]), info["connectionIds"], channel=channel)
    return list(info["connectionIds"])


def report(delivery: Delivery, label: str) -> None:
    print(delivery.line(label))


def complete_and_report(
    emu: EmulatorServer, ids: list[str], message_id: str, redis_url: str, started: float, label: str
) -> tuple[Delivery, dict[str, Any], float]:
    """Wait (60 s at most) for the broadcast's summary in ``redis_url`` to complete, count what
    the clients got and print the soak line; ``label`` may use ``{elapsed}`` (seconds since
    ``started``, a ``time.monotonic()``). Returns the delivery, the summary and the seconds."""
    with wsgateway_overrides(REDIS_URL=redis_url):
        summary = wait_complete(message_id, timeout=60)
    elapsed = time.monotonic() - started
    delivery = count_delivery(emu, ids, message_id)
    report(delivery, label.format(elapsed=f"{elapsed:.1f}"))
    return delivery, summary, elapsed


def wait_until(predicate: Any, timeout: float, what: str) -> None:
    """Poll every 10 ms: a kill or a close must land right after the event it waits for."""
    waiting.wait_until(predicate, timeout, what, interval=0.01)


def posts_delivered(emu: EmulatorServer) -> int:
    return emu.stats().get("management.POST.200", 0)


# ----------------------------------------------------------------------------------------- workers


@pytest.fixture
def fast_retries() -> Iterator[None]:
    with wsgateway_overrides(**FAST_RETRIES):
        yield


@pytest.fixture
def thread_worker(clean_redis: redis.Redis, fast_retries: None) -> Iterator[None]:
    """A Celery worker on the ``fanout`` queue in this process (threads), real Redis broker."""
    with start_worker(
        app, pool="threads", concurrency=2, perform_ping_check=False, queues=["fanout"], shutdown_timeout=10
    ):
        yield


class WorkerProcess:
    """``python -m tests.faults.worker_process`` in its own process group, killable at once."""

    def __init__(
        self,
        redis_url: str,
        log: Path,
        *,
        settings: dict[str, Any],
        visibility: float,
        queues: str = "fanout",
        hostname: str | None = None,
        concurrency: str = "2",
    ) -> None:
        env = dict(os.environ)
        env.update(
            WSGATEWAY_TEST_REDIS_URL=redis_url,
            WSGATEWAY_FAULTS_DB_NAME=str(connection.settings_dict["NAME"]),
            WSGATEWAY_FAULTS_VISIBILITY=str(visibility),
            WSGATEWAY_FAULTS_DB_TIMEOUT="1",
            WSGATEWAY_FAULTS_SETTINGS=json.dumps({**FAST_RETRIES, "REDIS_URL": redis_url, **settings}),
        )
        self.log = log
        with log.open("ab") as out:
            self.proc = subprocess.Popen(
                [
                    sys.executable,
                    "-m",
                    "tests.faults.worker_process",
                    "--concurrency",
                    concurrency,
                    "--queues",
                    queues,
                    *(["--hostname", hostname] if hostname else []),
                ],
                cwd=ROOT,
                env=env,
                stdout=out,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )

    def kill(self) -> None:
        """SIGKILL the worker and its pool children: nothing gets to ack or clean up."""
        if self.proc.poll() is None:
            os.killpg(self.proc.pid, signal.SIGKILL)
        self.proc.wait(10)

    def stop(self) -> None:
        if self.proc.poll() is None:
            os.killpg(self.proc.pid, signal.SIGTERM)
            try:
                self.proc.wait(10)
            except subprocess.TimeoutExpired:
                self.kill()


@pytest.fixture
def worker_processes(tmp_path: Path) -> Iterator[Any]:
    """A factory of worker processes; every one is stopped after the test."""
    started: list[WorkerProcess] = []

    def spawn(redis_url: str, *, settings: dict[str, Any] | None = None, **options: Any) -> WorkerProcess:
        """Start a worker on ``redis_url``; ``options``: visibility (2 s), queues, hostname,
        concurrency."""
        options.setdefault("visibility", 2.0)
        worker = WorkerProcess(redis_url, tmp_path / "worker.log", settings=settings or {}, **options)
        started.append(worker)
        return worker

    yield spawn
    for worker in started:
        worker.stop()
    log = tmp_path / "worker.log"
    if log.exists():
        print(log.read_text()[-3000:])


# ------------------------------------------------------------------------------------ own Redis


class OwnRedis:
    """A redis-server of this test on a free port, persisting every write (AOF, fsync always) so
    a kill -9 and restart on the same port loses nothing that was acknowledged; or, with
    ``persist=False``, keeping nothing."""

    def __init__(self, workdir: Path, *, persist: bool = True) -> None:
        self.port = free_port()
        self.workdir = workdir
        self.persist = persist
        self.proc: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"

    def start(self) -> None:
        self.proc = subprocess.Popen(
            [
                redis_server_binary(),
                "--port", str(self.port),
                "--bind", "127.0.0.1",
                "--save", "",
                "--appendonly", "yes" if self.persist else "no",
                "--appendfsync", "always",
                "--dir", str(self.workdir),
                "--protected-mode", "no",
            ],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )  # fmt: skip
        client = redis.Redis.from_url(self.url)
        deadline = time.monotonic() + 10
        while True:
            try:
                client.ping()
                break
            except redis.ConnectionError:
                if time.monotonic() > deadline:
                    raise
                time.sleep(0.02)
        client.close()

    def kill(self) -> None:
        assert self.proc is not None
        self.proc.kill()
        self.proc.wait(10)

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.terminate()
            self.proc.wait(10)


@pytest.fixture
def own_redis(tmp_path: Path) -> Iterator[OwnRedis]:
    server = OwnRedis(tmp_path)
    server.start()
    yield server
    server.stop()


@pytest.fixture
def volatile_redis(tmp_path: Path) -> Iterator[OwnRedis]:
    """Like ``own_redis`` without persistence (the compose file's Redis): a restart empties it."""
    server = OwnRedis(tmp_path, persist=False)
    server.start()
    yield server
    server.stop()


# ------------------------------------------------------------------ the emulator in front of Django


@dataclass
class DjangoApi:
    """An emulator API whose integrations call the live Django server, and its gateway row."""

    gateway: Any
    ws_url: str
    emulator: EmulatorServer

    def connect(self, url: str | None = None, **options: Any) -> Any:
        """A WebSocket client on ``url`` (default: the stage), trusting the emulator's CA."""
        return ws_connect(self.emulator, url or self.ws_url, **options)


GATEWAY_SECRET = "test-secret-current"


@pytest.fixture
def django_api_factory(emulator: EmulatorServer, live_server: Any) -> Any:
    """Make an API on the emulator forwarding to ``live_server``'s ``/ws/`` (routes chosen)."""
    from wsgateway.emulator.testing import create_websocket_api
    from wsgateway.models import ApiGateway

    def make(routes: tuple[str, ...] = ("$connect", "$disconnect", "$default")) -> DjangoApi:
        target = f"{live_server.url}/ws/"
        api = create_websocket_api(emulator.url, target, routes=routes, secret=GATEWAY_SECRET)
        gateway = ApiGateway.objects.create(
            api_name=f"faults-{api.api_id}",
            api_id=api.api_id,
            api_endpoint=gateway_endpoint(emulator, api.api_id),
            stage_name=api.stage,
            target_base_endpoint=target,
            api_created=True,
        )
        return DjangoApi(gateway, emulator.ws_url(api.api_id, api.stage), emulator)

    return make
