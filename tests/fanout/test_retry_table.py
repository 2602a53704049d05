"""Each row of the retry table (docs/architecture.md §5), through the emulator with fault injection.

The pipeline runs in the test thread (planner → chunk runner, real Redis, real sockets); retry
chunks are collected with their countdown instead of waiting in the broker.
"""

from __future__ import annotations

import logging
import socket
import uuid

import pytest
from django.utils import timezone

from tests.fanout.conftest import (
    make_gateway,
    make_sessions,
    received,
    virtual_connections,
    wsgateway_overrides,
)
from wsgateway.fanout.delivery import run_chunk
from wsgateway.fanout.planner import make_chunk
from wsgateway.fanout.results import get_broadcast_summary
from wsgateway.models import WebSocketSession

pytestmark = [pytest.mark.django_db, pytest.mark.timeout(60)]


@pytest.fixture
def room(emulator):
    """Eight virtual connections on the emulator with live session rows (created a minute ago)."""
    info = virtual_connections(emulator, 8)
    gateway = make_gateway(emulator, info["apiId"])
    make_sessions(gateway, info["connectionIds"])
    return gateway, info["connectionIds"]


def live():
    return WebSocketSession.objects.filter(connected=True)


def test_2xx_is_delivered_once_with_message_id(emulator, room, inline, caplog):
    _, ids = room
    with caplog.at_level(logging.INFO, logger="wsgateway.fanout"):
        message_id = inline.send(live(), {"text": "hi"})
    assert (
        f"wsgateway.fanout broadcast message_id={message_id} targeted=8 delivered=8 gone=0 retried=0 "
        "failed=0 chunks=1" in caplog.messages
    )
    for connection_id in ids:
        assert received(emulator, connection_id) == [{"text": "hi", "message_id": message_id}]
    summary = get_broadcast_summary(message_id)
    assert summary["targeted"] == 8 and summary["delivered"] == 8
    assert summary["gone"] == summary["failed"] == summary["retried"] == 0
    assert summary["complete"] is True
    assert inline.retries == []


@pytest.mark.parametrize("fault", ["fail_429", "fail_500"])
def test_429_and_5xx_are_retried_with_backoff_then_delivered(emulator, room, inline, fault):
    _, ids = room
    emulator.configure(**{fault: 1.0})
    message_id = inline.send(live(), {"n": 1})
    assert [len(c["connections"]) for c, _ in inline.retries] == [8]
    chunk, countdown = inline.retries[0]
    assert chunk["attempt"] == 1 and chunk["message_id"] == message_id
    assert 0 < countdown <= 1.0  # full jitter under FANOUT_RETRY_BACKOFF_SECONDS * 2**0
    status = "429" if fault == "fail_429" else "500"
    # the one in-chunk quick retry was also refused: two refusals per connection so far
    assert emulator.stats()[f"management.POST.{status}"] == 16
    assert get_broadcast_summary(message_id)["complete"] is False

    emulator.configure(**{fault: 0.0})
    assert inline.run_retries() == 1
    for connection_id in ids:
        assert [m["message_id"] for m in received(emulator, connection_id)] == [message_id]
    summary = get_broadcast_summary(message_id)
    assert (summary["delivered"], summary["retried"], summary["failed"]) == (8, 8, 0)
    assert summary["complete"] is True
    assert inline.results[-1]["broadcast"] == summary  # the completing chunk returns the summary


def test_retries_are_bounded_then_counted_failed(emulator, room, inline):
    emulator.configure(fail_500=1.0)
    with wsgateway_overrides(FANOUT_MAX_RETRIES=2):
        message_id = inline.send(live(), {"n": 1})
        countdowns = []
        for _ in range(5):
            countdowns += [c for _, c in inline.retries]
            if not inline.run_retries():
                break
    summary = get_broadcast_summary(message_id)
    assert summary["failed"] == 8 and summary["failed_by"] == {"500": 8}
    assert summary["retried"] == 16  # two rounds of 8
    assert summary["complete"] is True
    assert len(countdowns) == 2 and all(0 < c <= 60 for c in countdowns)


def test_timeouts_are_retried(emulator, room, inline):
    emulator.configure(latency_ms=400)
    with wsgateway_overrides(FANOUT_REQUEST_TIMEOUT_SECONDS=0.05):
        message_id = inline.send(live(), {"n": 1})
    assert sum(len(c["connections"]) for c, _ in inline.retries) == 8
    emulator.configure(latency_ms=0)
    inline.run_retries()
    summary = get_broadcast_summary(message_id)
    assert summary["delivered"] >= 8 - summary["failed"] and summary["failed"] == 0


def test_connection_errors_are_retried_then_failed(inline):
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]  # closed again: nothing listens there
    from wsgateway.models import ApiGateway

    gateway = ApiGateway.objects.create(
        api_name="dead", api_id="deadbeef00", api_endpoint=f"ws://127.0.0.1:{port}/deadbeef00", stage_name="s"
    )
    make_sessions(gateway, ["Y29ubjE=", "Y29ubjI="])
    with wsgateway_overrides(FANOUT_MAX_RETRIES=1):
        message_id = inline.send(live(), {"n": 1})
        assert sum(len(c["connections"]) for c, _ in inline.retries) == 2
        inline.run_retries()
    summary = get_broadcast_summary(message_id)
    assert summary["failed"] == 2 and summary["failed_by"] == {"no_answer": 2}


