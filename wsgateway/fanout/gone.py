"""Bulk marking of sessions API Gateway no longer holds (410 after the grace period, kicks)."""

from __future__ import annotations

from collections.abc import Collection

from django.utils import timezone

from wsgateway.models import WebSocketSession

# Keeps each UPDATE's IN (...) list well under SQLite's and PostgreSQL's parameter limits.
_BATCH = 500


def mark_disconnected(connection_ids: Collection[str]) -> int:
    """Mark live sessions with these connection ids disconnected; one UPDATE per 500 ids.

    Sets ``connected=False``, ``disconnected_at`` and ``updated_on`` (``update()`` skips
    ``auto_now``, so it is set explicitly). Returns how many rows changed.
    """
    if not connection_ids:
        return 0
    ids = list(connection_ids)
    now = timezone.now()
    changed = 0
    for start in range(0, len(ids), _BATCH):
        changed += WebSocketSession.objects.filter(
            connection_id__in=ids[start : start + _BATCH], connected=True
        ).update(connected=False, disconnected_at=now, updated_on=now)
    return changed
