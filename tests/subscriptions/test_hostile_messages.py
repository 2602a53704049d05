"""Hostile subscribe / unsubscribe / presence / resume messages through the real view (events
posted as API Gateway posts them): each is refused with its 4xx, never a 500, and leaves no row
behind (docs/architecture.md §12, docs/recovery.md)."""

from __future__ import annotations

import json
from typing import Any

import pytest
import redis
from django.contrib.auth.models import User

from tests.gateway_rows import event_gateway_fields
from tests.ingestion import conftest as ingestion
from tests.ingestion.conftest import (
    Browser,
    EventClient,
    error_code,
    make_browser,
    new_connection_id,
    queued_tasks,
)
from tests.subscriptions.conftest import wsgateway_overrides
from wsgateway import recovery, sending, strict_json
from wsgateway.models import ApiGateway, ChannelPermission, ChannelSubscription, WebSocketSession
from wsgateway.views import WebSocketView

pytestmark = [pytest.mark.django_db]

# The ingestion tests' fixtures: a gateway, an event client posting as API Gateway, a browser.
_fresh_cache, broker, browser, connected, events, gateway = (
    ingestion._fresh_cache,
    ingestion.broker,
    ingestion.browser,
    ingestion.connected,
    ingestion.events,
    ingestion.gateway,
)

RESUME = "wsgateway.resume"

BAD_NAMES: list[Any] = [
    None,
    1,
    1.5,
    True,
    ["room"],
    {"name": "room"},
    "x" * 10_000,
    "room*",
    "{room}",
    "wsgateway:recovery:{room}:stream",
    " room",
    "r\u00f6\u00f6m-\u2603",
    "room\x00",
    "room\n",
]


@pytest.fixture
def replies(monkeypatch: pytest.MonkeyPatch) -> list[dict[str, Any]]:
    """The messages the view sends to connections (recorded, then sent as usual)."""
    sent: list[dict[str, Any]] = []
    send = sending.send_to_connection

    def recorded(connection_id: str, data: dict[str, Any], **kwargs: Any) -> Any:
        sent.append(data)
        return send(connection_id, data, **kwargs)

    monkeypatch.setattr(sending, "send_to_connection", recorded)
    return sent


def beside_bob(events: EventClient, browser: Browser, bobs: str, mine: str = "lobby") -> str:
    """Opens a socket of bob's on ``bobs`` and one of ``browser``'s on ``mine``; the latter's id."""
    assert events.open(make_browser("bob"), new_connection_id(), channel=bobs).status_code == 200
    cid = new_connection_id()
    assert events.open(browser, cid, channel=mine).status_code == 200
    return cid


def post(events: EventClient, cid: str, body: dict[str, Any]) -> Any:
    response = events.message(cid, body)
    assert response.status_code < 500, response.content
    return response


@pytest.mark.parametrize("action", ["subscribe", "unsubscribe", "presence"])
@pytest.mark.parametrize("name", BAD_NAMES, ids=repr)
def test_a_malformed_channel_is_a_400_and_writes_nothing(
    events: EventClient, connected: str, action: str, name: Any
) -> None:
    response = post(events, connected, {"action": action, "channel": name})
    assert response.status_code == 400 and error_code(response) == "invalid_channel"
    assert not ChannelSubscription.objects.exists()


def test_the_empty_channel_is_no_channel_to_subscribe_to(events: EventClient, connected: str) -> None:
    # "" means "no channel": a subscription to it would put the socket among every socket
    # without a channel (and make their presence readable).
    response = post(events, connected, {"action": "subscribe", "channel": ""})
    assert response.status_code == 400 and error_code(response) == "invalid_channel"
    assert not ChannelSubscription.objects.exists()


def test_presence_of_no_channel_is_refused(events: EventClient, browser: Browser, gateway: Any) -> None:
    # A socket without a channel must not list every other socket without one.
    mine = beside_bob(events, browser, "", "")
    assert WebSocketSession.objects.filter(channel_name="").count() == 2
    for body in ({"action": "presence"}, {"action": "presence", "channel": ""}):
        response = post(events, mine, body)
        assert response.status_code == 400 and error_code(response) == "invalid_channel", body


