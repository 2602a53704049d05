"""Who receives a message, as plain data that a Celery task can carry (JSON)."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any, cast

from django.db.models import Q, lookups

from wsgateway.fanout.recipients import SUBSCRIPTION_COLUMNS, KeysetStream, Recipients
from wsgateway.models import ChannelSubscription, WebSocketSession
from wsgateway.payloads import TargetData
from wsgateway.querysets import WebSocketSessionQuerySet

# Fields a queryset may filter on (exact match, ANDed) and still compile to a Target.
_COMPILABLE = {
    "connection_id": "connection_id",
    "channel_name": "channel_name",
    "user": "user_id",
    "api_gateway": "api_gateway_id",
}


def normalize_exclude(exclude: str | Iterable[str] | None) -> tuple[str, ...]:
    """``exclude`` as a sorted tuple of connection ids (a single id may be passed as a string)."""
    if exclude is None:
        return ()
    if isinstance(exclude, str):
        return (exclude,) if exclude else ()
    ids = tuple(sorted({str(x) for x in exclude if x}))
    return ids


_FIELDS = ("connection_id", "channel_name", "user_id", "api_gateway_id")


@dataclass(frozen=True)
class Target:
    """Live sessions matching every given field (``None`` = any), minus ``exclude``.

    No field at all means every live session. ``channel_name`` matches the session column (what a
    queryset ``filter(channel_name=…)`` selects); with ``subscribers`` it means *on the channel*:
    the column, or a subscription to it (:mod:`wsgateway.subscriptions`), each session once.
    """

    connection_id: str | None = None
    channel_name: str | None = None
    user_id: int | str | None = None
    api_gateway_id: int | None = None
    exclude: tuple[str, ...] = ()
    subscribers: bool = False

    def _filters(self) -> dict[str, Any]:
        return {name: getattr(self, name) for name in _FIELDS if getattr(self, name) is not None}

    def recipients(self) -> WebSocketSessionQuerySet | Recipients:
        """What the planner streams: :meth:`queryset`, or for a ``channel`` the channel's sessions
        and its subscribers as two keyset streams merged by session id (each an index range of
        this channel only; see :mod:`wsgateway.fanout.recipients`)."""
        if not self._with_subscribers():
            return self.queryset()
        own = self._sessions(live_only=True)
        # Subscriptions are deleted when their session disconnects (wsgateway.subscriptions), so
        # the rows alone are the live subscribers: no join per recipient. A row whose session was
        # marked gone by other means is answered 410 once, which releases it.
        subscribed = ChannelSubscription.objects.filter(channel_name=self.channel_name)
        filters = {name: v for name, v in self._filters().items() if name != "channel_name"}
        if set(filters) - {"api_gateway_id"}:  # a user or one connection: ask the session rows
            subscribed = subscribed.filter(session__connected=True)
            subscribed = subscribed.filter(**{f"session__{name}": v for name, v in filters.items()})
        elif filters:
            subscribed = subscribed.filter(**filters)
        if self.exclude:
            subscribed = subscribed.exclude(connection_id__in=self.exclude)
        return Recipients(
            (KeysetStream(own), KeysetStream(subscribed, key="session_id", columns=SUBSCRIPTION_COLUMNS))
        )

    def queryset(self, *, live_only: bool = True) -> WebSocketSessionQuerySet:
        """The live sessions this target names (lazily; the planner streams it).

        ``live_only=False`` keeps rows we already marked disconnected: closing a named connection
        must reach API Gateway even when our row says it is gone (a kick marks the row first).
        """
        if not self._with_subscribers():
            return self._sessions(live_only=live_only)
        # The whole channel as one queryset: exact, but not an index range (the planner streams
        # recipients() instead).
        subscribed = ChannelSubscription.objects.filter(channel_name=self.channel_name).values("session_id")
        on_channel = Q(channel_name=self.channel_name) | Q(pk__in=subscribed)
        return self._sessions(live_only=live_only, channel=False).filter(on_channel)

    def _with_subscribers(self) -> bool:
        return self.subscribers and self.channel_name is not None

    def _sessions(self, *, live_only: bool, channel: bool = True) -> WebSocketSessionQuerySet:
        qs = (
            WebSocketSession.objects.all()
            if not live_only
            else WebSocketSession.objects.filter(connected=True)
        )
        filters = self._filters()
        if not channel:
            filters.pop("channel_name", None)
        if filters:
            qs = qs.filter(**filters)
        if self.exclude:
            qs = qs.exclude(connection_id__in=self.exclude)
        return qs

    def to_dict(self) -> TargetData:
        """Plain data for a task argument."""
        data = cast(TargetData, self._filters())
        if self._with_subscribers():
            data["subscribers"] = True
        if self.exclude:
            data["exclude"] = list(self.exclude)
        return data

    @classmethod
    def from_dict(cls, data: TargetData) -> Target:
        """Inverse of :meth:`to_dict`; unknown keys are an error."""
        unknown = set(data) - {*_FIELDS, "subscribers", "exclude"}
        if unknown:
            raise ValueError(f"Unknown target keys: {', '.join(sorted(unknown))}")
        return cls(
            connection_id=data.get("connection_id"),
            channel_name=data.get("channel_name"),
            user_id=data.get("user_id"),
            api_gateway_id=data.get("api_gateway_id"),
            exclude=normalize_exclude(data.get("exclude")),
            subscribers=bool(data.get("subscribers", False)),
        )


def compile_queryset(queryset: WebSocketSessionQuerySet, exclude: tuple[str, ...] = ()) -> Target | None:
    """A :class:`Target` equal to ``queryset.filter(connected=True)``, or ``None`` when the filter
    is anything but exact matches on connection id / channel / user / gateway (and
    ``connected=True``) joined by AND.

    A queryset cannot travel through a JSON broker; the common filters compile to a target the
    worker re-evaluates, anything else is streamed by the caller (see :mod:`wsgateway.sending`).
    """
    query = queryset.query
    if query.model is not WebSocketSession or query.is_sliced or query.combinator or query.distinct:
        return None
    where = query.where
    if where.negated or (where.children and where.connector != "AND"):
        return None
    values: dict[str, Any] = {}
    for child in where.children:
        if not isinstance(child, lookups.Exact) or type(child).lookup_name != "exact":
            return None
        lhs = child.lhs
        target_field = getattr(lhs, "target", None)
        if getattr(lhs, "alias", None) != query.base_table or target_field is None:
            return None
        if target_field.model is not WebSocketSession:
            return None
        name = target_field.name
        value = getattr(child.rhs, "pk", child.rhs)
        if name == "connected":
            if value is not True:
                return None
            continue
        attr = _COMPILABLE.get(name)
        if attr is None or value is None or hasattr(value, "resolve_expression"):
            return None
        if attr in values and values[attr] != value:
            return None
        values[attr] = value
    return Target(exclude=exclude, **values)
