"""Faults that hit a broadcast's PLANNING task (the task that turns a send into chunk tasks)
before or while it runs: Redis restarting empty with the task still queued, and the worker
killed half-way through a plan. Real Redis servers, real worker processes, the emulator over
real sockets.

Each test first proves the fault hit the planning task: queued and not started when Redis lost
its data (the queue held it, no worker had run, the ledger row was not claimed); or inside a
plan when the worker died (some chunk rows written, the plan not recorded). Then every recipient
must get the message, the summary must complete with the right totals, and no chunk may have
been planned twice. ``WSGATEWAY_SOAK_RUNS=5`` repeats each (``benchmarks/soak_faults.py``).
"""

from __future__ import annotations

import os
import time
import uuid
from pathlib import Path

import pytest
import redis
from celery import Celery
from kombu import Connection

from tests.faults.conftest import complete_and_report, virtual_room, wait_until
from tests.maintenance.emulated import wsgateway_overrides
from wsgateway.fanout.results import get_broadcast_summary
from wsgateway.ledger_models import FanoutBroadcast, FanoutChunk
from wsgateway.tasks.fanout import send_message

RUNS = range(int(os.environ.get("WSGATEWAY_SOAK_RUNS", "1")))
pytestmark = [pytest.mark.slow, pytest.mark.django_db(transaction=True), pytest.mark.timeout(120)]

#: The production visibility timeout: redelivery must come from the lease keeper, not from it.
VISIBILITY = 600.0


def publish_send(broker_url: str, message_id: str, channel: str = "room") -> None:
    """``send_message.apply_async`` as an application calls it (the ledger row is written first),
    publishing to ``broker_url``."""
    with Connection(broker_url) as conn, wsgateway_overrides(REDIS_URL=broker_url):
        send_message.apply_async(
            ({"text": "planning lost"},), {"channel_name": channel, "message_id": message_id}, connection=conn
        )


def queued_planning_tasks(client: redis.Redis, message_id: str) -> int:
    """Planning tasks of ``message_id`` waiting on the ``fanout`` queue."""
    return sum(1 for raw in client.lrange("fanout", 0, -1) if message_id.encode() in raw)


def top_level_chunks(message_id: str) -> list[str]:
    names = FanoutChunk.objects.filter(message_id=message_id).values_list("chunk", flat=True)
    return sorted((n for n in names if n.isdigit()), key=int)