def test_presence_of_a_channel_the_socket_is_not_on_is_refused(
    events: EventClient, browser: Browser, gateway: Any
) -> None:
    mine = beside_bob(events, browser, "secret")
    response = post(events, mine, {"action": "presence", "channel": "secret"})
    assert response.status_code == 403 and error_code(response) == "not_subscribed"
    # Unsubscribed again: no longer on it.
    assert post(events, mine, {"action": "subscribe", "channel": "secret"}).status_code == 200
    assert post(events, mine, {"action": "unsubscribe", "channel": "secret"}).status_code == 200
    response = post(events, mine, {"action": "presence", "channel": "secret"})
    assert response.status_code == 403 and error_code(response) == "not_subscribed"


def test_a_forbidden_channel_is_refused_to_subscribe_and_resume(events: EventClient, connected: str) -> None:
    ChannelPermission.objects.create(channel_name="staff", access=ChannelPermission.Access.STAFF_ONLY)
    response = post(events, connected, {"action": "subscribe", "channel": "staff", "since": None})
    assert response.status_code == 403 and error_code(response) == "channel_forbidden"
    assert not ChannelSubscription.objects.exists()
    response = post(events, connected, {"action": RESUME, "channels": {"staff": None}})
    assert response.status_code == 200
    assert json.loads(response.content)["refused"] == {"staff": "forbidden"}


def test_resume_after_the_permission_changed_is_refused(events: EventClient, connected: str) -> None:
    assert post(events, connected, {"action": "subscribe", "channel": "news"}).status_code == 200
    ChannelPermission.objects.create(channel_name="news", access=ChannelPermission.Access.STAFF_ONLY)
    response = post(events, connected, {"action": RESUME, "channels": {"news": None}})
    assert json.loads(response.content)["refused"] == {"news": "forbidden"}


def test_resume_after_unsubscribing_is_refused(events: EventClient, connected: str) -> None:
    assert post(events, connected, {"action": "subscribe", "channel": "news"}).status_code == 200
    assert post(events, connected, {"action": "unsubscribe", "channel": "news"}).status_code == 200
    response = post(events, connected, {"action": RESUME, "channels": {"news": None}})
    assert json.loads(response.content) == {
        "type": RESUME,
        "accepted": [],
        "refused": {"news": "forbidden"},
    }


def test_resume_of_another_sockets_channel_is_refused(
    events: EventClient, browser: Browser, gateway: Any
) -> None:
    mine = beside_bob(events, browser, "bobs-room")
    names = {"bobs-room": None, "bobs-room:stream": None, "": None}
    response = post(events, mine, {"action": RESUME, "channels": names})
    answer = json.loads(response.content)
    assert answer["accepted"] == [] and set(answer["refused"]) == set(names)


@pytest.mark.parametrize(
    "channels",
    [None, [], ["lobby"], "lobby", 1, True, {"lobby": 1}, {"lobby": []}, {"lobby": {}}, {"lobby": True}],
    ids=repr,
)
def test_a_resume_of_the_wrong_shape_is_a_400(events: EventClient, connected: str, channels: Any) -> None:
    response = post(events, connected, {"action": RESUME, "channels": channels})
    assert response.status_code == 400 and error_code(response) == "invalid_resume"


@pytest.mark.parametrize(
    "since",
    [
        "-",
        "+",
        "abc",
        "",
        "0",
        "1-",
        "-1",
        "1--1",
        "1-0-0",
        " 1-0",
        "1.5-0",
        "1e3-0",
        "0x1-0",
        "1" * 21 + "-0",
        "\u00b2-0",
        "\u0661\u0662-0",
        "1-\u00b3",
        "\uff11-0",
    ],
    ids=repr,
)
def test_a_malformed_last_id_is_a_400(events: EventClient, connected: str, since: str) -> None:
    # Non-ASCII digits too: the worker's int() and the Lua pattern would choke on them later.
    response = post(events, connected, {"action": RESUME, "channels": {"lobby": since}})
    assert response.status_code == 400 and error_code(response) == "invalid_resume"


