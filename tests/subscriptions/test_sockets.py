"""Subscriptions and presence over real sockets: ``websockets`` clients → the emulator → Django
(``live_server``) → Redis → a Celery worker (in this process, pool solo) → the emulator's
``@connections`` → the clients.

The worker runs one task at a time in queue order, so a "sync" message sent after an event was
enqueued arrives after that event: receiving the sync without the event proves its absence
without a fixed sleep. A ``$disconnect`` has released its subscriptions and presence (and enqueued
its events) when the view sends ``websocket_disconnected``, which the tests wait for.
"""

from __future__ import annotations

import itertools
import json
import time
from collections.abc import Callable, Iterator
from contextlib import ExitStack
from dataclasses import dataclass, field
from typing import Any

import pytest
from celery.contrib.testing.worker import start_worker
from django.utils import timezone
from websockets.typing import Origin

from tests.celery_app import app
from tests.fanout.conftest import ws_connect
from tests.ingestion.conftest import ORIGIN, SECRET, Browser, make_browser
from tests.subscriptions.conftest import PRESENCE_PATTERN, wsgateway_overrides
from tests.waiting import wait_until
from wsgateway import maintenance, sending, signals
from wsgateway.emulator.pytest_plugin import emulator  # noqa: F401  (fixture)
from wsgateway.emulator.server import EmulatorServer
from wsgateway.emulator.testing import create_websocket_api
from wsgateway.fanout.results import get_broadcast_summary
from wsgateway.models import ApiGateway, ChannelPermission, ChannelSubscription, WebSocketSession

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.timeout(120)]

ROOM = "presence-room"
ANSWERS = {"subscribe": "subscribed", "unsubscribe": "unsubscribed", "presence": "presence"}
_sync = itertools.count(1)


@pytest.fixture
def stack(clean_redis: Any) -> Iterator[ExitStack]:
    """Member events on ``presence-*``, a fan-out worker, and an ExitStack for the sockets."""
    overrides = wsgateway_overrides(
        PRESENCE_CHANNELS=[PRESENCE_PATTERN],
        CONNECT_RATE_LIMIT_ATTEMPTS=1000,
        FANOUT_RETRY_BACKOFF_SECONDS=0.2,
        FANOUT_RETRY_BACKOFF_MAX_SECONDS=0.5,
    )
    with ExitStack() as resources, overrides:
        resources.enter_context(
            start_worker(
                app,
                pool="solo",
                concurrency=1,
                perform_ping_check=False,
                queues=["fanout"],
                shutdown_timeout=10,
            )
        )
        yield resources


@dataclass
class Api:
    emulator: EmulatorServer
    url: str
    stack: ExitStack
    disconnected: list[str] = field(default_factory=list)

    def open(self, browser: Browser, channel: str) -> Tab:
        """A tab of ``browser`` with a socket on ``channel``."""
        url = f"{self.url}?token={browser.token()}&channel={channel}"
        ws = self.stack.enter_context(
            ws_connect(
                self.emulator,
                url,
                origin=Origin(ORIGIN),
                additional_headers={"Cookie": f"sessionid={browser.session_key}"},
                open_timeout=10,
            )
        )
        session = WebSocketSession.objects.filter(user=browser.user).order_by("-pk").first()
        assert session is not None and session.channel_name == channel
        return Tab(ws, session.connection_id)

    def close(self, tab: Tab) -> None:
        """Close ``tab`` and wait until Django has handled its ``$disconnect``."""
        tab.ws.close()
        wait_until(lambda: tab.connection_id in self.disconnected, 20, f"$disconnect of {tab.connection_id}")


def make_api(emu: EmulatorServer, live_server: Any, stack: ExitStack, routes: tuple[str, ...]) -> Api:
    # No route responses, as wsgateway provisions it: answers come back as messages.
    api = create_websocket_api(
        emu.url, f"{live_server.url}/ws/", stage="production", routes=routes, secret=SECRET
    )
    ApiGateway.objects.create(
        api_name=f"subs-{api.api_id}",
        api_id=api.api_id,
        api_endpoint=emu.ws_url(api.api_id, api.stage).rsplit("/", 1)[0],
        stage_name=api.stage,
        api_created=True,
    )
    made = Api(emu, emu.ws_url(api.api_id, api.stage), stack)

    def record(sender: Any, session: WebSocketSession, **kwargs: Any) -> None:
        made.disconnected.append(session.connection_id)

    signals.websocket_disconnected.connect(record, weak=False)
    stack.callback(signals.websocket_disconnected.disconnect, record)
    return made


