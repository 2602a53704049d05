"""The planning half of the delivery ledger (wsgateway.fanout.plan_ledger): a send is recorded in
the caller's transaction before its planning task is published, a publish that fails or a task
that is never claimed is published again, and planning is claimed so that it never runs twice.

Real Redis (the test broker) and database; tests/faults/test_planning_lost.py kills the real
servers and workers.
"""

from __future__ import annotations

import logging
import uuid
from datetime import timedelta
from typing import Any

import pytest
import redis
from django.db import transaction
from django.utils import timezone
from kombu import Connection

from tests.faults.conftest import free_port, virtual_room
from tests.maintenance.emulated import wsgateway_overrides
from wsgateway import sending
from wsgateway.fanout import plan_ledger
from wsgateway.fanout.broadcast import broadcast
from wsgateway.fanout.messages import encode_message
from wsgateway.fanout.planner import POST, Chunk
from wsgateway.ledger_models import FanoutBroadcast, FanoutChunk
from wsgateway.models import WebSocketSession
from wsgateway.tasks.fanout import send_message

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.timeout(60)]


def queued(client: redis.Redis, message_id: str) -> int:
    """Planning tasks of ``message_id`` on the test broker's ``fanout`` queue."""
    return sum(1 for raw in client.lrange("fanout", 0, -1) if message_id.encode() in raw)


class Published(list[tuple[str, list[Any], dict[str, Any]]]):
    """``replay_plans``'s publish: records instead of publishing."""

    def __call__(self, name: str, args: list[Any], kwargs: dict[str, Any]) -> None:
        self.append((name, args, kwargs))


def test_a_send_in_a_transaction_is_recorded_in_it_and_published_on_commit(clean_redis):
    with transaction.atomic():
        handle = sending.send_to_channel("room", {"text": "hi"})
        row = FanoutBroadcast.objects.get(message_id=handle.message_id)
        assert (row.task, row.planned, row.enqueued_on is not None) == (
            "wsgateway.send_to_sessions",
            False,
            True,
        )
        assert queued(clean_redis, handle.message_id) == 0  # not before the commit
    assert queued(clean_redis, handle.message_id) == 1

    with pytest.raises(RuntimeError), transaction.atomic():
        dropped = sending.send_to_channel("room", {"text": "rolled back"})
        raise RuntimeError
    assert not FanoutBroadcast.objects.filter(message_id=dropped.message_id).exists()
    assert queued(clean_redis, dropped.message_id) == 0


def test_delay_on_commit_records_the_send_in_the_transaction(clean_redis):
    message_id = uuid.uuid4().hex
    with transaction.atomic():
        send_message.delay_on_commit({"text": "hi"}, channel_name="room", message_id=message_id)
        assert FanoutBroadcast.objects.filter(message_id=message_id, planned=False).exists()
        assert queued(clean_redis, message_id) == 0
    assert queued(clean_redis, message_id) == 1


def test_a_publish_that_fails_after_commit_is_published_by_the_replay(clean_redis):
    message_id = uuid.uuid4().hex
    args, kwargs = ({"text": "hi"},), {"channel_name": "room", "message_id": message_id}
    plan_ledger.record_request(message_id, send_message.name, args, kwargs)
    dead = Connection(
        f"redis://127.0.0.1:{free_port()}/0", connect_timeout=1, transport_options={"max_retries": 0}
    )
    # What the on-commit publish does when the broker is away: no exception reaches the caller.
    assert send_message.publish_recorded(args, kwargs, message_id, connection=dead, retry=False) is None
    assert FanoutBroadcast.objects.get(message_id=message_id).enqueued_on is None

    published = Published()
    assert plan_ledger.replay_plans(published, queue_idle=lambda: False) == 1
    assert published == [(send_message.name, [{"text": "hi"}], kwargs)]
    assert plan_ledger.replay_plans(published, queue_idle=lambda: True) == 0  # published: not again


def test_a_plan_never_claimed_is_published_again_once_the_queue_is_idle_then_given_up(caplog):
    message_id = uuid.uuid4().hex
    plan_ledger.record_request(message_id, send_message.name, [{"text": "hi"}], {"message_id": message_id})
    published = Published()
    assert plan_ledger.replay_plans(published, queue_idle=lambda: True) == 0  # just published

    def age() -> None:
        past = timezone.now() - plan_ledger.REPUBLISH_AFTER - timedelta(seconds=1)
        FanoutBroadcast.objects.filter(message_id=message_id).update(enqueued_on=past)

    age()
    assert plan_ledger.replay_plans(published, queue_idle=lambda: False) == 0  # it may still be queued
    for _ in range(plan_ledger.MAX_REPUBLISHES):
        assert plan_ledger.replay_plans(published, queue_idle=lambda: True) == 1
        age()
    assert plan_ledger.replay_plans(published, queue_idle=lambda: True) == 0
    assert len(published) == plan_ledger.MAX_REPUBLISHES
    assert FanoutBroadcast.objects.get(message_id=message_id).open is False
    assert "never planned; given up" in caplog.text


