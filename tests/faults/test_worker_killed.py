"""A worker killed (SIGKILL, with its pool children) in the middle of a chunk loses nothing: the
unacknowledged chunk comes back to the next worker (``acks_late``), which re-sends it."""

from __future__ import annotations

import uuid

import pytest
from django.conf import settings

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
    first = worker_processes(settings.REDIS_URL, settings=options)

    message_id = uuid.uuid4().hex
    send_message.delay({"text": "survive"}, channel_name="room", message_id=message_id)
    wait_until(lambda: posts_delivered(emulator) >= 20, 20, "the first deliveries")
    first.kill()
    at_kill = posts_delivered(emulator)
    assert at_kill < N, "the broadcast finished before the kill; nothing was tested"

    emulator.configure(latency_ms=0)
    worker_processes(settings.REDIS_URL, settings=options)
    summary = wait_complete(message_id, timeout=20)

    delivery = count_delivery(emulator, ids, message_id)
    report(delivery, f"worker killed after {at_kill} deliveries")
    assert delivery.lost == 0 and delivery.delivered == N
    assert (summary["targeted"], summary["delivered"], summary["failed"]) == (N, N, 0)