@pytest.fixture
def api(emulator: EmulatorServer, live_server: Any, stack: ExitStack) -> Api:  # noqa: F811
    return make_api(emulator, live_server, stack, ("$connect", "$disconnect", "$default"))


@dataclass
class Tab:
    """One socket: frames it received but no test asked for yet wait in ``backlog``."""

    ws: Any
    connection_id: str
    backlog: list[dict[str, Any]] = field(default_factory=list)

    def next(self, wanted: Callable[[dict[str, Any]], bool], timeout: float = 20.0) -> dict[str, Any]:
        for n, frame in enumerate(self.backlog):
            if wanted(frame):
                return self.backlog.pop(n)
        deadline = time.monotonic() + timeout
        for _ in range(1000):
            left = deadline - time.monotonic()
            if left <= 0:
                break
            frame = json.loads(self.ws.recv(timeout=left))
            if wanted(frame):
                return frame
            self.backlog.append(frame)
        raise AssertionError(f"{self.connection_id}: nothing wanted within {timeout}s; got {self.backlog}")

    def ask(self, action: str, **body: Any) -> dict[str, Any]:
        """Send a built-in channel message and return the answer the view sends back as a message
        (its ``message_id`` removed)."""
        self.ws.send(json.dumps({"action": action, **body}))
        wanted = {ANSWERS[action], "error"}
        frame = self.next(lambda f: f.get("type") in wanted and f.get("action", action) == action)
        assert isinstance(frame.pop("message_id"), str)
        return frame

    def members_seen(self) -> list[tuple[str, str]]:
        return [
            (f["type"], f["user"]["name"]) for f in self.backlog if f.get("type", "").startswith("member_")
        ]


def wait_complete(message_id: str) -> dict[str, Any]:
    def complete() -> bool:
        return bool((get_broadcast_summary(message_id) or {}).get("complete"))

    wait_until(complete, 30, f"broadcast {message_id}")
    return get_broadcast_summary(message_id) or {}


def sync(channel: str, *tabs: Tab) -> None:
    """Send a sync message to ``channel`` and wait until every tab has it: everything enqueued
    for them before it has arrived."""
    n = next(_sync)
    sending.send_to_channel(channel, {"type": "sync", "n": n})
    for tab in tabs:
        tab.next(lambda f: f.get("type") == "sync" and f.get("n") == n)


def test_subscribe_unsubscribe_and_permissions_over_a_socket(api: Api) -> None:
    alice = make_browser("alice")
    tab = api.open(alice, "lobby")
    ChannelPermission.objects.create(channel_name="staff-news", access=ChannelPermission.Access.STAFF_ONLY)

    assert tab.ask("subscribe", channel="news") == {"type": "subscribed", "channel": "news"}
    handle = sending.send_to_channel("news", {"type": "news", "n": 1})
    assert tab.next(lambda f: f.get("type") == "news")["message_id"] == handle.message_id

    refused = tab.ask("subscribe", channel="staff-news")
    assert refused["error"] == "channel_forbidden"
    assert tab.ask("subscribe", channel="bad name!")["error"] == "invalid_channel"
    assert list(ChannelSubscription.objects.values_list("channel_name", flat=True)) == ["news"]

    answer = tab.ask("unsubscribe", channel="news")
    assert answer == {"type": "unsubscribed", "channel": "news", "subscribed": False}
    summary = wait_complete(sending.send_to_channel("news", {"type": "news", "n": 2}).message_id)
    assert summary["targeted"] == 0  # nobody is on the channel any more: nothing to wait for

    api.close(tab)
    assert not ChannelSubscription.objects.exists()


