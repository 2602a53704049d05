"""The public sending API end to end: real broker (Redis), an in-thread Celery worker, the
emulator over real sockets, and real WebSocket clients where a socket matters."""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator

import pytest
import websockets.exceptions
from celery.contrib.testing.worker import start_worker
from django.contrib.auth import get_user_model
from django.contrib.auth.models import AnonymousUser
from django.db import transaction

from tests.celery_app import app
from tests.fanout.conftest import (
    make_gateway,
    make_sessions,
    received,
    virtual_connections,
    wait_complete,
    wait_until,
    ws_connect,
)
from wsgateway import sending
from wsgateway.emulator.testing import create_websocket_api
from wsgateway.models import WebSocketSession
from wsgateway.tasks.fanout import disconnect, send_message

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.timeout(60)]


@pytest.fixture
def worker(clean_redis, fast_retries) -> Iterator[None]:
    """A Celery worker on the ``fanout`` queue in this process (pool solo), real Redis broker."""
    with start_worker(
        app, pool="solo", concurrency=1, perform_ping_check=False, queues=["fanout"], shutdown_timeout=10
    ):
        yield


@pytest.fixture
def room(emulator):
    info = virtual_connections(emulator, 6)
    gateway = make_gateway(emulator, info["apiId"])
    ids = info["connectionIds"]
    make_sessions(gateway, ids[:4], channel="room")
    make_sessions(gateway, ids[4:], channel="other")
    return gateway, ids


def message_ids(emulator, connection_id):
    return [m["message_id"] for m in received(emulator, connection_id)]


def test_send_message_delay_to_a_channel_excluding_the_sender(emulator, room, worker):
    _, ids = room
    result = send_message.delay({"text": "hello"}, channel_name="room", exclude=ids[0])
    message_id = result.get(timeout=20)["message_id"]
    summary = wait_complete(message_id)
    assert (summary["targeted"], summary["delivered"]) == (3, 3)
    assert message_ids(emulator, ids[0]) == []
    assert all(message_ids(emulator, c) == [message_id] for c in ids[1:4])
    assert all(message_ids(emulator, c) == [] for c in ids[4:])


def test_send_message_delay_hands_back_the_message_id_and_a_plan_not_zero_totals(emulator, room, worker):
    _, ids = room
    result = send_message.delay({"text": "hello"}, channel_name="room")
    message_id = result.message_id  # at once, before the worker ran
    assert isinstance(message_id, str) and message_id
    plan = result.get(timeout=20)
    assert plan["message_id"] == message_id
    assert (plan["status"], plan["targeted"], plan["chunks"]) == ("planned", 4, 1)
    assert not {"delivered", "complete", "failed"} & set(plan)  # no totals that read as "none sent"
    assert wait_complete(message_id)["delivered"] == 4
    assert all(message_ids(emulator, c) == [message_id] for c in ids[:4])

    chosen = send_message.delay({"text": "mine", "message_id": "caller-id"}, connection_id=ids[4])
    assert chosen.message_id == "caller-id" == chosen.get(timeout=20)["message_id"]
    kick = disconnect.delay(connection_id=ids[5])
    assert kick.message_id == kick.get(timeout=20)["message_id"]
    assert wait_complete(kick.message_id)["delivered"] == 1


def test_model_and_queryset_send_message_enqueue_and_deliver(emulator, room, worker):
    _, ids = room
    handle = WebSocketSession.objects.get(connection_id=ids[4]).send_message({"to": "one"})
    assert isinstance(handle, sending.SendHandle) and handle.task_id
    assert wait_complete(handle.message_id)["delivered"] == 1
    compiled = WebSocketSession.objects.filter(channel_name="other").send_message({"to": "other"})
    assert compiled.task_id is not None  # compiled to a declarative target
    streamed = WebSocketSession.objects.filter(channel_name__in=["room"]).send_message({"to": "room"})
    assert streamed.task_id is None  # streamed by the caller
    sliced = WebSocketSession.objects.order_by("-id")[:3].send_message(
        {"to": "last three"},
    )
    assert wait_complete(compiled.message_id)["delivered"] == 2
    assert wait_complete(streamed.message_id)["delivered"] == 4
    assert wait_complete(sliced.message_id)["delivered"] == 3
    # Separate broadcasts take different paths (a compiled target is planned by one more task
    # than a caller-streamed one), so only what arrived is fixed, not the order.
    assert sorted(message_ids(emulator, ids[4])) == sorted(
        [handle.message_id, compiled.message_id, sliced.message_id]
    )
    assert message_ids(emulator, ids[0]) == [streamed.message_id]
    assert sorted(message_ids(emulator, ids[3])) == sorted([streamed.message_id, sliced.message_id])