@pytest.mark.parametrize("since", ["abc", "\u00b2-0", 5, ["1-0"]], ids=repr)
def test_subscribe_with_a_malformed_last_id_subscribes_nothing(
    events: EventClient, connected: str, since: Any
) -> None:
    response = post(events, connected, {"action": "subscribe", "channel": "news", "since": since})
    assert response.status_code == 400 and error_code(response) == "invalid_resume"
    assert not ChannelSubscription.objects.exists()


@pytest.mark.parametrize(
    "since",
    ["0-0", "999999999999999-0", "18446744073709551615-18446744073709551615", "0-99999999999999999999"],
)
def test_extreme_last_ids_read_the_bounded_window_or_a_gap(clean_redis: redis.Redis, since: str) -> None:
    with wsgateway_overrides(RECOVERY_MAX_MESSAGES=300):
        for n in range(350):
            recovery.record("room", f"m{n}", json.dumps({"n": n}))
        result = recovery.read_since("room", since)
    assert result.gap or len(result.entries) <= 300


def test_the_resume_tag_must_be_a_short_string(events: EventClient, connected: str) -> None:
    for tag in (1, ["x"], {"x": 1}, "x" * 65):
        response = post(events, connected, {"action": RESUME, "channels": {}, "request": tag})
        assert response.status_code == 400 and error_code(response) == "invalid_resume", tag


def test_too_many_channels_in_one_resume_is_a_400(events: EventClient, connected: str) -> None:
    names = {f"c{n}": None for n in range(101)}
    response = post(events, connected, {"action": RESUME, "channels": names})
    assert response.status_code == 400 and error_code(response) == "invalid_resume"


def test_subscriptions_stop_at_the_limit(events: EventClient, connected: str) -> None:
    with wsgateway_overrides(MAX_SUBSCRIPTIONS_PER_CONNECTION=3, SUBSCRIPTION_CHANGES_PER_MINUTE=1000):
        codes = [
            post(events, connected, {"action": "subscribe", "channel": f"c{n}"}).status_code for n in range(5)
        ]
    assert codes == [200, 200, 200, 409, 409]
    assert ChannelSubscription.objects.count() == 3


@pytest.mark.parametrize("since", ["\u00b2-0", "\u0661\u0662-0", "1-\u00b3"], ids=repr)
def test_a_last_id_of_non_ascii_digits_reads_as_a_gap(clean_redis: redis.Redis, since: str) -> None:
    # Reached by a replay task queued before the view checked ids this way: a gap, not a crash.
    recovery.record("room", "m1", json.dumps({"n": 1}))
    assert recovery.read_since("room", since).gap


def test_a_malformed_resume_tag_on_subscribe_subscribes_nothing(events: EventClient, connected: str) -> None:
    body = {"action": "subscribe", "channel": "news", "since": None, "request": ["x"]}
    response = post(events, connected, body)
    assert response.status_code == 400 and error_code(response) == "invalid_resume"
    assert not ChannelSubscription.objects.exists()


@pytest.mark.parametrize(
    "name", ["x" * 120_000, "\u2603" * 40_000, "\x01" * 20_000, "*", "{lobby}", "lobby\n"], ids=repr
)
def test_a_resume_naming_no_possible_channel_is_a_400(events: EventClient, connected: str, name: str) -> None:
    # Raw UTF-8 in: the body fits, the name escaped in an answer or a gap frame would not.
    raw = json.dumps({"action": RESUME, "channels": {name: None, "lobby": None}}, ensure_ascii=False)
    response = events.message(connected, None, raw=raw.encode())
    assert response.status_code == 400 and error_code(response) == "invalid_resume"


