"""Faults that hit fan-out work in flight: Redis killed and restarted, a worker killed, the
database unavailable.

Each test first proves the fault landed on running chunks, not on an idle moment: right before
the fault, the emulator has taken posts that no finished chunk has recorded yet (posts >
recorded deliveries in the summary), and fewer posts than recipients. Then it asserts that every
recipient got the message (duplicates allowed: at-least-once) and that the broadcast's summary
completed. That includes Redis restarting empty (no persistence): the delivery ledger in the
database replays what Redis lost.

``WSGATEWAY_SOAK_RUNS=5`` repeats each scenario (``benchmarks/soak_faults.py`` does that and
tabulates the ``[soak ...]`` lines every run prints).
"""

from __future__ import annotations

import os
import sqlite3
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import pytest
from celery import Celery
from django.conf import settings
from django.db import connection

from tests.celery_app import app
from tests.faults.conftest import (
    complete_and_report,
    count_delivery,
    over_http_and_https,
    posts_delivered,
    report,
    virtual_room,
    wait_complete,
    wait_until,
)
from tests.maintenance.emulated import make_gateway, make_sessions, virtual_connections, wsgateway_overrides
from wsgateway.fanout.results import get_broadcast_summary
from wsgateway.models import WebSocketSession
from wsgateway.tasks.fanout import send_message

RUNS = range(int(os.environ.get("WSGATEWAY_SOAK_RUNS", "1")))
pytestmark = [pytest.mark.slow, pytest.mark.django_db(transaction=True), pytest.mark.timeout(90)]

N = 300
OPTIONS = {"FANOUT_CHUNK_SIZE": 50, "FANOUT_CONCURRENCY": 2}
#: The production visibility timeout: redelivery must come from the lease, not from it.
VISIBILITY = 600.0
LEASE = 15.0


def recorded(message_id: str, redis_url: str | None = None) -> int:
    """Deliveries recorded by finished chunks (the summary), 0 before the first one."""
    with wsgateway_overrides(**({"REDIS_URL": redis_url} if redis_url else {})):
        summary = get_broadcast_summary(message_id)
    return int(summary["delivered"]) if summary else 0


def send(broker_url: str, message_id: str) -> None:
    # A Celery app of its own for this broker: the suite's app keeps its producer pool on the
    # shared Redis (a pool bound to a killed server would outlive it).
    sender = Celery("faults-inflight", broker=broker_url, set_as_current=False)
    try:
        sender.send_task(
            send_message.name,
            args=[{"text": "in flight"}],
            kwargs={"channel_name": "room", "message_id": message_id},
            queue="fanout",
        )
    finally:
        sender.close()


def broadcast_in_flight(emulator, spawn, broker_url: str, **worker: Any) -> tuple[str, Any]:
    """Slow the emulator, start a worker on ``broker_url``, send to the room; return the message
    id and the worker once the first posts arrived (chunks are running)."""
    emulator.configure(latency_ms=20)
    process = spawn(broker_url, settings=OPTIONS, visibility=VISIBILITY, **worker)
    message_id = uuid.uuid4().hex
    send(broker_url, message_id)
    wait_until(lambda: posts_delivered(emulator) >= 30, 30, "the first deliveries")
    return message_id, process


