"""Recovery through real sockets: the emulator closes a client's socket mid-burst, the client
reconnects with the last id it saw and, after de-duplication by message_id, has every message
exactly once and in order; the gap and permission cases (docs/recovery.md)."""

from __future__ import annotations

import json
from typing import Any

import pytest
from django.core.cache import cache

from tests.fanout.conftest import wsgateway_overrides
from tests.recovery.conftest import Client, Stack, last_id, open_client, recovered_view
from tests.waiting import wait_until
from wsgateway import recovery, sending
from wsgateway.fanout.results import get_broadcast_summary
from wsgateway.models import ChannelPermission

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.timeout(120)]


def send(texts: range, channel: str = "room") -> list[str]:
    return [sending.send_to_channel(channel, {"text": f"m{i}"}).message_id for i in texts]


def wait_sent(message_ids: list[str]) -> None:
    def done() -> bool:
        return all((get_broadcast_summary(m) or {}).get("complete") for m in message_ids)

    wait_until(done, 30, "the broadcasts to complete")


def kick(client: Client) -> None:
    """The server closes the socket (DELETE @connections through the worker)."""
    sending.disconnect_connection(client.session().connection_id)
    wait_until(client.closed.is_set, 20, "the server to close the socket")


def dedupe(messages: list[dict[str, Any]]) -> list[str]:
    seen: set[str] = set()
    texts = []
    for message in messages:
        if message["message_id"] not in seen:
            seen.add(message["message_id"])
            texts.append(message["text"])
    return texts


def test_a_client_kicked_mid_burst_gets_every_message_once_in_order(stack: Stack) -> None:
    first = open_client(stack, "room")
    wait_sent(send(range(0, 10)))
    wait_until(lambda: len(first.messages()) == 10, 20, "the first ten messages")
    # Mid-burst: the close is queued between the sends, which go on while the client is away.
    sent = send(range(10, 20))
    kick(first)
    sent += send(range(20, 30))
    wait_sent(sent)
    seen_before = first.messages()
    assert 10 <= len(seen_before) < 30  # it did miss some
    since = last_id(seen_before, "room")

    second = open_client(stack, "room")
    second.resume({"room": since})
    live_after = send(range(30, 40))  # while the replay is under way: the client merges by id
    wait_sent(live_after)

    def complete() -> bool:
        view = recovered_view(second, "room")
        return view is not None and len(set(dedupe(seen_before + view))) == 40

    wait_until(complete, 30, f"every message after recovery: {second.snapshot()}")
    view = recovered_view(second, "room")
    assert view is not None
    assert dedupe(seen_before + view) == [f"m{i}" for i in range(40)]
    # The replay came through the worker as frames of their own, answered by the resume request.
    (answer,) = second.of_type("wsgateway.resume")
    assert answer["accepted"] == ["room"] and answer["refused"] == {}
    assert all(f["message_id"] for f in second.of_type(recovery.REPLAY))


def test_a_client_back_after_the_window_is_told_to_resynchronise(stack: Stack) -> None:
    with wsgateway_overrides(REQUIRE_TOKEN=False, RECOVERY_MAX_MESSAGES=5):
        first = open_client(stack, "room")
        wait_sent(send(range(0, 3)))
        wait_until(lambda: len(first.messages()) == 3, 20, "three messages")
        since = last_id(first.messages(), "room")
        kick(first)
        wait_sent(send(range(3, 12)))  # more than the window keeps

        second = open_client(stack, "room")
        second.resume({"room": since})
        wait_until(lambda: second.of_type(recovery.GAP), 20, "the gap frame")
    (gap,) = second.of_type(recovery.GAP)
    assert (gap["channel"], gap["since"], gap["reason"], gap["request"]) == ("room", since, "window", "r1")
    assert gap["latest"] == recovery.read_since("room", None).latest  # a new starting point
    assert not second.of_type(recovery.REPLAY)


