"""presence() and the member events on the real database and the real Redis broker.

The events are counted where they are enqueued (the broker's ``fanout`` list; no worker runs), so
"exactly one member_added" is exact. The concurrency tests run real threads, each with its own
database connection and transaction; on PostgreSQL the second tab's transaction really waits on
the member row lock or the unique constraint.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from typing import Any

import pytest
import redis
from django.db import connection, transaction

from tests.subscriptions.conftest import make_user, member_events, open_session, wsgateway_overrides
from tests.waiting import wait_until
from wsgateway import disconnect, maintenance, presence, subscriptions
from wsgateway.models import ApiGateway, ChannelSubscription, PresenceMember, WebSocketSession

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.timeout(60)]

ROOM = "presence-room"


def connect(gateway: ApiGateway, channel: str, user: Any = None) -> WebSocketSession:
    """A session opened as ``$connect`` does: the row, then presence, in one transaction."""
    with transaction.atomic():
        session = open_session(gateway, channel, user)
        presence.joined(session, channel)
    return session


def close(session: WebSocketSession) -> None:
    """``$disconnect`` as the view does it: the row marked gone, then released."""
    WebSocketSession.objects.filter(pk=session.pk).mark_disconnected(release=False)
    subscriptions.release_sessions([(session.pk, session.user_id, session.channel_name)])


def test_presence_counts_each_user_once_with_their_tabs(gateway: ApiGateway) -> None:
    alice, bob = make_user("alice"), make_user("bob")
    connect(gateway, ROOM, alice)
    other_tab = connect(gateway, "lobby", alice)
    subscriptions.subscribe(other_tab, ROOM)  # alice's second tab: subscribed, not its own channel
    both = connect(gateway, ROOM, bob)
    subscriptions.subscribe(both, ROOM)  # on the channel twice: counted once
    connect(gateway, ROOM)  # anonymous
    connect(gateway, ROOM)
    gone = connect(gateway, ROOM, make_user("carol"))
    close(gone)
    connect(gateway, "elsewhere", make_user("dave"))

    found = presence.presence(ROOM)

    assert [(m.name, m.connections) for m in found.members] == [("alice", 2), ("bob", 1)]
    assert found.anonymous_connections == 2
    assert found.connections == 5
    assert found.user_ids == {alice.pk, bob.pk}
    assert found.as_dict()["members"][0] == {"user_id": alice.pk, "name": "alice", "connections": 2}
    assert [m.name for m in presence.presence(ROOM, limit=1).members] == ["alice"]


def test_presence_costs_three_queries_whatever_the_channels_per_connection(gateway: ApiGateway) -> None:
    from django.test.utils import CaptureQueriesContext

    alice = make_user("alice")
    session = connect(gateway, ROOM, alice)
    for n in range(20):
        subscriptions.subscribe(session, f"extra-{n}")
    with CaptureQueriesContext(connection) as queries:
        found = presence.presence(ROOM)
    assert found.connections == 1
    assert len(queries) == 3, [q["sql"] for q in queries.captured_queries]


def test_member_events_only_for_the_first_and_the_last_tab(
    gateway: ApiGateway, broker: redis.Redis, presence_channels: None
) -> None:
    alice = make_user("alice")
    first = connect(gateway, ROOM, alice)
    second = connect(gateway, "lobby", alice)
    subscriptions.subscribe(second, ROOM)
    third = connect(gateway, ROOM, alice)
    assert [(e["type"], e["user"]) for e in member_events(broker)] == [
        ("member_added", {"id": alice.pk, "name": "alice"})
    ]
    close(first)
    assert subscriptions.unsubscribe(second, ROOM)
    assert member_events(broker, "member_removed") == []
    close(third)
    [removed] = member_events(broker, "member_removed")
    assert removed["channel"] == ROOM and removed["user"]["id"] == alice.pk
    assert not PresenceMember.objects.exists()
    # The second tab is still on "lobby", which is not a presence channel: no row, no event.
    assert presence.presence("lobby").connections == 1


def test_no_member_events_without_presence_channels(gateway: ApiGateway, broker: redis.Redis) -> None:
    session = connect(gateway, ROOM, make_user("alice"))
    close(session)
    assert member_events(broker) == []
    assert not PresenceMember.objects.exists()


def test_anonymous_connections_are_counted_never_announced(
    gateway: ApiGateway, broker: redis.Redis, presence_channels: None
) -> None:
    session = connect(gateway, ROOM)
    assert presence.presence(ROOM).anonymous_connections == 1
    close(session)
    assert member_events(broker) == []


def test_change_channel_moves_the_member(
    gateway: ApiGateway, broker: redis.Redis, presence_channels: None
) -> None:
    alice = make_user("alice")
    session = connect(gateway, ROOM, alice)
    with transaction.atomic():
        WebSocketSession.objects.filter(pk=session.pk).update(channel_name="presence-other")
        session.channel_name = "presence-other"
        subscriptions.changed_channel(session, ROOM, "presence-other")
    assert [(e["type"], e["channel"]) for e in member_events(broker)] == [
        ("member_added", ROOM),
        ("member_added", "presence-other"),
        ("member_removed", ROOM),
    ]


def test_every_disconnect_path_releases_subscriptions_and_members(
    gateway: ApiGateway, broker: redis.Redis, presence_channels: None
) -> None:
    users = [make_user(f"user{n}") for n in range(3)]
    sessions = [connect(gateway, "lobby", user) for user in users]
    for session in sessions:
        subscriptions.subscribe(session, ROOM)
    assert PresenceMember.objects.count() == 3

    # A 410 seen by the fan-out (or a probe of the sweep): by connection id.
    assert disconnect.mark_disconnected([sessions[0].connection_id]) == 1
    # A bulk queryset mark (expired sessions, a deleted gateway).
    assert WebSocketSession.objects.filter(pk=sessions[1].pk).mark_disconnected() == 1
    # A project's own UPDATE, noticed by the sweep's safety net.
    WebSocketSession.objects.filter(pk=sessions[2].pk).update(connected=False)
    assert ChannelSubscription.objects.count() == 1
    maintenance.sweep_stale_sessions()

    assert not ChannelSubscription.objects.exists()
    assert not PresenceMember.objects.exists()
    removed = member_events(broker, "member_removed")
    assert sorted(e["user"]["name"] for e in removed) == ["user0", "user1", "user2"]


def test_subscription_limit(gateway: ApiGateway) -> None:
    session = connect(gateway, "lobby")
    with wsgateway_overrides(MAX_SUBSCRIPTIONS_PER_CONNECTION=2):
        assert subscriptions.subscribe(session, "a")
        assert not subscriptions.subscribe(session, "a")  # idempotent, not counted twice
        assert subscriptions.subscribe(session, "b")
        with pytest.raises(subscriptions.SubscriptionLimitError):
            subscriptions.subscribe(session, "c")
    assert subscriptions.channels_of(session) == ["lobby", "a", "b"]


# --- concurrency: real threads, real transactions ------------------------------------------


def run_together(*steps: Callable[[], None]) -> None:
    """Run ``steps`` in threads started together; re-raise the first failure."""
    errors: list[BaseException] = []

    def run(step: Callable[[], None]) -> None:
        try:
            step()
        except BaseException as err:  # reported to the test below
            errors.append(err)
        finally:
            connection.close()  # each thread has its own connection

    threads = [threading.Thread(target=run, args=(step,)) for step in steps]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=30)
    assert not any(t.is_alive() for t in threads), "a thread is stuck"
    if errors:
        raise errors[0]


def tab_joining(gateway: ApiGateway, user: Any, barrier: threading.Barrier) -> Callable[[], None]:
    def join() -> None:
        postgres = connection.vendor == "postgresql"
        if not postgres:
            # SQLite has one writer at a time: both transactions cannot be open at the barrier.
            barrier.wait(timeout=10)
        with transaction.atomic():
            session = open_session(gateway, ROOM, user)
            if postgres:
                barrier.wait(timeout=10)  # both sessions written, neither committed
            presence.joined(session, ROOM)

    return join


def leaving_tab(session: WebSocketSession, barrier: threading.Barrier) -> Callable[[], None]:
    def leave() -> None:
        barrier.wait(timeout=10)
        close(session)

    return leave


@pytest.mark.parametrize("tabs", [2, 4])
def test_tabs_joining_at_once_announce_one_member(
    gateway: ApiGateway, broker: redis.Redis, presence_channels: None, tabs: int
) -> None:
    for round_ in range(5):
        user = make_user(f"racer{tabs}-{round_}")
        barrier = threading.Barrier(tabs)
        run_together(*(tab_joining(gateway, user, barrier) for _ in range(tabs)))
        added = [e for e in member_events(broker, "member_added") if e["user"]["id"] == user.pk]
        assert len(added) == 1, added
        assert PresenceMember.objects.filter(user=user, channel_name=ROOM).count() == 1


def test_last_tabs_leaving_at_once_announce_one_removal(
    gateway: ApiGateway, broker: redis.Redis, presence_channels: None
) -> None:
    for round_ in range(5):
        user = make_user(f"leaver-{round_}")
        sessions = [connect(gateway, ROOM, user) for _ in range(3)]
        barrier = threading.Barrier(len(sessions))

        run_together(*(leaving_tab(s, barrier) for s in sessions))
        removed = [e for e in member_events(broker, "member_removed") if e["user"]["id"] == user.pk]
        assert len(removed) == 1, removed
        assert not PresenceMember.objects.filter(user=user).exists()


def test_a_join_racing_the_last_leave_leaves_a_consistent_member(
    gateway: ApiGateway, broker: redis.Redis, presence_channels: None
) -> None:
    for round_ in range(5):
        user = make_user(f"flapper-{round_}")
        leaving = connect(gateway, ROOM, user)
        barrier = threading.Barrier(2)
        run_together(leaving_tab(leaving, barrier), tab_joining(gateway, user, barrier))
        events = [e["type"] for e in member_events(broker) if e["user"]["id"] == user.pk]
        # Present throughout (nothing announced after the first join), or removed then added.
        assert events in (["member_added"], ["member_added", "member_removed", "member_added"]), events
        assert PresenceMember.objects.filter(user=user, channel_name=ROOM).count() == 1


def test_deleting_sessions_is_one_statement_and_the_sweep_drops_orphaned_rows(gateway: ApiGateway) -> None:
    """No cascade from sessions to subscriptions: the purge of old rows stays one fast DELETE."""
    from django.test.utils import CaptureQueriesContext

    live = connect(gateway, "lobby")
    subscriptions.subscribe(live, "room")
    closed = connect(gateway, "lobby")
    subscriptions.subscribe(closed, "room")
    close(closed)
    with CaptureQueriesContext(connection) as queries:
        deleted, _ = WebSocketSession.objects.filter(pk__in=[live.pk, closed.pk]).delete()
    control = ("BEGIN", "COMMIT", "SAVEPOINT", "RELEASE")
    sql = [q["sql"] for q in queries.captured_queries if not q["sql"].upper().startswith(control)]
    assert deleted == 2 and len(sql) == 1, sql
    assert ChannelSubscription.objects.count() == 1  # the live session's, deleted under it
    assert subscriptions.release_disconnected() == 1
    assert not ChannelSubscription.objects.exists()


def until_both_arrive_or_one_waits_for_a_lock(arrived: list[object]) -> None:
    """Wait (PostgreSQL) until both threads are here (``arrived`` holds two), or one waits for a
    lock the other's transaction holds (then it cannot arrive before that one commits)."""
    arrived.append(threading.get_ident())
    if connection.vendor != "postgresql":
        return  # SQLite has one writer at a time: the second subscribe waits for the first

    def arrived_or_blocked() -> bool:
        if len(arrived) >= 2:
            return True
        with connection.cursor() as cursor:
            cursor.execute(
                "SELECT count(*) FROM pg_stat_activity"
                " WHERE wait_event_type = 'Lock' AND datname = current_database()"
            )
            return bool(cursor.fetchone()[0])

    wait_until(arrived_or_blocked, 20, "the other subscribe")


def test_subscribes_at_once_stay_within_the_limit(gateway: ApiGateway, monkeypatch: Any) -> None:
    # Both subscribes hold their transaction open after writing their row: without a lock both
    # counted 0 under a limit of 1 and both wrote.
    session = open_session(gateway, "lobby")
    arrived: list[object] = []
    joined = presence.joined

    def joined_when_both_wrote(session: WebSocketSession, channel: str) -> None:
        until_both_arrive_or_one_waits_for_a_lock(arrived)
        joined(session, channel)

    monkeypatch.setattr(presence, "joined", joined_when_both_wrote)
    refused: list[str] = []

    def subscribing(channel: str) -> Callable[[], None]:
        def subscribe() -> None:
            try:
                subscriptions.subscribe(session, channel)
            except subscriptions.SubscriptionLimitError:
                refused.append(channel)

        return subscribe

    with wsgateway_overrides(MAX_SUBSCRIPTIONS_PER_CONNECTION=1):
        run_together(subscribing("a"), subscribing("b"))
    assert ChannelSubscription.objects.filter(session=session).count() == 1
    assert len(refused) == 1