@pytest.mark.parametrize("run", RUNS)
@pytest.mark.parametrize("concurrency", ["2", "4"])
def test_redis_killed_while_chunks_run(emulator, own_redis, worker_processes, run, concurrency):
    """kill -9 of Redis (AOF, fsync always) mid-chunk, restarted once the worker saw it go: nothing
    lost, and with ``-c 4`` the worker survives the reconnect (issue 17 saw it crash there)."""
    ids = virtual_room(emulator, N)
    message_id, worker = broadcast_in_flight(
        emulator, worker_processes, own_redis.url, concurrency=concurrency
    )
    done = recorded(message_id, own_redis.url)
    at_kill = posts_delivered(emulator)
    own_redis.kill()
    assert done < at_kill < N, f"no chunk in flight at the kill: recorded={done} posts={at_kill}"
    # Down until the worker has seen it go (Celery's consumer says so), then back.
    lost = "Connection to broker lost"
    wait_until(lambda: lost in worker.log.read_text(errors="replace"), 30, "the worker seeing the outage")
    own_redis.start()
    started = time.monotonic()

    emulator.configure(latency_ms=0)
    with wsgateway_overrides(REDIS_URL=own_redis.url):
        summary = wait_complete(message_id, timeout=60)
    delivery = count_delivery(emulator, ids, message_id)
    report(
        delivery,
        f"soak redis-kill c={concurrency} run={run} in-flight: posts={at_kill} recorded={done}; "
        f"complete {time.monotonic() - started:.1f}s after restart",
    )
    assert worker.proc.poll() is None, "the worker died on the Redis restart"
    assert delivery.lost == 0 and delivery.delivered == N
    assert (summary["targeted"], summary["delivered"], summary["failed"]) == (N, N, 0)


@over_http_and_https
@pytest.mark.parametrize("run", RUNS)
def test_worker_killed_while_chunks_run(emulator, clean_redis, worker_processes, run):
    """kill -9 of a worker (and its pool children) mid-chunk, with the production visibility
    timeout (600 s): another worker's lease keeper redelivers within about ``LEASE`` seconds."""
    ids = virtual_room(emulator, N)
    emulator.configure(latency_ms=30)
    standby = f"standby-{uuid.uuid4().hex[:8]}@localhost"
    first = worker_processes(settings.REDIS_URL, settings=OPTIONS, visibility=VISIBILITY)
    worker_processes(
        settings.REDIS_URL, settings=OPTIONS, visibility=VISIBILITY, queues="faults-standby", hostname=standby
    )
    wait_until(lambda: bool(app.control.ping([standby], timeout=0.5)), 30, "the standby worker")
    assert app.control.add_consumer("fanout", destination=[standby], reply=True, timeout=5)

    message_id = uuid.uuid4().hex
    # The standby consumes too, but the first worker is already polling: it takes the planner.
    send_message.delay({"text": "survive"}, channel_name="room", message_id=message_id)
    wait_until(lambda: posts_delivered(emulator) >= 20, 30, "the first deliveries")
    first.kill()
    killed_at = time.monotonic()
    at_kill = posts_delivered(emulator)
    done = recorded(message_id)  # the killed worker records nothing any more: exact
    assert done < at_kill < N, f"no chunk in flight at the kill: recorded={done} posts={at_kill}"

    emulator.configure(latency_ms=0)
    summary = wait_complete(message_id, timeout=LEASE + 30)
    delay = time.monotonic() - killed_at
    delivery = count_delivery(emulator, ids, message_id)
    report(
        delivery,
        f"soak worker-kill run={run} in-flight: posts={at_kill} recorded={done}; "
        f"complete {delay:.1f}s after kill",
    )
    assert delivery.lost == 0 and delivery.delivered == N
    assert (summary["targeted"], summary["delivered"], summary["failed"]) == (N, N, 0)
    assert delay < 30, f"redelivery took {delay:.1f}s"


@contextmanager
def database_unavailable() -> Iterator[None]:
    """Nobody else can use the test database until the block ends.

    PostgreSQL: new connections to it are refused and the other sessions on it are terminated
    (what a restart does to a client), on the shared server without restarting it. SQLite: an
    exclusive lock, so every other connection fails with "database is locked" (the workers'
    busy timeout is 1 s).
    """
    name = connection.settings_dict["NAME"]
    if connection.vendor == "postgresql":
        import psycopg

        params = {**connection.get_connection_params(), "dbname": "postgres", "autocommit": True}
        with psycopg.connect(**params) as admin:
            admin.execute(f'ALTER DATABASE "{name}" ALLOW_CONNECTIONS false')
            admin.execute("SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = %s", [name])
            try:
                yield
            finally:
                admin.execute(f'ALTER DATABASE "{name}" ALLOW_CONNECTIONS true')
        connection.close()  # this process's session was terminated too
        return
    lock = sqlite3.connect(name, isolation_level=None, timeout=10)
    lock.execute("BEGIN EXCLUSIVE")
    try:
        yield
    finally:
        lock.execute("ROLLBACK")
        lock.close()