def test_410_for_old_session_marks_it_disconnected_in_bulk(emulator, room, inline):
    gateway, ids = room
    make_sessions(gateway, ["Z29uZTE=", "Z29uZTI=", "Z29uZTM="], age_seconds=60)  # unknown to API Gateway
    before = timezone.now()
    message_id = inline.send(live(), {"n": 1})
    summary = get_broadcast_summary(message_id)
    assert (summary["delivered"], summary["gone"], summary["retried"]) == (8, 3, 0)
    assert inline.retries == []
    gone = WebSocketSession.objects.filter(connection_id__in=["Z29uZTE=", "Z29uZTI=", "Z29uZTM="])
    assert all(not s.connected and s.disconnected_at >= before and s.updated_on >= before for s in gone)
    assert WebSocketSession.objects.filter(connection_id__in=ids, connected=True).count() == 8


def test_410_for_young_session_is_retried_within_the_grace_period(emulator, room, inline):
    gateway, _ = room
    make_sessions(gateway, ["eW91bmc="], age_seconds=0)  # its $connect may still be in flight
    message_id = inline.send(live().filter(connection_id="eW91bmc="), {"n": 1})
    assert [c["connections"][0][0] for c, _ in inline.retries] == ["eW91bmc="]
    assert WebSocketSession.objects.get(connection_id="eW91bmc=").connected is True
    # once it is older than the grace period, a 410 is final
    with wsgateway_overrides(GONE_GRACE_SECONDS=0):
        inline.run_retries()
    summary = get_broadcast_summary(message_id)
    assert (summary["retried"], summary["gone"]) == (1, 1)
    assert WebSocketSession.objects.get(connection_id="eW91bmc=").connected is False


def test_403_wrong_stage_is_not_retried(emulator, inline):
    info = virtual_connections(emulator, 3)
    gateway = make_gateway(emulator, info["apiId"], stage="not-the-stage")
    make_sessions(gateway, info["connectionIds"])
    message_id = inline.send(live(), {"n": 1})
    summary = get_broadcast_summary(message_id)
    assert summary["failed"] == 3 and summary["failed_by"] == {"403": 3}
    assert inline.retries == [] and summary["complete"] is True
    assert WebSocketSession.objects.filter(connected=True).count() == 3


def test_413_from_the_api_is_not_retried(emulator, room, inline):
    gateway, ids = room
    chunk = make_chunk(
        message_id=f"big-{uuid.uuid4().hex}",  # unique: a finished chunk of this id is skipped
        op="post",
        body="x" * (128 * 1024 + 1),
        endpoint=gateway.management_endpoint_url,
        chunk="0",
        connections=[[i, 0.0] for i in ids[:2]],
    )
    result = run_chunk(chunk, inline.requeue)
    assert result["failed"] == 2 and result["failed_by"] == {"413": 2}
    assert inline.retries == []


def test_a_finished_chunk_is_not_sent_again(emulator, room, inline):
    gateway, ids = room
    message_id = f"once-{uuid.uuid4().hex}"  # unique: the other scheme's run finished its own
    chunk = make_chunk(
        message_id=message_id,
        op="post",
        body=f'{{"message_id":"{message_id}"}}',
        endpoint=gateway.management_endpoint_url,
        chunk="0",
        connections=[[i, 0.0] for i in ids],
    )
    first = run_chunk(chunk, inline.requeue)
    again = run_chunk(chunk, inline.requeue)
    assert first["delivered"] == 8 and again["skipped"] is True
    assert emulator.stats()["management.POST.200"] == 8
    assert get_broadcast_summary(message_id)["delivered"] == 8


def test_recipients_without_an_endpoint_are_reported_failed(inline):
    make_sessions(None, ["bm9ndw=="])
    message_id = inline.send(live(), {"n": 1})
    summary = get_broadcast_summary(message_id)
    assert summary["failed_by"] == {"no_endpoint": 1} and summary["complete"] is True


def test_a_planner_run_twice_sends_and_counts_once(emulator, room, inline):
    from wsgateway.fanout.broadcast import broadcast
    from wsgateway.fanout.messages import encode_message

    message_id, body = encode_message({"n": 1})
    for _ in range(2):  # e.g. the broadcast task redelivered after its worker died
        broadcast(live(), message_id=message_id, op="post", body=body, emit=inline.run)
    summary = get_broadcast_summary(message_id)
    assert (summary["targeted"], summary["delivered"], summary["chunks"]) == (8, 8, 1)
    assert emulator.stats()["management.POST.200"] == 8


def test_missing_configuration_fails_the_chunk_visibly(emulator, room, inline, settings):
    settings.AWS_REGION_NAME = None
    settings.AWS_GATEWAY_REGION_NAME = None
    message_id = inline.send(live(), {"n": 1})
    summary = get_broadcast_summary(message_id)
    assert summary["failed_by"] == {"configuration": 8} and summary["complete"] is True
