"""The lease keeper against a real Redis broker: a live worker's held messages are re-stamped,
an orphan (nobody re-stamps it) goes back to its queue, and an emptied Redis is reported."""

from __future__ import annotations

import logging
import time
from types import SimpleNamespace

import pytest
import redis
from django.conf import settings
from kombu import Connection

from wsgateway.fanout.lease import EPOCH_KEY, LeaseKeeper

pytestmark = pytest.mark.timeout(30)


@pytest.fixture
def broker(clean_redis: redis.Redis):
    with Connection(settings.REDIS_URL) as conn:
        queue = conn.SimpleQueue("lease-test")
        yield clean_redis, queue
        queue.close()


def keeper(lease: float = 5.0) -> LeaseKeeper:
    step = LeaseKeeper(SimpleNamespace())
    step.lease = lease
    return step


def stamp(client: redis.Redis, tag: str) -> float:
    return float(client.zscore("unacked_index", tag) or 0)


def test_held_messages_are_restamped_and_orphans_restored(broker):
    client, queue = broker
    queue.put({"n": 1})
    queue.put({"n": 2})
    held = queue.get(timeout=2)  # this worker holds it: in its channel's delivered set
    orphan = queue.get(timeout=2)
    channel = queue.consumer.channel
    # The second message belongs to "a dead worker": forget it locally, age both stamps.
    del channel.qos._delivered[orphan.delivery_tag]
    old = time.time() - 60
    client.zadd("unacked_index", {held.delivery_tag: old, orphan.delivery_tag: old})

    keeper().beat(channel)

    assert stamp(client, held.delivery_tag) > old + 30  # re-stamped, still unacked
    assert client.hexists("unacked", held.delivery_tag)
    assert not client.hexists("unacked", orphan.delivery_tag)  # restored to its queue
    assert queue.get(timeout=2).payload == {"n": 2}


def test_a_redis_that_lost_its_data_is_logged(broker, caplog):
    client, queue = broker
    step = keeper()
    channel = queue.consumer.channel
    step.beat(channel)
    assert client.get(EPOCH_KEY) == step.epoch
    with caplog.at_level(logging.ERROR, "wsgateway.fanout"):
        step.beat(channel)
        assert not caplog.records
        client.flushdb()  # what a restart without persistence does
        step.beat(channel)
    assert "broker lost its data" in caplog.text


@pytest.mark.django_db(transaction=True)
def test_a_round_replays_the_ledger_of_a_lost_epoch(broker, caplog):
    """The timer's round is the lease beat then the delivery-ledger replay; with nothing of a
    lost epoch in the ledger the replay is silent."""
    client, queue = broker
    step = keeper()
    with caplog.at_level(logging.WARNING, "wsgateway.fanout"):
        step.round(queue.consumer.channel)
    assert client.get(EPOCH_KEY) == step.epoch
    assert not caplog.records