def test_only_channels_the_socket_may_read_are_replayed(stack: Stack) -> None:
    ChannelPermission.objects.create(channel_name="secret", access=ChannelPermission.Access.STAFF_ONLY)
    start = recovery.read_since("secret", None).latest
    wait_sent(send(range(0, 3), channel="secret") + send(range(0, 3), channel="elsewhere"))
    client = open_client(stack, "room")
    client.resume({"room": None, "secret": start, "elsewhere": start})
    wait_until(lambda: len(client.of_type(recovery.GAP)) == 2, 20, "two refusals")
    refusals = {f["channel"]: (f["reason"], f["since"]) for f in client.of_type(recovery.GAP)}
    # Not allowed on "secret", not on "elsewhere" (though open): nothing of either is replayed.
    assert refusals == {"secret": ("forbidden", start), "elsewhere": ("forbidden", start)}
    wait_until(lambda: client.of_type(recovery.REPLAY), 20, "the starting point of room")
    (baseline,) = client.of_type(recovery.REPLAY)
    assert baseline["channel"] == "room" and baseline["messages"] == [] and baseline["latest"]
    assert not [m for m in client.messages() if m[recovery.CHANNEL_FIELD] != "room"]

    # The channel's permission changes while the socket is on it: no more replays of it.
    ChannelPermission.objects.create(channel_name="room", access=ChannelPermission.Access.STAFF_ONLY)
    cache.clear()  # the per-channel request interval
    client.resume({"room": baseline["latest"]}, request="r2")
    wait_until(lambda: len(client.of_type(recovery.GAP)) == 3, 20, "the refusal of room")
    assert client.of_type(recovery.GAP)[-1]["reason"] == "forbidden"


def test_a_client_asking_again_at_once_is_rate_limited(stack: Stack) -> None:
    client = open_client(stack, "room")
    client.resume({"room": None})
    client.resume({"room": None}, request="again")
    wait_until(lambda: client.of_type(recovery.GAP) and client.of_type(recovery.REPLAY), 20, "both answers")
    # Whichever of the two requests the view saw first is answered, the other refused.
    (gap,) = client.of_type(recovery.GAP)
    (replay,) = client.of_type(recovery.REPLAY)
    assert gap["reason"] == "rate_limited" and {gap["request"], replay["request"]} == {"r1", "again"}


def test_a_subscription_carrying_since_replays_that_channel(stack: Stack) -> None:
    start = recovery.read_since("side", None).latest
    wait_sent(send(range(0, 5), channel="side"))
    client = open_client(stack, "room")
    client.ws.send(json.dumps({"action": "subscribe", "channel": "side", "since": start, "request": "s1"}))
    wait_until(lambda: recovered_view(client, "side", "s1") is not None, 20, "the replay of side")
    replayed = recovered_view(client, "side", "s1")
    assert replayed is not None and dedupe(replayed) == [f"m{i}" for i in range(5)]
    # Now on "side" through its subscription: a resume of it is allowed, and live messages come.
    wait_sent(send(range(5, 7), channel="side"))
    cache.clear()
    client.resume({"side": replayed[-1][recovery.ID_FIELD]}, request="s2")
    wait_until(lambda: recovered_view(client, "side", "s2") is not None, 20, "the second replay")
    assert dedupe(replayed + (recovered_view(client, "side", "s2") or [])) == [f"m{i}" for i in range(7)]


def test_a_queryset_send_is_replayed_like_it_was_delivered(stack: Stack) -> None:
    """``filter(channel_name=…).send_message()`` reaches the sessions whose own channel it is,
    not the channel's subscribers: a replay gives each socket what it would have had live."""
    from wsgateway.models import WebSocketSession

    start = recovery.read_since("side", None).latest
    own = open_client(stack, "side")
    subscriber = open_client(stack, "room")
    subscriber.ws.send(json.dumps({"action": "subscribe", "channel": "side"}))
    wait_until(lambda: subscriber.of_type("subscribed"), 20, "the subscription")
    handles = [
        sending.send_to_channel("side", {"text": "m0"}).message_id,
        WebSocketSession.objects.filter(channel_name="side").send_message({"text": "m1"}).message_id,
        sending.send_to_channel("side", {"text": "m2"}).message_id,
    ]
    wait_sent(handles)
    wait_until(lambda: len(own.messages()) == 3 and len(subscriber.messages()) == 2, 20, "live delivery")
    own.resume({"side": start})
    subscriber.resume({"side": start})
    for client, expected in ((own, ["m0", "m1", "m2"]), (subscriber, ["m0", "m2"])):
        wait_until(lambda c=client: recovered_view(c, "side") is not None, 20, "the replay")
        assert dedupe(recovered_view(client, "side") or []) == expected
