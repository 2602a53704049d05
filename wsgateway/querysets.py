"""Custom querysets (docs/architecture.md §10)."""

from __future__ import annotations

from datetime import datetime
from typing import TYPE_CHECKING, Any

from django.db import models
from django.utils import timezone

if TYPE_CHECKING:
    from wsgateway.models import WebSocketSession  # noqa: F401

#: The reference's default for ``send_message(max_workers=...)``; wsgateway's concurrency is the
#: fan-out worker's (``WSGATEWAY["FANOUT_CONCURRENCY"]``).
BROADCAST_MAX_WORKERS = 10


class WebSocketSessionQuerySet(models.QuerySet["WebSocketSession"]):
    """Queries over WebSocket sessions, and broadcasting to them."""

    def live(self) -> WebSocketSessionQuerySet:
        """Sessions API Gateway still holds open, as far as we know."""
        return self.filter(connected=True)

    def for_channel(self, channel_name: str) -> WebSocketSessionQuerySet:
        """Live sessions on ``channel_name``."""
        return self.filter(connected=True, channel_name=channel_name)

    def for_user(self, user: Any) -> WebSocketSessionQuerySet:
        """Live sessions of ``user`` (a user instance or primary key).

        ``None`` or an anonymous user is refused: ``user_id IS NULL`` would select every
        anonymous socket, so ``send_to_user(request.user)`` on a logged-out request must fail.
        """
        user_id = getattr(user, "pk", user)
        if user_id is None:
            raise ValueError("for_user() needs an authenticated user or a user id, not None/anonymous.")
        return self.filter(connected=True, user_id=user_id)

    def mark_disconnected(self, now: datetime | None = None, *, release: bool = True) -> int:
        """Mark the live sessions of this queryset disconnected, in one ``UPDATE``.

        Sets ``connected=False``, ``disconnected_at`` and ``updated_on`` to ``now`` (default: the
        current time; ``update()`` skips ``auto_now``, so it is set explicitly). Only live rows
        change, so of two concurrent callers one performs the transition. Returns how many rows
        changed. :mod:`wsgateway.disconnect` does the same by connection id, in batches. The
        sessions' channel subscriptions are then released (:mod:`wsgateway.subscriptions`);
        ``release=False`` leaves that to the caller, who knows the sessions.
        """
        now = now or timezone.now()
        changed = self.filter(connected=True).update(connected=False, disconnected_at=now, updated_on=now)
        if changed and release:
            from wsgateway import subscriptions  # it imports the models: keep the cycle lazy

            # The UPDATE does not say which rows changed: release every disconnected session's
            # subscriptions (and presence members), a range of the live subscriptions only.
            subscriptions.release_disconnected()
        return changed

    def send_message(self, data: dict[str, Any], max_workers: int = BROADCAST_MAX_WORKERS) -> Any:
        """Send the same message to all connected WebSocket sessions in the queryset.

        Enqueues the fan-out (after the current transaction commits) and returns a handle carrying
        the message id; it never waits for API Gateway. ``max_workers`` is accepted for the
        reference's signature (``ValueError`` below 1); the fan-out worker's own concurrency
        setting decides how many requests are in flight.

        Example::

            WebSocketSession.objects.filter(channel_name="Shared Channel Name").send_message(
                {"msg": "this is a server sent message"}
            )
        """
        from wsgateway import sending  # the sending layer imports models; keep the cycle lazy

        if isinstance(max_workers, bool) or not isinstance(max_workers, int) or max_workers < 1:
            raise ValueError("max_workers must be at least 1")
        return sending.send_to_queryset(self, data)