@pytest.mark.parametrize(
    "body",
    [
        {"action": "subscribe", "channel": "news"},
        {"action": "presence", "channel": "lobby"},
        {"action": RESUME, "channels": {"lobby": None}},
    ],
    ids=lambda body: body["action"],
)
def test_a_connection_id_of_another_gateway_reaches_nothing(
    events: EventClient, connected: str, body: dict[str, Any]
) -> None:
    # The same connection id posted as another gateway's event: not that gateway's socket.
    other = ApiGateway.objects.create(api_name="other", **event_gateway_fields("zzz999other"))
    response = post(EventClient(events.client, api_id=other.api_id), connected, body)
    assert response.status_code == 404 and error_code(response) == "unknown_connection"
    assert not ChannelSubscription.objects.exists()


def test_presence_of_a_crowd_with_long_unicode_names_still_answers(
    events: EventClient, browser: Browser, gateway: Any, replies: list[dict[str, Any]]
) -> None:
    # 200 users named with 150 snowmen each: 6 bytes a character once escaped, ~190 KB listed in
    # full. The answer lists fewer members (the counts stay exact) instead of a 413 that tells
    # the client nothing.
    for n in range(200):
        user = User.objects.create(username=f"{n:03d}" + "\u2603" * 147)
        WebSocketSession.objects.create(
            connection_id=new_connection_id(), channel_name="crowd", user=user, api_gateway=gateway
        )
    mine = new_connection_id()
    assert events.open(browser, mine, channel="crowd").status_code == 200
    response = post(events, mine, {"action": "presence"})
    assert response.status_code == 200, response.content
    (answer,) = replies
    assert answer["connections"] == 201 and 0 < len(answer["members"]) < 201
    assert len(strict_json.dumps(answer).encode()) <= 128 * 1024


@pytest.mark.parametrize("action", ["subscribe", "unsubscribe", "presence"])
def test_a_huge_unicode_channel_is_a_400_with_its_error_frame(
    events: EventClient, connected: str, action: str, replies: list[dict[str, Any]]
) -> None:
    # 40,000 snowmen: 120 KB in, 240 KB once escaped if the error frame echoed it.
    raw = json.dumps({"action": action, "channel": "\u2603" * 40_000}, ensure_ascii=False).encode()
    response = events.message(connected, None, raw=raw)
    assert response.status_code == 400 and error_code(response) == "invalid_channel"
    assert [r["error"] for r in replies] == ["invalid_channel"]


def test_refused_channels_cost_a_bounded_number_of_frames(
    events: EventClient, connected: str, broker: redis.Redis, django_capture_on_commit_callbacks: Any
) -> None:
    # Any name can be refused, so refusals are not limited per name: one message naming 100
    # channels the socket is not on must not become 100 posts, nor ten such messages 1,000.
    for n in range(10):
        names = {f"elsewhere-{n}-{i}": None for i in range(100)}
        with django_capture_on_commit_callbacks(execute=True):
            response = post(events, connected, {"action": RESUME, "channels": names})
        assert len(json.loads(response.content)["refused"]) == 100  # the answer still says all
    replays = [kwargs for task, _args, kwargs in queued_tasks(broker) if task == "wsgateway.replay_channels"]
    framed = sum(len(kwargs["refused"]) for kwargs in replays)
    assert framed == WebSocketView.RECOVERY_REFUSED_FRAMES, framed


def test_presence_after_the_permission_changed_is_refused(events: EventClient, connected: str) -> None:
    assert post(events, connected, {"action": "subscribe", "channel": "news"}).status_code == 200
    assert post(events, connected, {"action": "presence", "channel": "news"}).status_code == 200
    ChannelPermission.objects.create(channel_name="news", access=ChannelPermission.Access.STAFF_ONLY)
    response = post(events, connected, {"action": "presence", "channel": "news"})
    assert response.status_code == 403 and error_code(response) == "channel_forbidden"
