"""Marking sessions disconnected in bulk: the one implementation every caller uses.

API Gateway's ``$disconnect`` is best effort (docs/architecture.md §4), so rows are also marked
disconnected from outside the view: fan-out on a 410 or a kick (:mod:`wsgateway.fanout.gone`,
handed :func:`mark_disconnected` by ``AppConfig.ready()``),
the stale-session sweep (:mod:`wsgateway.maintenance`), a deleted gateway
(:mod:`wsgateway.receivers`). Each goes through :func:`mark_disconnected` (by connection id) or
``WebSocketSession.objects.filter(...).mark_disconnected()`` (any queryset,
:mod:`wsgateway.querysets`), which sets the fields; both touch live rows only, so a row is
marked once. Both then release the sessions' channel subscriptions and tell presence
(:mod:`wsgateway.subscriptions`).
"""

from __future__ import annotations

from collections.abc import Collection, Iterator
from datetime import datetime
from typing import Any

from django.utils import timezone

from wsgateway import subscriptions
from wsgateway.models import WebSocketSession
from wsgateway.querysets import WebSocketSessionQuerySet

# Keeps each UPDATE's IN (...) list well under SQLite's and PostgreSQL's parameter limits.
BATCH = 500


def _batches(connection_ids: Collection[str]) -> Iterator[WebSocketSessionQuerySet]:
    ids = list(connection_ids)
    for start in range(0, len(ids), BATCH):
        yield WebSocketSession.objects.filter(connection_id__in=ids[start : start + BATCH], connected=True)


def update_live(connection_ids: Collection[str], **values: Any) -> int:
    """``UPDATE`` the live sessions with these connection ids to ``values``, 500 ids per query.

    Returns how many rows changed.
    """
    return sum(batch.update(**values) for batch in _batches(connection_ids))


def mark_disconnected(connection_ids: Collection[str], now: datetime | None = None) -> int:
    """Mark live sessions with these connection ids disconnected, 500 ids per ``UPDATE``.

    The fields set are :meth:`~wsgateway.querysets.WebSocketSessionQuerySet.mark_disconnected`'s,
    all to the same ``now`` (default: the current time). Returns how many rows changed.
    """
    now = now or timezone.now()
    changed = sum(batch.mark_disconnected(now, release=False) for batch in _batches(connection_ids))
    if connection_ids:
        # Their subscriptions go, and presence hears who left (wsgateway.subscriptions); also for
        # rows already marked by other means (a 410 for a subscriber whose row a project marked).
        subscriptions.release_connections(connection_ids)
    return changed
