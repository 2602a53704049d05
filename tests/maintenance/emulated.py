"""Helpers shared by the maintenance and fault tests.

The emulator admin helpers come from the fan-out tests' conftest; added here: session rows with
a chosen idle time and age, and the set of live connection ids.
"""

from __future__ import annotations

from datetime import timedelta

from django.utils import timezone

from tests.fanout.conftest import admin, make_gateway, received, virtual_connections, wsgateway_overrides
from wsgateway.models import ApiGateway, WebSocketSession

__all__ = [
    "admin",
    "live_ids",
    "make_gateway",
    "make_sessions",
    "received",
    "virtual_connections",
    "wsgateway_overrides",
]


def make_sessions(
    gateway: ApiGateway | None,
    connection_ids: list[str],
    *,
    idle_seconds: float = 0.0,
    age_seconds: float = 60.0,
    channel: str = "room",
) -> None:
    """Live rows for ``connection_ids``: connected ``age_seconds`` ago, last seen ``idle_seconds`` ago."""
    now = timezone.now()
    WebSocketSession.objects.bulk_create(
        [
            WebSocketSession(
                connection_id=c,
                channel_name=channel,
                api_gateway=gateway,
                connected_at=now - timedelta(seconds=age_seconds),
                last_seen_at=now - timedelta(seconds=idle_seconds),
            )
            for c in connection_ids
        ]
    )
    WebSocketSession.objects.filter(connection_id__in=connection_ids).update(
        created_on=now - timedelta(seconds=age_seconds)
    )


def live_ids() -> set[str]:
    """Connection ids of the rows still marked connected."""
    return set(WebSocketSession.objects.filter(connected=True).values_list("connection_id", flat=True))