@over_http_and_https
@pytest.mark.parametrize("run", RUNS)
def test_database_unavailable_while_chunks_run(emulator, own_redis, worker_processes, tmp_path, run):
    """The database goes away for 3 s while chunks are sending; a fifth of the recipients answer
    410, so every chunk must write to the database to finish. They retry in place; nothing is
    lost, the gone sessions are marked, the summary completes."""
    info = virtual_connections(emulator, N)
    alive = list(info["connectionIds"])
    ghosts = [f"ghost{i:04d}AAAAAAA=" for i in range(N // 5)]
    mixed = [c for pair in zip(alive, ghosts + [""] * N, strict=False) for c in pair if c]
    make_sessions(make_gateway(emulator, info["apiId"]), mixed, channel="room")
    message_id, _ = broadcast_in_flight(emulator, worker_processes, own_redis.url)
    with database_unavailable():
        done = recorded(message_id, own_redis.url)
        at_fault = posts_delivered(emulator)
        assert done < at_fault < N, f"no chunk in flight at the fault: recorded={done} posts={at_fault}"
        log = tmp_path / "worker.log"
        # The outage lasts until chunks have failed on it and retried at least 3 times.
        wait_until(lambda: log.read_text().count("OperationalError") >= 3, 30, "chunks to hit it")
    emulator.configure(latency_ms=0)
    with wsgateway_overrides(REDIS_URL=own_redis.url):
        summary = wait_complete(message_id, timeout=60)
    delivery = count_delivery(emulator, alive, message_id)
    report(delivery, f"soak database-down run={run} in-flight: posts={at_fault} recorded={done}")
    assert delivery.lost == 0 and delivery.delivered == N
    total = N + len(ghosts)
    assert (summary["targeted"], summary["delivered"], summary["gone"], summary["failed"]) == (
        total,
        N,
        len(ghosts),
        0,
    )
    assert not WebSocketSession.objects.filter(connection_id__in=ghosts, connected=True).exists()


@pytest.mark.parametrize("run", RUNS)
def test_redis_wiped_while_chunks_run(emulator, volatile_redis, worker_processes, tmp_path, run):
    """Redis without persistence is killed mid-broadcast and restarts EMPTY: the queued chunk
    tasks, the done-marks and the summary are gone. The worker's lease keeper sees the broker
    epoch change and replays the delivery ledger: every recipient gets the message and the
    summary completes, within seconds."""
    ids = virtual_room(emulator, N)
    message_id, _ = broadcast_in_flight(emulator, worker_processes, volatile_redis.url)
    done = recorded(message_id, volatile_redis.url)
    at_kill = posts_delivered(emulator)
    volatile_redis.kill()
    assert done < at_kill < N, f"no chunk in flight at the kill: recorded={done} posts={at_kill}"
    volatile_redis.start()
    started = time.monotonic()
    with wsgateway_overrides(REDIS_URL=volatile_redis.url):
        after = get_broadcast_summary(message_id)
    assert after is None or after["targeted"] == 0, f"Redis kept the broadcast's plan: {after}"

    emulator.configure(latency_ms=0)
    delivery, summary, _ = complete_and_report(
        emulator,
        ids,
        message_id,
        volatile_redis.url,
        started,
        f"soak redis-wipe run={run} in-flight: posts={at_kill} recorded={done}; "
        "complete {elapsed}s after restart",
    )
    log = (tmp_path / "worker.log").read_text()
    assert "broker lost its data" in log and "replayed from the delivery ledger" in log
    assert delivery.lost == 0 and delivery.delivered == N
    assert (summary["targeted"], summary["delivered"], summary["failed"]) == (N, N, 0)