def test_per_user_send_and_kick(emulator, worker):
    info = virtual_connections(emulator, 4)
    gateway = make_gateway(emulator, info["apiId"])
    ids = info["connectionIds"]
    alice = get_user_model().objects.create_user("alice")
    bob = get_user_model().objects.create_user("bob")
    make_sessions(gateway, ids[:3], user=alice)
    make_sessions(gateway, ids[3:], user=bob)

    handle = sending.send_to_user(alice, {"for": "alice"}, exclude=[ids[2]])
    assert wait_complete(handle.message_id)["delivered"] == 2
    assert [bool(message_ids(emulator, c)) for c in ids] == [True, True, False, False]

    kick = sending.disconnect_user(alice.pk)
    summary = wait_complete(kick.message_id)
    assert summary["delivered"] == 3
    assert set(WebSocketSession.objects.filter(connected=True).values_list("connection_id", flat=True)) == {
        ids[3]
    }
    live = {c["connectionId"] for c in _connections(emulator)}
    assert live == {ids[3]}


def _connections(emulator):
    from tests.fanout.conftest import admin

    return admin(emulator, "connections")["items"]


def test_nothing_is_enqueued_when_the_transaction_rolls_back(emulator, room, clean_redis):
    _, ids = room
    with pytest.raises(RuntimeError), transaction.atomic():
        sending.send_to_channel("room", {"never": True})
        sending.disconnect_connection(ids[0])
        raise RuntimeError("rolled back")
    assert clean_redis.llen("fanout") == 0
    with transaction.atomic():
        handle = sending.send_to_channel("room", {"sent": True})
        assert clean_redis.llen("fanout") == 0  # not before commit
    assert clean_redis.llen("fanout") == 1
    assert handle.task_id


def _subscribes(client) -> int:
    return int(client.info("commandstats").get("cmdstat_subscribe", {}).get("calls", 0))


def _queued_headers(client) -> list[dict]:
    return [json.loads(raw)["headers"] for raw in client.lrange("fanout", 0, -1)]


def test_a_send_stores_no_plan_result_and_does_not_subscribe_for_one(clean_redis):
    """A send is followed by its message id (SendHandle.summary): its planning task is published
    with ignore_result, so the caller does not subscribe to the result backend (a round trip
    before the publish, on a chat message's path) and the worker stores nothing. Celery's own
    send_message.delay keeps its stored plan (the caller may .get() it)."""
    before = _subscribes(clean_redis)
    handle = sending.send_to_channel("room", {"followed": "by id"})
    (headers,) = _queued_headers(clean_redis)
    assert headers["id"] == handle.task_id and headers["ignore_result"] is True
    assert _subscribes(clean_redis) == before
    clean_redis.delete("fanout")
    delayed = send_message.delay({"followed": "by result"}, channel_name="room")
    (headers,) = _queued_headers(clean_redis)
    assert headers["id"] == delayed.id and headers["ignore_result"] is False
    assert _subscribes(clean_redis) == before + 1


def test_a_message_that_can_never_be_delivered_is_refused_at_enqueue(clean_redis):
    from wsgateway.exceptions import PayloadTooLargeError

    with pytest.raises(PayloadTooLargeError, match="at most 131072"):
        sending.send_to_channel("room", {"blob": "x" * (128 * 1024)})
    with pytest.raises(TypeError, match="JSON"):
        sending.send_to_channel("room", {"when": object()})
    with pytest.raises(TypeError, match="dict"):
        sending.send_to_channel("room", ["not", "a", "dict"])  # type: ignore[arg-type]
    assert clean_redis.llen("fanout") == 0


def test_caller_chosen_message_id_is_kept(emulator, room, worker):
    _, ids = room
    handle = sending.send_to_connection(ids[0], {"message_id": "chosen-1", "x": 1})
    assert handle.message_id == "chosen-1"
    wait_complete("chosen-1")
    assert received(emulator, ids[0]) == [{"message_id": "chosen-1", "x": 1}]


