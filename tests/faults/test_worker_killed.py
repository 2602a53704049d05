"""A worker killed (SIGKILL, with its pool children) in the middle of a chunk loses nothing: the
unacknowledged chunk comes back (``acks_late``, the broker's visibility timeout) and another
worker re-sends it.

The replacement is started with the first one but listens on an unused queue; right after the
kill it is told to consume ``fanout`` (Celery remote control), so the test measures redelivery,
not how long a worker takes to boot on a busy machine.
"""

from __future__ import annotations

import time
import uuid

import pytest
from django.conf import settings

from tests.celery_app import app
from tests.faults.conftest import (
    count_delivery,
    posts_delivered,
    report,
    virtual_room,
    wait_complete,
    wait_until,
)
from wsgateway.tasks.fanout import send_message

pytestmark = [pytest.mark.slow, pytest.mark.django_db(transaction=True), pytest.mark.timeout(30)]

N = 200


def test_killed_worker_mid_chunk_nothing_lost(emulator, clean_redis, worker_processes):
    ids = virtual_room(emulator, N)
    # Slow answers so a chunk of 50 takes ~0.75 s: the kill lands inside one.
    emulator.configure(latency_ms=30)
    options = {"FANOUT_CHUNK_SIZE": 50, "FANOUT_CONCURRENCY": 2}
    standby = f"standby-{uuid.uuid4().hex[:8]}@localhost"
    first = worker_processes(settings.REDIS_URL, settings=options)
    worker_processes(settings.REDIS_URL, settings=options, queues="faults-standby", hostname=standby)
    wait_until(lambda: bool(app.control.ping([standby], timeout=0.5)), 20, "the standby worker")

    message_id = uuid.uuid4().hex
    send_message.delay({"text": "survive"}, channel_name="room", message_id=message_id)
    wait_until(lambda: posts_delivered(emulator) >= 20, 20, "the first deliveries")
    first.kill()
    killed_at = time.monotonic()
    at_kill = posts_delivered(emulator)
    assert at_kill < N, "the broadcast finished before the kill; nothing was tested"

    emulator.configure(latency_ms=0)
    assert app.control.add_consumer("fanout", destination=[standby], reply=True, timeout=5)
    summary = wait_complete(message_id, timeout=20)

    delivery = count_delivery(emulator, ids, message_id)
    report(
        delivery, f"worker killed after {at_kill} deliveries, done {time.monotonic() - killed_at:.1f} s later"
    )
    assert delivery.lost == 0 and delivery.delivered == N
    assert (summary["targeted"], summary["delivered"], summary["failed"]) == (N, N, 0)
