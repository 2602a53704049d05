"""Models of channel subscriptions and presence (docs/architecture.md §12).

A connection is on its own channel (``WebSocketSession.channel_name``, the reference's one
channel, unchanged) and on every channel it subscribed to over the socket: one
:class:`ChannelSubscription` row each. The session's own channel is *not* copied into this table:
sessions are written by ``bulk_create``, ``update(channel_name=…)``, the admin and reference-style
code that knows nothing of subscriptions, and a copy would silently miss them. The planner reads
the two index ranges of a channel (sessions by ``channel_name``, subscriptions by
``channel_name``), both ordered by session id, and merges them (:mod:`wsgateway.fanout.recipients`).

:class:`PresenceMember` is one row per (channel, user) that is present on a presence channel
(``WSGATEWAY["PRESENCE_CHANNELS"]``): the row a join or a leave locks to decide, atomically, whether
it was the user's first or last connection there (:mod:`wsgateway.presence`).
"""

from __future__ import annotations

from django.conf import settings
from django.db import models
from django.utils import timezone


class ChannelSubscription(models.Model):
    """A connection subscribed to a channel besides its own ``channel_name``."""

    # No cascade and no database constraint: deleting sessions stays one fast DELETE (the purge
    # of old disconnected rows must not load them to collect their subscriptions). A session's
    # subscriptions are released when it disconnects (wsgateway.subscriptions); rows left by a
    # session deleted while live are removed by release_disconnected() in the sweep.
    session = models.ForeignKey(
        "wsgateway.WebSocketSession",
        on_delete=models.DO_NOTHING,
        db_constraint=False,
        related_name="subscriptions",
        verbose_name="session",
        # Indexed (a foreign key's default): a disconnect deletes its session's subscriptions.
        db_index=True,
    )
    channel_name = models.CharField("channel name", max_length=128)
    # Copies of the session's fields the planner sends with (none of them changes while the
    # session lives; a deleted gateway disconnects its sessions first), so a channel's
    # subscribers are read from this table alone, one index range, no join per recipient.
    connection_id = models.CharField("connection id", max_length=255, default="")
    api_gateway = models.ForeignKey(
        "wsgateway.ApiGateway",
        on_delete=models.DO_NOTHING,
        db_constraint=False,
        db_index=False,
        null=True,
        blank=True,
        related_name="+",
        verbose_name="API Gateway",
    )
    session_created_on = models.DateTimeField("session created on", null=True, blank=True)
    subscribed_at = models.DateTimeField("subscribed at", default=timezone.now)

    class Meta:
        verbose_name = "channel subscription"
        verbose_name_plural = "channel subscriptions"
        constraints = [
            # Also the planner's index: a channel's subscribers in session-id order (keyset pages).
            models.UniqueConstraint(
                fields=["channel_name", "session"], name="wsg_subscription_channel_session"
            ),
        ]

    def __str__(self) -> str:
        return f"{self.session_id} on {self.channel_name}"


class PresenceMember(models.Model):
    """A user present on a presence channel (at least one live connection there)."""

    channel_name = models.CharField("channel name", max_length=128)
    user = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.CASCADE,
        related_name="+",
        verbose_name="user",
    )
    joined_at = models.DateTimeField("joined at", default=timezone.now)

    class Meta:
        verbose_name = "presence member"
        verbose_name_plural = "presence members"
        constraints = [
            models.UniqueConstraint(fields=["channel_name", "user"], name="wsg_presence_channel_user"),
        ]

    def __str__(self) -> str:
        return f"{self.user_id} on {self.channel_name}"