def test_welcome_message_from_the_connect_handler_arrives(emulator, recording_backend, worker):
    """API Gateway answers 410 until $connect returns; the young-410 grace retries until it has."""
    api = create_websocket_api(emulator.url, recording_backend.url("ws/"))
    gateway = make_gateway(emulator, api.api_id, stage=api.stage)
    # The connect handler is still running until the worker's first POST was answered 410 (a
    # fixed delay raced the worker on a loaded machine: a late first POST found the socket open).
    handler_done = threading.Event()
    recording_backend.respond("/ws/connect", hold=handler_done)
    frames: list[str] = []
    errors: list[BaseException] = []

    def client() -> None:
        try:
            with ws_connect(emulator, emulator.ws_url(api.api_id, api.stage), open_timeout=15) as ws:
                frames.append(str(ws.recv(timeout=15)))
        except BaseException as err:
            errors.append(err)

    thread = threading.Thread(target=client)
    thread.start()
    connect = recording_backend.wait_for(lambda r: r.path == "/ws/connect", timeout=10)
    connection_id = connect.header("connectionId")
    WebSocketSession.objects.create(connection_id=connection_id, api_gateway=gateway, channel_name="room")
    handle = sending.send_to_connection(connection_id, {"welcome": True})
    wait_until(lambda: emulator.stats().get("management.POST.410", 0) >= 1, 20, "a 410 during $connect")
    handler_done.set()
    thread.join(20)
    assert not errors, errors
    assert frames and '"welcome":true' in frames[0] and handle.message_id in frames[0]
    summary = wait_complete(handle.message_id)
    assert summary["delivered"] == 1 and summary["retried"] >= 1 and summary["gone"] == 0
    assert emulator.stats().get("management.POST.410", 0) >= 1


def test_kick_closes_the_socket(emulator, recording_backend, worker):
    api = create_websocket_api(emulator.url, recording_backend.url("ws/"))
    gateway = make_gateway(emulator, api.api_id, stage=api.stage)
    with ws_connect(emulator, emulator.ws_url(api.api_id, api.stage), open_timeout=10) as ws:
        connection_id = recording_backend.wait_for(lambda r: r.path == "/ws/connect").header("connectionId")
        WebSocketSession.objects.create(connection_id=connection_id, api_gateway=gateway)
        handle = sending.disconnect_connection(connection_id)
        with pytest.raises(websockets.exceptions.ConnectionClosed):
            ws.recv(timeout=15)
    assert wait_complete(handle.message_id)["delivered"] == 1
    assert WebSocketSession.objects.get(connection_id=connection_id).connected is False


@pytest.mark.parametrize("nobody", [None, "", AnonymousUser()])
def test_sending_to_nobody_is_refused_not_a_broadcast(clean_redis, nobody):
    with pytest.raises(ValueError, match="every session"):
        sending.send_to_user(nobody, {"private": True})
    with pytest.raises(ValueError, match="every session"):
        sending.disconnect_user(nobody)
    with pytest.raises(ValueError, match="every session"):
        sending.send_to_gateway(nobody, {"x": 1})
    assert clean_redis.llen("fanout") == 0


def test_kick_of_a_row_already_marked_disconnected_still_closes_the_socket(
    emulator, recording_backend, worker
):
    # The view marks a session disconnected at once (inactive user, changed password) and then
    # enqueues the kick: API Gateway still holds the socket, so the DELETE must go out anyway.
    api = create_websocket_api(emulator.url, recording_backend.url("ws/"))
    gateway = make_gateway(emulator, api.api_id, stage=api.stage)
    with ws_connect(emulator, emulator.ws_url(api.api_id, api.stage), open_timeout=10) as ws:
        connection_id = recording_backend.wait_for(lambda r: r.path == "/ws/connect").header("connectionId")
        WebSocketSession.objects.create(connection_id=connection_id, api_gateway=gateway, connected=False)
        handle = sending.disconnect_connection(connection_id)
        with pytest.raises(websockets.exceptions.ConnectionClosed):
            ws.recv(timeout=15)
    assert wait_complete(handle.message_id)["delivered"] == 1
    assert emulator.stats().get("management.DELETE.204", 0) == 1
