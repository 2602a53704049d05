"""A channel's recipients: its sessions and its subscribers, merged by session id, each once, in
keyset pages of both index ranges (the query budget of tests/fanout/test_planner_limiter.py)."""

from __future__ import annotations

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from tests.subscriptions.conftest import open_session
from wsgateway import disconnect, subscriptions
from wsgateway.fanout.planner import plan_broadcast, stream_recipients
from wsgateway.fanout.targets import Target, compile_queryset
from wsgateway.models import ApiGateway, ChannelSubscription, WebSocketSession

pytestmark = pytest.mark.django_db


def channel_target(channel: str, **fields) -> Target:
    return Target(channel_name=channel, subscribers=True, **fields)


def room_of_ten(gateway: ApiGateway) -> dict[str, WebSocketSession]:
    """Ten sessions: on "room" by channel_name, by subscription, both, or neither."""
    sessions = {}
    for n in range(10):
        kind = ("own", "subscribed", "both", "outside")[n % 4]
        session = open_session(gateway, "room" if kind in ("own", "both") else f"other-{n}")
        if kind in ("subscribed", "both"):
            subscriptions.subscribe(session, "room")
        subscriptions.subscribe(session, f"noise-{n}")  # other channels never show up
        sessions[f"{kind}-{n}"] = session
    return sessions


def test_each_session_on_the_channel_streams_once_in_id_order(gateway: ApiGateway) -> None:
    sessions = room_of_ten(gateway)
    expected = sorted(s.pk for name, s in sessions.items() if not name.startswith("outside"))
    rows = list(stream_recipients(channel_target("room").recipients(), page_size=2))
    assert [r[0] for r in rows] == expected
    assert {r[1] for r in rows} == {sessions_by_pk(sessions)[pk].connection_id for pk in expected}


def sessions_by_pk(sessions: dict[str, WebSocketSession]) -> dict[int, WebSocketSession]:
    return {s.pk: s for s in sessions.values()}


def test_pages_of_both_ranges_are_the_whole_query_cost(gateway: ApiGateway) -> None:
    room_of_ten(gateway)  # 5 sessions by channel_name (own, both), 5 by subscription (subscribed, both)
    with CaptureQueriesContext(connection) as queries:
        rows = list(stream_recipients(channel_target("room").recipients(), page_size=2))
    assert len(rows) == 8
    # Each range: ceil(5 / 2) = 3 pages, the last one short: 6 queries, each a LIMIT 2 page.
    assert len(queries) == 6, [q["sql"] for q in queries.captured_queries]
    assert all("LIMIT 2" in q["sql"] for q in queries.captured_queries)
    subscription_pages = [
        q["sql"] for q in queries.captured_queries if "wsgateway_channelsubscription" in q["sql"]
    ]
    assert len(subscription_pages) == 3
    # The subscriber range is read by channel and session id (the unique index), from the
    # subscription rows alone: no join per recipient, no other subscription of the session.
    assert all('"wsgateway_channelsubscription"."channel_name" = ' in q for q in subscription_pages)
    assert not any("JOIN" in q for q in subscription_pages), subscription_pages


def test_exclude_live_and_gateway_filters_apply_to_both_ranges(gateway: ApiGateway) -> None:
    sessions = room_of_ten(gateway)
    other = ApiGateway.objects.create(api_name="other", api_endpoint="wss://x.example.com", stage_name="p")
    elsewhere = open_session(other, "lobby")
    subscriptions.subscribe(elsewhere, "room")
    skip = [sessions["subscribed-1"].connection_id, sessions["own-4"].connection_id]
    disconnect.mark_disconnected([sessions["both-2"].connection_id])  # gone: released

    target = channel_target("room", api_gateway_id=gateway.pk, exclude=tuple(skip))
    rows = {r[1] for r in stream_recipients(target.recipients())}

    wanted = {"own-0", "both-6", "subscribed-5", "own-8", "subscribed-9"}
    assert rows == {sessions[name].connection_id for name in wanted}
    assert set(target.queryset().values_list("connection_id", flat=True)) == rows  # same answer
    everywhere = {r[1] for r in stream_recipients(channel_target("room", exclude=tuple(skip)).recipients())}
    assert everywhere == rows | {elsewhere.connection_id}


def test_the_plan_counts_a_session_on_the_channel_twice_once(gateway: ApiGateway) -> None:
    session = open_session(gateway, "room")
    subscriptions.subscribe(session, "room")
    chunks: list = []
    plan, _ = plan_broadcast(
        channel_target("room").recipients(), message_id="m", op="post", body="{}", emit=chunks.append
    )
    assert plan.targeted == 1
    assert [c for chunk in chunks for c, _ in chunk["connections"]] == [session.connection_id]


def test_a_queryset_send_keeps_selecting_exactly_its_rows(gateway: ApiGateway) -> None:
    """The reference's ``filter(channel_name=…).send_message()``: the session column only, as before."""
    on_room = open_session(gateway, "room")
    subscriber = open_session(gateway, "lobby")
    subscriptions.subscribe(subscriber, "room")
    target = compile_queryset(WebSocketSession.objects.filter(channel_name="room"))
    assert target == Target(channel_name="room")
    assert [r[1] for r in stream_recipients(target.recipients())] == [on_room.connection_id]
    assert ChannelSubscription.objects.count() == 1


def test_channel_targets_travel_as_plain_data() -> None:
    target = channel_target("room", api_gateway_id=3, exclude=("a=",))
    data = target.to_dict()
    assert data == {"channel_name": "room", "api_gateway_id": 3, "subscribers": True, "exclude": ["a="]}
    assert Target.from_dict(data) == target
    # A message enqueued before subscriptions existed: the session column, as it meant then.
    assert Target.from_dict({"channel_name": "room"}) == Target(channel_name="room")


def test_a_subscriber_marked_gone_behind_our_back_is_released_by_its_410(gateway: ApiGateway) -> None:
    """Subscription rows are the live subscribers (no join): a session a project marked with
    its own UPDATE stays planned until its 410 (or the sweep) releases it."""
    session = open_session(gateway, "lobby")
    subscriptions.subscribe(session, "room")
    WebSocketSession.objects.filter(pk=session.pk).update(connected=False)
    rows = [r[1] for r in stream_recipients(channel_target("room").recipients())]
    assert rows == [session.connection_id]
    disconnect.mark_disconnected([session.connection_id])  # what the fan-out does on a 410
    assert list(stream_recipients(channel_target("room").recipients())) == []
