"""Many channels per connection (docs/architecture.md §12).

A connection is on its own channel (``WebSocketSession.channel_name``: the reference's one
channel, set on ``$connect`` and by ``change_channel``, unchanged) and on every channel it
subscribed to: one :class:`~wsgateway.models.ChannelSubscription` row each. Sending to a channel
(:func:`wsgateway.sending.send_to_channel`) reaches both kinds, each connection once.

The view's ``subscribe`` / ``unsubscribe`` messages call :func:`subscribe` / :func:`unsubscribe`
after checking the channel's permission (``can_join_channel``, the same check as joining on
``$connect``). When a connection goes away its subscriptions are deleted (:func:`release_sessions`,
:func:`release_connections`, :func:`release_disconnected`: every path that marks sessions
disconnected calls one), and presence is told (:mod:`wsgateway.presence`).
"""

from __future__ import annotations

from collections.abc import Callable, Collection, Iterable
from typing import Any

from django.db import IntegrityError, transaction
from django.db.models import Exists, OuterRef

from wsgateway import presence
from wsgateway.conf import wsgateway_settings
from wsgateway.models import ChannelSubscription, PresenceMember, WebSocketSession

__all__ = [
    "SubscriptionLimitError",
    "channels_of",
    "release_connections",
    "release_disconnected",
    "release_sessions",
    "subscribe",
    "unsubscribe",
]

# Keeps each IN (...) list well under SQLite's and PostgreSQL's parameter limits.
BATCH = 500


class SubscriptionLimitError(Exception):
    """The connection has ``MAX_SUBSCRIPTIONS_PER_CONNECTION`` subscriptions already."""


def channels_of(session: WebSocketSession) -> list[str]:
    """Every channel ``session`` is on: its own ``channel_name`` first, then its subscriptions."""
    subscribed = ChannelSubscription.objects.filter(session=session).order_by("channel_name")
    names = [session.channel_name]
    names += [c for c in subscribed.values_list("channel_name", flat=True) if c != session.channel_name]
    return names


def subscribe(session: WebSocketSession, channel_name: str) -> bool:
    """Subscribe ``session`` to ``channel_name``; whether it was not subscribed before.

    The caller has checked the channel's permission. Raises :class:`SubscriptionLimitError` over
    ``MAX_SUBSCRIPTIONS_PER_CONNECTION``. A channel that is the session's own ``channel_name``
    gets a row too: it keeps the connection there after a ``change_channel``. On a presence
    channel the user's first connection announces ``member_added`` (same transaction).
    """
    limit = int(wsgateway_settings.MAX_SUBSCRIPTIONS_PER_CONNECTION)
    with transaction.atomic():
        # The session row's lock serialises this connection's subscribes: two at once would
        # otherwise both count under the limit and both write (PostgreSQL; SQLite has one writer).
        WebSocketSession.objects.select_for_update().filter(pk=session.pk).values_list("pk").first()
        existing = ChannelSubscription.objects.filter(session=session)
        if existing.filter(channel_name=channel_name).exists():
            return False
        if existing.count() >= limit:
            raise SubscriptionLimitError(f"A connection may subscribe to at most {limit} channels.")
        try:
            with transaction.atomic():
                ChannelSubscription.objects.create(
                    session=session,
                    channel_name=channel_name,
                    connection_id=session.connection_id,
                    api_gateway_id=session.api_gateway_id,
                    session_created_on=session.created_on,
                )
        except IntegrityError:
            return False  # the same subscribe, twice at once: the other one wrote it
        presence.joined(session, channel_name)
    return True


def unsubscribe(session: WebSocketSession, channel_name: str) -> bool:
    """Remove ``session``'s subscription to ``channel_name``; whether it had one.

    The session's own ``channel_name`` is not a subscription: it stays until ``change_channel``.
    On a presence channel the user's last connection leaving announces ``member_removed``.
    """
    with transaction.atomic():
        deleted, _ = ChannelSubscription.objects.filter(session=session, channel_name=channel_name).delete()
        if deleted and presence.is_presence_channel(channel_name):
            presence.left([(channel_name, session.user_id)])
    return bool(deleted)


def changed_channel(session: WebSocketSession, old: str, new: str) -> None:
    """Presence bookkeeping of ``change_channel`` (the row already says ``new``)."""
    if not presence.any_presence_channels() or old == new:
        return
    steps: list[tuple[str, Callable[[], object]]] = [(new, lambda: presence.joined(session, new))]
    if presence.is_presence_channel(old):
        steps.append((old, lambda: presence.left([(old, session.user_id)])))
    with transaction.atomic():
        # Both member rows stay locked until commit: lock them in channel-name order, as every
        # other transaction that holds two does, so two tabs switching between the same two
        # channels in opposite directions cannot deadlock.
        for _channel, step in sorted(steps, key=lambda item: item[0]):
            step()


def release_sessions(sessions: Iterable[tuple[int, Any, str]]) -> int:
    """Delete the subscriptions of these disconnected sessions, ``(pk, user_id, channel_name)``
    each, and tell presence they left. Returns how many subscriptions were deleted."""
    rows = list(sessions)
    deleted = 0
    for start in range(0, len(rows), BATCH):
        batch = rows[start : start + BATCH]
        ids = [pk for pk, _user, _channel in batch]
        subscribed = ChannelSubscription.objects.filter(session_id__in=ids)
        pairs: set[tuple[str, Any]] = set()
        if presence.any_presence_channels():
            users = {pk: user_id for pk, user_id, _channel in batch}
            pairs = {(channel, user_id) for _pk, user_id, channel in batch}
            pairs |= {(c, users[s]) for s, c in subscribed.values_list("session_id", "channel_name")}
            pairs = {(c, u) for c, u in pairs if u is not None and presence.is_presence_channel(c)}
        deleted += subscribed.delete()[0]
        presence.left(pairs)
    return deleted


def release_connections(connection_ids: Collection[str]) -> int:
    """:func:`release_sessions` for the disconnected sessions with these connection ids."""
    ids = list(connection_ids)
    deleted = 0
    for start in range(0, len(ids), BATCH):
        batch = ids[start : start + BATCH]
        gone = WebSocketSession.objects.filter(connection_id__in=batch, connected=False)
        if presence.any_presence_channels():
            deleted += release_sessions(gone.values_list("pk", "user_id", "channel_name"))
        else:  # nothing to tell presence: one statement
            deleted += ChannelSubscription.objects.filter(session__in=gone.values("pk")).delete()[0]
    return deleted


def release_disconnected() -> int:
    """Delete every subscription of a disconnected (or deleted) session and remove the members
    left without a connection (after a bulk ``mark_disconnected()``, and in the sweep as a
    safety net).
    Returns how many subscriptions were deleted."""
    deleted = ChannelSubscription.objects.filter(session__connected=False).delete()[0]
    # Rows of sessions deleted while live (no cascade: see ChannelSubscription.session).
    exists = WebSocketSession.objects.filter(pk=OuterRef("session_id"))
    deleted += ChannelSubscription.objects.filter(~Exists(exists)).delete()[0]
    if presence.any_presence_channels() or _has_members():
        presence.reconcile()
    return deleted


def _has_members() -> bool:

    return PresenceMember.objects.exists()