def test_a_socket_on_a_channel_twice_gets_each_message_once(api: Api) -> None:
    alice = make_browser("alice")
    both = api.open(alice, "room")  # its own channel, and subscribed to it too
    assert both.ask("subscribe", channel="room")["type"] == "subscribed"
    subscribed = api.open(alice, "lobby")
    assert subscribed.ask("subscribe", channel="room")["type"] == "subscribed"
    own = api.open(alice, "room")
    outside = api.open(alice, "lobby")

    handle = sending.send_to_channel("room", {"type": "chat", "text": "once"})
    summary = wait_complete(handle.message_id)
    assert (summary["targeted"], summary["delivered"]) == (3, 3)
    for tab in (both, subscribed, own):
        assert tab.next(lambda f: f.get("type") == "chat")["message_id"] == handle.message_id
    sync("room", both, subscribed, own)
    sync("lobby", outside)
    for tab in (both, subscribed, own, outside):
        assert [f for f in tab.backlog if f.get("type") == "chat"] == [], tab.backlog


def test_presence_and_member_events_on_first_and_last_tab(api: Api) -> None:
    alice, bob = make_browser("alice"), make_browser("bob")
    bobs = api.open(bob, ROOM)
    first = api.open(alice, ROOM)
    added = bobs.next(lambda f: f.get("type") == "member_added")
    assert (added["channel"], added["user"]["name"]) == (ROOM, "alice")

    second = api.open(alice, "lobby")
    assert second.ask("subscribe", channel=ROOM)["type"] == "subscribed"
    third = api.open(alice, ROOM)
    sync(ROOM, bobs)
    assert bobs.members_seen() == []  # the second and third tab did not announce alice again

    answer = bobs.ask("presence", channel=ROOM)
    assert answer["type"] == "presence"
    assert [(m["name"], m["connections"]) for m in answer["members"]] == [("alice", 3), ("bob", 1)]
    assert (answer["connections"], answer["anonymous_connections"]) == (4, 0)
    assert second.ask("presence", channel="elsewhere")["error"] == "not_subscribed"

    api.close(first)
    assert second.ask("unsubscribe", channel=ROOM)["subscribed"] is False
    sync(ROOM, bobs)
    assert bobs.members_seen() == []  # alice still has a tab there

    api.close(third)
    removed = bobs.next(lambda f: f.get("type") == "member_removed")
    assert (removed["channel"], removed["user"]["name"]) == (ROOM, "alice")
    answer = bobs.ask("presence")  # default: the socket's own channel
    assert [(m["name"], m["connections"]) for m in answer["members"]] == [("bob", 1)]


def test_the_sweep_removes_a_member_whose_socket_vanished(
    emulator: EmulatorServer,  # noqa: F811
    live_server: Any,
    stack: ExitStack,
) -> None:
    # No $disconnect route: as on AWS, where $disconnect is best effort, only the sweep notices.
    api = make_api(emulator, live_server, stack, ("$connect", "$default"))
    alice, bob = make_browser("alice"), make_browser("bob")
    bobs = api.open(bob, ROOM)
    alices = api.open(alice, ROOM)
    bobs.next(lambda f: f.get("type") == "member_added")
    alices.ws.close()
    session = WebSocketSession.objects.get(connection_id=alices.connection_id)
    assert session.connected  # Django was not told
    idle = timezone.now() - timezone.timedelta(hours=1)
    WebSocketSession.objects.filter(pk=session.pk).update(last_seen_at=idle)

    result = maintenance.sweep_stale_sessions()

    assert (result.probed, result.gone) == (1, 1)
    removed = bobs.next(lambda f: f.get("type") == "member_removed")
    assert removed["user"]["name"] == "alice"
    answer = bobs.ask("presence")
    assert [m["name"] for m in answer["members"]] == ["bob"]


def test_subscription_changes_are_rate_limited_per_connection(api: Api) -> None:
    tab = api.open(make_browser("alice"), "lobby")
    limit = 2
    answers = []
    with wsgateway_overrides(SUBSCRIPTION_CHANGES_PER_MINUTE=limit):
        # Fixed one-minute windows: even if one boundary passes during the loop, a refusal comes
        # within 2 * limit + 1 changes.
        for n in range(2 * limit + 1):
            answer = tab.ask("subscribe" if n % 2 == 0 else "unsubscribe", channel="news")
            answers.append(answer.get("error", answer["type"]))
            if answer["type"] == "error":
                break
    assert answers[-1] == "rate_limited", answers
    assert answers[:limit] == ["subscribed", "unsubscribed"]