def test_a_live_claim_is_left_alone_and_a_stale_one_is_taken_over(emulator, clean_redis):
    virtual_room(emulator, 10)
    message_id, body = encode_message({"text": "claimed"}, uuid.uuid4().hex)
    first = plan_ledger.claim(message_id, POST, body, task_id="task-a")
    assert isinstance(first, plan_ledger.Claim)
    assert plan_ledger.claim(message_id, POST, body, task_id="task-b") is None  # live: not twice

    published = Published()
    FanoutBroadcast.objects.filter(message_id=message_id).update(enqueued_on=None, task=send_message.name)
    assert plan_ledger.replay_plans(published, queue_idle=lambda: True) == 0  # its planner is alive

    stale = timezone.now() - plan_ledger.CLAIM_STALE - timedelta(seconds=1)
    FanoutBroadcast.objects.filter(message_id=message_id).update(planner_seen=stale)
    second = plan_ledger.claim(message_id, POST, body, task_id="task-b")
    assert isinstance(second, plan_ledger.Claim) and second.token != first.token
    with pytest.raises(plan_ledger.PlanTakenOver):
        first.renew(0)  # the first planner stops at its next batch


def test_a_plan_cut_short_is_resumed_without_planning_a_chunk_twice(emulator, clean_redis):
    ids = virtual_room(emulator, 100)
    live = WebSocketSession.objects.filter(connected=True, channel_name="room")
    message_id, body = encode_message({"text": "resumed"}, uuid.uuid4().hex)
    emitted: list[Chunk] = []

    class Killed(Exception):
        pass

    def dies_after_the_first_batch(chunk: Chunk) -> None:
        if len(emitted) == 25:  # the first batch (20) is published, the second is written
            raise Killed
        emitted.append(chunk)

    with wsgateway_overrides(FANOUT_CHUNK_SIZE=2), pytest.raises(Killed):
        broadcast(
            live, message_id=message_id, op=POST, body=body, emit=dies_after_the_first_batch, task_id="t1"
        )
    assert FanoutChunk.objects.filter(message_id=message_id).count() == 40
    assert not FanoutBroadcast.objects.get(message_id=message_id).planned

    resumed: list[Chunk] = []
    with wsgateway_overrides(FANOUT_CHUNK_SIZE=2):  # the redelivered task: same task id
        outcome = broadcast(
            live, message_id=message_id, op=POST, body=body, emit=resumed.append, task_id="t1"
        )
    assert (outcome["targeted"], outcome["chunks"]) == (100, 50)
    # Published again: the second batch (its publishing was cut short), then the 10 new chunks.
    assert [c["chunk"] for c in resumed] == [str(i) for i in range(20, 50)]
    names = [c["chunk"] for c in emitted + resumed]
    assert sorted(conn[0] for chunk in emitted[:20] + resumed for conn in chunk["connections"]) == sorted(ids)
    assert len(set(names)) == 50 and FanoutChunk.objects.filter(message_id=message_id).count() == 50

    again: list[Chunk] = []
    outcome = broadcast(live, message_id=message_id, op=POST, body=body, emit=again.append, task_id="t2")
    assert again == [] and outcome["already"] and outcome["targeted"] == 100  # planned: not again


def test_a_planning_task_that_fails_for_good_is_logged_and_not_published_again(caplog):
    message_id = uuid.uuid4().hex
    args, kwargs = [{"not json": {1, 2}}], {"channel_name": "room", "message_id": message_id}
    plan_ledger.record_request(message_id, send_message.name, [{}], kwargs)  # as the caller did
    with caplog.at_level(logging.ERROR, logger="wsgateway.fanout"):
        result = send_message.apply(args, kwargs)  # the worker's run: encoding fails for good
    assert result.failed()
    assert f"broadcast message_id={message_id} failed while planning" in caplog.text
    row = FanoutBroadcast.objects.get(message_id=message_id)
    assert (row.open, row.planned) == (False, False)
    FanoutBroadcast.objects.filter(message_id=message_id).update(enqueued_on=None)
    assert plan_ledger.replay_plans(Published(), queue_idle=lambda: True) == 0
