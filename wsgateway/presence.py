"""Presence: who is on a channel, and ``member_added`` / ``member_removed`` events (docs/architecture.md §12).

:func:`presence` answers for any channel: the users with at least one live connection on it (its
own ``channel_name`` or a subscription), each once with their number of connections, plus the
number of anonymous connections (they have no identity to list, so they are counted, not named).

On the channels matching ``WSGATEWAY["PRESENCE_CHANNELS"]`` the members are also told when a user
arrives or leaves: ``member_added`` when the *first* connection of a user joins, ``member_removed``
when the *last* one leaves (a disconnect, an unsubscribe, a kick, a 410 seen by the fan-out, or
the stale-session sweep), never once per tab. The events go through the normal fan-out (a Celery
task, after the transaction commits) to every connection on the channel::

    {"type": "member_added", "channel": "room-1", "user": {"id": 7, "name": "alice"},
     "at": "2026-12-02T08:00:00.123456+00:00", "message_id": "…"}

``at`` is when the decision was taken (under the member's row lock, so the events of one user on
one channel are ordered by it): the fan-out may deliver two events in either order, and a client
keeps the one with the latest ``at`` per user.

**Why a row per member.** "First connection" must be decided once even when two tabs connect in
the same instant. A join writes its connection (session or subscription row), then, in the same
transaction, locks the channel's :class:`~wsgateway.models.PresenceMember` row of the user
(``SELECT … FOR UPDATE``) or creates it; the unique (channel, user) constraint lets exactly one
of two concurrent creators succeed, and only the creator announces. A leave, after its
connection is marked gone, locks the same row and counts the user's live connections on the
channel *after* acquiring the lock, so it sees every join that committed before it; it deletes
the row and announces only when none is left. A join that waited for a leave's lock finds the
row deleted and creates it again (removed, then added: what happened).
"""

from __future__ import annotations

import fnmatch
from collections.abc import Iterable
from dataclasses import asdict, dataclass
from datetime import datetime
from typing import Any

from django.contrib.auth import get_user_model
from django.db import IntegrityError, transaction
from django.db.models import Count, Exists, OuterRef
from django.utils import timezone

from wsgateway import sending
from wsgateway.conf import wsgateway_settings
from wsgateway.models import ChannelSubscription, PresenceMember, WebSocketSession

__all__ = [
    "MEMBER_ADDED",
    "MEMBER_REMOVED",
    "Member",
    "Presence",
    "is_presence_channel",
    "presence",
    "reconcile",
]

MEMBER_ADDED = "member_added"
MEMBER_REMOVED = "member_removed"
#: Tries of "lock the member row, else create it" before giving up (a create loses a race only to
#: a concurrent creator, after which the row exists; a third round needs a leave in between).
_LOCK_OR_CREATE_TRIES = 3
#: Stale members one :func:`reconcile` run looks at.
RECONCILE_LIMIT = 1000


@dataclass(frozen=True)
class Member:
    """A user on a channel: their id, username and number of live connections there."""

    user_id: Any
    name: str
    connections: int


@dataclass(frozen=True)
class Presence:
    """Who is on ``channel``: users (each once, sorted by name) and anonymous connections."""

    channel: str
    members: tuple[Member, ...]
    anonymous_connections: int
    #: When the read began: a member event with a later (or equal) ``at`` is newer than this list.
    at: datetime

    @property
    def connections(self) -> int:
        """Every live connection on the channel, anonymous ones included."""
        return sum(m.connections for m in self.members) + self.anonymous_connections

    @property
    def user_ids(self) -> set[Any]:
        """The ids of the users present."""
        return {m.user_id for m in self.members}

    def as_dict(self) -> dict[str, Any]:
        """Plain data (a handler's answer): ``{"channel", "members": [{"user_id", "name",
        "connections"}], "anonymous_connections", "connections", "at"}``."""
        data = asdict(self)
        data["members"] = [asdict(m) for m in self.members]
        data["connections"] = self.connections
        data["at"] = self.at.isoformat(timespec="microseconds")
        return data


def is_presence_channel(channel_name: str) -> bool:
    """Whether members of ``channel_name`` get member events (``WSGATEWAY["PRESENCE_CHANNELS"]``)."""
    patterns = wsgateway_settings.PRESENCE_CHANNELS
    return any(fnmatch.fnmatchcase(channel_name, str(p)) for p in patterns)


def presence(channel_name: str, *, limit: int | None = None) -> Presence:
    """Who is on ``channel_name`` now: every user with a live connection there, once, with the
    number of their connections (tabs), and the number of anonymous connections.

    A connection counts when its own ``channel_name`` is the channel or it subscribed to the
    channel (once if both). Channels are global: connections of every gateway count. ``limit``
    caps the number of members returned (the counts of those returned stay exact). Three
    indexed queries, whatever the number of channels a connection has.
    """
    at = timezone.now()
    counts: dict[Any, int] = {}
    own = (
        WebSocketSession.objects.filter(connected=True, channel_name=channel_name)
        .values_list("user_id")
        .annotate(n=Count("id"))
        .order_by()
    )
    # A connection both on the channel and subscribed to it is counted by the first query only.
    subscribed = (
        ChannelSubscription.objects.filter(channel_name=channel_name, session__connected=True)
        .exclude(session__channel_name=channel_name)
        .values_list("session__user_id")
        .annotate(n=Count("id"))
        .order_by()
    )
    for user_id, n in [*own, *subscribed]:
        counts[user_id] = counts.get(user_id, 0) + n
    anonymous = counts.pop(None, 0)
    names = _names(counts)
    members = sorted(
        (Member(user_id=u, name=names.get(u, str(u)), connections=n) for u, n in counts.items()),
        key=lambda m: (m.name, str(m.user_id)),
    )
    if limit is not None:
        members = members[: max(0, limit)]
    return Presence(channel=channel_name, members=tuple(members), anonymous_connections=anonymous, at=at)