@pytest.mark.parametrize("run", RUNS)
def test_redis_wiped_with_the_planning_task_still_queued(
    emulator, volatile_redis, worker_processes, tmp_path: Path, run
):
    """``send_message`` returned (the task is on the queue, no worker has run it), then Redis
    without persistence restarts empty: the task is gone. The worker that starts next publishes
    it again from the ledger, and the broadcast reaches everyone."""
    n = 300
    ids = virtual_room(emulator, n)
    message_id = uuid.uuid4().hex
    publish_send(volatile_redis.url, message_id)

    client = redis.Redis.from_url(volatile_redis.url)
    row = FanoutBroadcast.objects.get(message_id=message_id)
    # Enqueued, not executed: on the queue, no worker exists yet, nobody claimed the plan.
    assert queued_planning_tasks(client, message_id) == 1
    assert (row.planned, row.planner, row.task) == (False, "", send_message.name)
    assert not FanoutChunk.objects.filter(message_id=message_id).exists()

    volatile_redis.kill()
    volatile_redis.start()
    assert queued_planning_tasks(client, message_id) == 0, "Redis kept the queued task"
    client.close()

    started = time.monotonic()
    worker_processes(volatile_redis.url, settings={"FANOUT_CHUNK_SIZE": 50}, visibility=VISIBILITY)
    delivery, summary, _ = complete_and_report(
        emulator,
        ids,
        message_id,
        volatile_redis.url,
        started,
        f"soak planning-wipe run={run} queued=1 planned=False at the wipe; "
        "complete {elapsed}s after the worker started",
    )
    log = (tmp_path / "worker.log").read_text()
    assert "planning task wsgateway.send_message published again" in log, log[-3000:]
    assert delivery.lost == 0 and delivery.delivered == n
    assert (summary["targeted"], summary["delivered"], summary["failed"]) == (n, n, 0)
    assert top_level_chunks(message_id) == [str(i) for i in range(n // 50)]


@pytest.mark.parametrize("run", RUNS)
def test_worker_killed_half_way_through_a_plan(emulator, own_redis, worker_processes, tmp_path: Path, run):
    """The worker is killed while its planning task is between two batches of chunk rows (Redis
    refuses writes for that moment, so the planner is stuck publishing), with the production
    visibility timeout. The other worker's lease keeper redelivers the planning task, which
    resumes the plan: the chunks already written are kept (none is planned twice), the rest are
    planned, everyone gets the message."""
    n, size = 600, 5  # 120 chunks: six batches of ledger rows
    ids = virtual_room(emulator, n)
    settings = {"FANOUT_CHUNK_SIZE": size}
    first = worker_processes(own_redis.url, settings=settings, visibility=VISIBILITY)
    # The survivor runs from the start (as in production) on a queue of its own, so the first
    # worker takes the planning task; it joins the fan-out queue once the plan is under way.
    standby = f"standby-{uuid.uuid4().hex[:8]}@localhost"
    worker_processes(
        own_redis.url, settings=settings, visibility=VISIBILITY, queues="faults-standby", hostname=standby
    )
    control = Celery("faults-planning", broker=own_redis.url, set_as_current=False)
    wait_until(lambda: bool(control.control.ping([standby], timeout=0.5)), 30, "the standby worker")
    client = redis.Redis.from_url(own_redis.url)
    message_id = uuid.uuid4().hex
    publish_send(own_redis.url, message_id)

    def rows() -> int:
        return FanoutChunk.objects.filter(message_id=message_id).count()

    wait_until(lambda: rows() >= 20, 60, "the first batch of chunk rows")
    assert control.control.add_consumer("fanout", destination=[standby], reply=True, timeout=5)
    control.close()
    client.execute_command("CLIENT", "PAUSE", "5000", "WRITE")  # the planner's next publish waits
    try:
        first.kill()
    finally:
        client.execute_command("CLIENT", "UNPAUSE")
    killed_at = time.monotonic()
    row = FanoutBroadcast.objects.get(message_id=message_id)
    written = rows()
    # Inside the plan: chunk rows written, the plan not recorded, the claim held.
    assert not row.planned and row.planner and 20 <= written < n // size, (row.planned, written)

    def claimed_again() -> bool:  # the redelivered planning task took the claim over
        return FanoutBroadcast.objects.filter(message_id=message_id).exclude(planner=row.planner).exists()

    wait_until(claimed_again, 40, "the planning task to be redelivered")
    redelivered = time.monotonic() - killed_at
    delivery, summary, _ = complete_and_report(
        emulator,
        ids,
        message_id,
        own_redis.url,
        killed_at,
        f"soak planning-kill run={run} chunk rows at the kill={written}/{n // size}; "
        f"plan resumed {redelivered:.1f}s, complete {{elapsed}}s after the kill",
    )
    log = (tmp_path / "worker.log").read_text()
    assert "resuming a plan cut short" in log, log[-3000:]
    assert delivery.lost == 0 and delivery.delivered == n
    assert top_level_chunks(message_id) == [str(i) for i in range(n // size)]  # none twice
    assert (summary["targeted"], summary["delivered"], summary["failed"]) == (n, n, 0)
    assert redelivered < 30, f"the plan was resumed {redelivered:.1f}s after the kill"
    with wsgateway_overrides(REDIS_URL=own_redis.url):
        assert get_broadcast_summary(message_id)["chunks"] == n // size
    client.close()
