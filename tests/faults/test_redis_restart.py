"""Redis (broker, results, the shared limiter and the broadcast summaries) is killed and
restarted in the middle of a broadcast: after reconnecting, the broadcast completes.

The test runs its own redis-server (AOF, fsync always) on a free port, never the shared one.
"""

from __future__ import annotations

import time
import uuid

import pytest
from celery import Celery

from tests.faults.conftest import (
    count_delivery,
    posts_delivered,
    report,
    virtual_room,
    wait_complete,
    wait_until,
)
from tests.maintenance.emulated import wsgateway_overrides
from wsgateway.tasks.fanout import send_message

pytestmark = [pytest.mark.slow, pytest.mark.django_db(transaction=True), pytest.mark.timeout(30)]

N = 300


def test_broadcast_completes_after_redis_restarts(emulator, own_redis, worker_processes):
    ids = virtual_room(emulator, N)
    emulator.configure(latency_ms=20)
    worker_processes(own_redis.url, settings={"FANOUT_CHUNK_SIZE": 50, "FANOUT_CONCURRENCY": 2})

    message_id = uuid.uuid4().hex
    # A Celery app of its own for this broker: the suite's app keeps its producer pool on the
    # shared Redis (a pool bound to this server would outlive it).
    sender = Celery("faults-redis-restart", broker=own_redis.url, set_as_current=False)
    try:
        sender.send_task(
            send_message.name,
            args=[{"text": "through the outage"}],
            kwargs={"channel_name": "room", "message_id": message_id},
            queue="fanout",
        )
    finally:
        sender.close()
    wait_until(lambda: posts_delivered(emulator) >= 30, 20, "the first deliveries")
    own_redis.kill()
    at_kill = posts_delivered(emulator)
    time.sleep(0.5)
    own_redis.start()
    assert at_kill < N, "the broadcast finished before Redis went down; nothing was tested"

    emulator.configure(latency_ms=0)
    with wsgateway_overrides(REDIS_URL=own_redis.url):
        summary = wait_complete(message_id, timeout=20)

    delivery = count_delivery(emulator, ids, message_id)
    report(delivery, f"redis restarted after {at_kill} deliveries")
    assert delivery.lost == 0 and delivery.delivered == N
    assert (summary["targeted"], summary["delivered"], summary["failed"]) == (N, N, 0)