def _names(user_ids: Iterable[Any]) -> dict[Any, str]:
    ids = list(user_ids)
    if not ids:
        return {}
    user_model = get_user_model()
    return {user.pk: str(user.get_username()) for user in user_model.objects.filter(pk__in=ids)}


def _user_info(user_id: Any, user: Any = None) -> dict[str, Any]:
    if user is None:
        user = get_user_model().objects.filter(pk=user_id).first()
    return {"id": user_id, "name": str(user.get_username()) if user is not None else str(user_id)}


def _announce(
    event: str, channel_name: str, user_id: Any, user: Any = None, exclude: str | None = None
) -> None:
    data = {
        "type": event,
        "channel": channel_name,
        "user": _user_info(user_id, user),
        "at": timezone.now().isoformat(timespec="microseconds"),
    }
    sending.send_to_channel(channel_name, data, exclude=exclude)


def _lock_member(channel_name: str, user_id: Any) -> int | None:
    """Lock the member row and return its pk, or ``None`` when there is none (no lock taken)."""
    rows = PresenceMember.objects.select_for_update().filter(channel_name=channel_name, user_id=user_id)
    return rows.values_list("pk", flat=True).first()


def _lock_or_create(channel_name: str, user_id: Any) -> bool:
    """Lock the member row, creating it if missing; whether this call created it."""
    for _ in range(_LOCK_OR_CREATE_TRIES):
        if _lock_member(channel_name, user_id) is not None:
            return False
        try:
            with transaction.atomic():
                PresenceMember.objects.create(channel_name=channel_name, user_id=user_id)
            return True
        except IntegrityError:
            continue  # a concurrent join created it (and committed): lock it on the next round
    return False


def joined(session: WebSocketSession, channel_name: str) -> bool:
    """Record that ``session`` is now on ``channel_name``; announce ``member_added`` when it is its
    user's first connection there. Call it in the transaction that wrote the connection (the
    ``$connect``, ``subscribe`` or ``change_channel``), after the write. Whether it announced.
    """
    user_id = session.user_id
    if user_id is None or not is_presence_channel(channel_name):
        return False
    with transaction.atomic():
        created = _lock_or_create(channel_name, user_id)
        if created:
            user = session.user if WebSocketSession._meta.get_field("user").is_cached(session) else None
            _announce(MEMBER_ADDED, channel_name, user_id, user, exclude=session.connection_id)
    return created


def _still_on(channel_name: str, user_id: Any) -> bool:
    live = WebSocketSession.objects.filter(connected=True, user_id=user_id)
    if live.filter(channel_name=channel_name).exists():
        return True
    return ChannelSubscription.objects.filter(
        channel_name=channel_name, session__user_id=user_id, session__connected=True
    ).exists()


def left(pairs: Iterable[tuple[str, Any]]) -> int:
    """Record that connections of these ``(channel_name, user_id)`` pairs left (their rows are
    already marked gone or deleted, committed or in this transaction); announce ``member_removed``
    for each user that has no live connection left on the channel. Returns how many were removed.

    Idempotent: a pair whose member row is gone (or was never written) is skipped.
    """
    removed = 0
    # One lock at a time, in a fixed order: two leaves never wait on each other in a cycle.
    for channel_name, user_id in sorted(
        {p for p in pairs if p[1] is not None}, key=lambda p: (p[0], str(p[1]))
    ):
        with transaction.atomic():
            pk = _lock_member(channel_name, user_id)
            if pk is None or _still_on(channel_name, user_id):
                continue
            PresenceMember.objects.filter(pk=pk).delete()
            removed += 1
            if is_presence_channel(channel_name):
                _announce(MEMBER_REMOVED, channel_name, user_id)
    return removed


def any_presence_channels() -> bool:
    """Whether any channel has member events (else joins and leaves write nothing)."""
    return bool(wsgateway_settings.PRESENCE_CHANNELS)


def stale_members(limit: int = RECONCILE_LIMIT) -> list[tuple[str, Any]]:
    """``(channel_name, user_id)`` of up to ``limit`` member rows whose user has no live connection
    on the channel (a connection that vanished without a ``$disconnect``), one query."""
    own = WebSocketSession.objects.filter(
        connected=True, user_id=OuterRef("user_id"), channel_name=OuterRef("channel_name")
    )
    subscribed = ChannelSubscription.objects.filter(
        channel_name=OuterRef("channel_name"), session__user_id=OuterRef("user_id"), session__connected=True
    )
    rows = (
        PresenceMember.objects.filter(~Exists(own), ~Exists(subscribed))
        .order_by("pk")
        .values_list("channel_name", "user_id")[:limit]
    )
    return list(rows)


def reconcile(limit: int = RECONCILE_LIMIT) -> int:
    """Remove (and announce) members with no live connection left; run by the stale-session sweep
    after it marked sessions gone. Returns how many were removed."""
    return left(stale_members(limit))
