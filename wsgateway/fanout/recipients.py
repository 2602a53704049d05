"""Recipient streams for the planner: keyset pages of one index range, or several merged.

A stream yields ``(session_id, connection_id, api_gateway_id, created_on)`` in session-id order,
reading ``PAGE_SIZE`` rows per query (``key > last ORDER BY key LIMIT n``): memory stays flat
and each page is an index range scan. A channel's recipients are two such ranges (sessions whose
own ``channel_name`` is the channel, and the channel's subscription rows, which carry the fields
a send needs); :class:`Recipients` merges them by session id and drops the second copy of a session
found in both, so each connection gets a message once. Each range holds only that channel's
rows, so the cost per message does not depend on how many channels a connection has.
"""

from __future__ import annotations

import heapq
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime
from operator import itemgetter
from typing import Any

from django.conf import settings
from django.db import connections
from django.db.models import FloatField, Func, QuerySet

#: ``(session_id, connection_id, api_gateway_id, created_on)``: ``created_on`` as seconds since
#: the epoch where the database computes them (:class:`EpochSeconds`), else a datetime.
Row = tuple[int, str, int | None, float | datetime]


class EpochSeconds(Func):
    """A datetime column as seconds since the epoch (a float), computed by the database.

    A chunk carries each recipient's creation time as that number; Django's conversion of every
    row's datetime (parse the text, make it aware, then ``timestamp()``) was most of the
    planner's Python CPU per recipient on SQLite. Only for the vendors in :data:`EPOCH_VENDORS`,
    and only with ``USE_TZ`` (:func:`computes_epoch_in_sql`).
    """

    output_field = FloatField()

    def as_sqlite(self, compiler: Any, connection: Any, **extra: Any) -> Any:
        # Django stores UTC text; julianday() reads it (to the millisecond).
        template = "((julianday(%(expressions)s) - 2440587.5) * 86400.0)"
        return self.as_sql(compiler, connection, template=template, **extra)

    def as_postgresql(self, compiler: Any, connection: Any, **extra: Any) -> Any:
        template = "EXTRACT(EPOCH FROM %(expressions)s)::double precision"
        return self.as_sql(compiler, connection, template=template, **extra)


#: Database vendors :class:`EpochSeconds` is written for (elsewhere rows carry datetimes).
EPOCH_VENDORS = frozenset({"sqlite", "postgresql"})


def computes_epoch_in_sql(alias: str) -> bool:
    """Whether rows of database ``alias`` carry :class:`EpochSeconds` (else datetimes).

    Only with ``USE_TZ``: without it, SQLite holds naive *local* times that ``julianday()`` would
    read as UTC, off by the zone's offset, and that number decides the 410 grace period (a new
    session taken for hours old is marked gone on its first 410, and its message lost).
    """
    return bool(settings.USE_TZ) and connections[alias].vendor in EPOCH_VENDORS


def epoch_seconds(created: float | datetime) -> float:
    """A row's creation time as seconds since the epoch."""
    return created if isinstance(created, float) else created.timestamp()


#: The columns a session stream reads.
SESSION_COLUMNS = ("id", "connection_id", "api_gateway_id", "created_on")
#: The same columns read from a subscription row (copies of its session's).
SUBSCRIPTION_COLUMNS = ("session_id", "connection_id", "api_gateway_id", "session_created_on")


@dataclass(frozen=True)
class KeysetStream:
    """``queryset`` read in pages ordered by ``key`` (a session id), as :data:`Row` tuples."""

    queryset: QuerySet[Any]
    key: str = "id"
    columns: tuple[str, str, str, str] = SESSION_COLUMNS

    def rows(self, page_size: int) -> Iterator[Row]:
        last = 0
        key, connection_id, gateway_id, created = self.columns
        columns: tuple[Any, ...] = self.columns
        if computes_epoch_in_sql(self.queryset.db):
            columns = (key, connection_id, gateway_id, EpochSeconds(created))
        while True:
            page = list(
                self.queryset.filter(**{f"{self.key}__gt": last})
                .order_by(self.key)
                .values_list(*columns)[:page_size]
            )
            yield from page
            if len(page) < page_size:
                return
            last = page[-1][0]


@dataclass(frozen=True)
class Recipients:
    """Several streams of recipients merged by session id, each session once."""

    streams: tuple[KeysetStream, ...]

    def rows(self, page_size: int) -> Iterator[Row]:
        if len(self.streams) == 1:
            yield from self.streams[0].rows(page_size)
            return
        last = None
        for row in heapq.merge(*(s.rows(page_size) for s in self.streams), key=itemgetter(0)):
            if row[0] != last:
                last = row[0]
                yield row
