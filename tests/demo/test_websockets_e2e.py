"""End to end with real sockets: ``websockets`` clients → the emulator → Django (live server,
the demo's ChatSocketView) → Redis → a Celery worker → ``@connections`` → the other clients."""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from typing import Any
from urllib.parse import urlencode

import pytest
import websockets.sync.client
from celery.contrib.testing.worker import start_worker
from django.conf import settings
from django.contrib.auth import get_user_model
from django.test import Client, override_settings

from tests.celery_app import app
from worker.chat import ROOM_CHANNELS
from wsgateway.emulator.testing import create_websocket_api
from wsgateway.models import ApiGateway, WebSocketSession

pytestmark = [
    pytest.mark.slow,
    pytest.mark.django_db(transaction=True),
    pytest.mark.urls("tests.demo.urls"),
    pytest.mark.timeout(90),
]

SECRET = "test-secret-current"
WAIT = 20.0


@pytest.fixture
def worker(clean_redis) -> Iterator[None]:
    """A Celery worker in this process on the fan-out queue, short retry backoff (the presence
    broadcast to a connection still inside its ``$connect`` is retried)."""
    conf = dict(settings.WSGATEWAY)
    conf.update(
        FANOUT_RETRY_BACKOFF_SECONDS=0.2,
        FANOUT_RETRY_BACKOFF_MAX_SECONDS=0.5,
        PRESENCE_CHANNELS=[ROOM_CHANNELS],  # as worker/settings.py
    )
    with (
        override_settings(WSGATEWAY=conf),
        start_worker(
            app, pool="solo", concurrency=1, perform_ping_check=False, queues=["fanout"], shutdown_timeout=10
        ),
    ):
        yield


@pytest.fixture
def gateway(emulator, live_server) -> ApiGateway:
    """An API on the emulator whose integrations POST to the live server's ``/ws/``."""
    api = create_websocket_api(emulator.url, f"{live_server.url}/ws/", stage="test", secret=SECRET)
    return ApiGateway.objects.create(
        api_name="e2e",
        api_id=api.api_id,
        api_endpoint=f"ws://127.0.0.1:{emulator.port}/{api.api_id}",
        stage_name="test",
        api_created=True,
    )


class Peer:
    """A logged-in user's socket: token from the token view, cookie on the handshake."""

    def __init__(self, gateway: ApiGateway, username: str, channel: str) -> None:
        self.username = username
        user = get_user_model().objects.create_user(username=username, password="x")
        client = Client()
        client.force_login(user)
        answer = client.post("/ws-token/")
        assert answer.status_code == 200, answer.content
        token = answer.json()["token"]
        cookie = f"{settings.SESSION_COOKIE_NAME}={client.cookies[settings.SESSION_COOKIE_NAME].value}"
        url = f"{gateway.websocket_url}?{urlencode({'token': token, 'channel': channel})}"
        connection = websockets.sync.client.connect(
            url, additional_headers={"Cookie": cookie}, open_timeout=10
        )
        self.socket = connection.__enter__()  # closed by close(), as the context manager would
        self.received: list[dict[str, Any]] = []

    def send(self, frame: dict[str, Any]) -> None:
        self.socket.send(json.dumps(frame))

    def wait_for(self, predicate: Any, timeout: float = WAIT) -> dict[str, Any]:
        """The first message (already received or arriving within ``timeout``) matching."""
        for message in self.received:
            if predicate(message):
                return message
        deadline = time.monotonic() + timeout
        while (remaining := deadline - time.monotonic()) > 0:
            try:
                raw = self.socket.recv(timeout=remaining)
            except TimeoutError:
                break
            message = json.loads(raw)
            self.received.append(message)
            if predicate(message):
                return message
        raise AssertionError(f"{self.username} got no matching message in {timeout} s: {self.received}")

    def drain(self, seconds: float) -> None:
        """Collect whatever arrives during ``seconds``."""
        deadline = time.monotonic() + seconds
        while (remaining := deadline - time.monotonic()) > 0:
            try:
                self.received.append(json.loads(self.socket.recv(timeout=remaining)))
            except TimeoutError:
                return

    def close(self) -> None:
        self.socket.close()


def is_chat(text: str) -> Any:
    return lambda m: m.get("type") == "message" and m.get("text") == text


def test_a_chat_message_reaches_every_socket_in_the_room_once(gateway, worker) -> None:
    alice = Peer(gateway, "alice", "room-lobby")
    bob = Peer(gateway, "bob", "room-lobby")
    carol = Peer(gateway, "carol", "room-lobby")
    dave = Peer(gateway, "dave", "room-random")
    peers = [alice, bob, carol, dave]
    try:
        # Presence: alice hears bob and carol arrive; the list has everyone in the room, not dave.
        for name in ("bob", "carol"):
            alice.wait_for(lambda m, n=name: m.get("type") == "member_added" and m["user"]["name"] == n)
        alice.send({"action": "presence"})
        presence = alice.wait_for(lambda m: m.get("type") == "presence")
        assert [m["name"] for m in presence["members"]] == ["alice", "bob", "carol"]
        assert not [m for m in dave.received if m.get("type") == "member_added"]

        alice.send({"action": "send_message", "text": "  hello room  "})
        got = [peer.wait_for(is_chat("hello room")) for peer in (alice, bob, carol)]
        assert {m["message_id"] for m in got} == {got[0]["message_id"]}
        assert all(m["user"] == "alice" and m["channel"] == "room-lobby" for m in got)

        # Another room hears nothing; nobody gets the message twice.
        dave.drain(1.0)
        assert not [m for m in dave.received if m.get("type") == "message"]
        for peer in (alice, bob, carol):
            peer.drain(0.3)
            assert len([m for m in peer.received if is_chat("hello room")(m)]) == 1
    finally:
        for peer in peers:
            peer.close()


def test_heartbeats_and_bad_messages_are_answered_without_errors(gateway, worker, emulator) -> None:
    alice = Peer(gateway, "alice", "room-lobby")
    try:
        session = WebSocketSession.objects.get(user__username="alice", connected=True)
        before = session.request_count
        alice.send({"action": "heartbeat"})
        alice.send({"action": "send_message", "text": ""})  # refused with a 400, socket stays
        alice.send({"action": "presence"})
        presence = alice.wait_for(lambda m: m.get("type") == "presence")
        assert [m["name"] for m in presence["members"]] == ["alice"]
        assert presence["channel"] == "room-lobby"
        session.refresh_from_db()
        assert session.connected
        assert session.request_count == before + 3
        # The emulator reports an integration error to the client as a frame; there must be none.
        alice.drain(0.5)
        assert not [m for m in alice.received if "Internal server error" in json.dumps(m)]
    finally:
        alice.close()
