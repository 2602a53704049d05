"""The ``$connect`` rate limit: fixed-window counters, one row per key and window.

Counting past attempts row by row (the reference's ``ConnectionRateLimit.check_rate_limit``) has
two faults under attack: a check and the later insert are separate statements, so 60 concurrent
connects all see "19 so far" and pass a limit of 20; and every refused attempt adds a row that
every later check counts, so refusals get slower as they pile up.

Here each attempt increments its keys' counters with one atomic upsert statement
(``INSERT … ON CONFLICT (key, window_start) DO UPDATE SET count = count + 1 RETURNING count``,
PostgreSQL and SQLite ≥ 3.35; other databases lock the rows with ``SELECT … FOR UPDATE``), and
the attempt is allowed when every returned count is within the limit. The count is the
attempt's rank in its window, so exactly ``limit`` attempts pass however many arrive at once; a
check costs one indexed row per key whatever the number of refusals.

Windows are fixed (aligned to multiples of the window length since the epoch): a client can make
up to twice the limit across a window boundary. Old counters are deleted by
``cleanup_rate_limits`` (:func:`cleanup`).
"""

from __future__ import annotations

import time

from django.contrib.auth.models import AbstractBaseUser, AnonymousUser
from django.db import connection, transaction
from django.db.models import F

from wsgateway.conf import wsgateway_settings
from wsgateway.models import ConnectRateCounter


def _upsert_sql(n_keys: int) -> str:
    q = connection.ops.quote_name
    names = (ConnectRateCounter._meta.db_table, "key", "window_start", "count")
    table, key, window, count = (q(n) for n in names)
    rows = ", ".join(["(%s, %s, 1)"] * n_keys)
    return (
        f"INSERT INTO {table} ({key}, {window}, {count}) VALUES {rows} "  # noqa: S608 (names only)
        f"ON CONFLICT ({key}, {window}) DO UPDATE SET {count} = {table}.{count} + 1 RETURNING {count}"
    )


def connect_keys(ip_address: str, user: AbstractBaseUser | AnonymousUser | None) -> list[str]:
    """The counters an attempt counts against: its IP, and its user when authenticated.

    Always in this order (IP first), so two transactions lock rows in the same order.
    """
    keys = [f"ip:{ip_address}"]
    if user is not None and getattr(user, "is_authenticated", False) and user.pk is not None:
        keys.append(f"user:{user.pk}")
    return keys


def _window_seconds(window_minutes: float | None) -> int:
    if window_minutes is None:
        window_minutes = wsgateway_settings.CONNECT_RATE_LIMIT_WINDOW_MINUTES
    return max(1, int(window_minutes * 60))


def _window(window_seconds: int, now: float | None = None) -> int:
    now = time.time() if now is None else now
    return int(now // window_seconds) * window_seconds


def _increment(keys: list[str], window_start: int) -> int:
    """Add one to each key's counter; return the highest count. One statement when possible."""
    if connection.vendor in ("postgresql", "sqlite"):
        with connection.cursor() as cursor:
            cursor.execute(_upsert_sql(len(keys)), [v for key in keys for v in (key, window_start)])
            return max(int(row[0]) for row in cursor.fetchall())
    # Other backends: lock each row (created first if missing), then increment it.
    highest = 0
    with transaction.atomic():
        for key in keys:
            ConnectRateCounter.objects.get_or_create(key=key, window_start=window_start)
            row = ConnectRateCounter.objects.select_for_update().filter(key=key, window_start=window_start)
            row.update(count=F("count") + 1)
            highest = max(highest, int(row.values_list("count", flat=True).get()))
    return highest


def count_attempt(
    ip_address: str,
    user: AbstractBaseUser | AnonymousUser | None = None,
    *,
    max_attempts: int | None = None,
    window_minutes: int | None = None,
) -> tuple[bool, int]:
    """Count one ``$connect`` attempt; return ``(allowed, attempts)``.

    ``attempts`` is the highest count among the attempt's keys, this attempt included; the
    attempt is allowed when it is at most ``max_attempts`` (``CONNECT_RATE_LIMIT_ATTEMPTS`` in
    ``CONNECT_RATE_LIMIT_WINDOW_MINUTES`` by default). Inside a transaction the counter rows stay
    locked until it ends, so a rollback also undoes the count: count the attempt again outside
    (the view does, for every refused connect).
    """
    limit = int(max_attempts if max_attempts is not None else wsgateway_settings.CONNECT_RATE_LIMIT_ATTEMPTS)
    window = _window(_window_seconds(window_minutes))
    attempts = _increment(connect_keys(ip_address, user), window)
    return attempts <= limit, attempts


def count_event(key: str, limit: int, window_minutes: int = 1) -> bool:
    """Count one event under ``key`` in the current fixed window; whether it is within ``limit``.

    The same counters and upsert as ``$connect`` attempts (e.g. a connection's subscription
    changes, :mod:`wsgateway.subscriptions`); removed by :func:`cleanup` once their window ended.
    """
    return _increment([key], _window(_window_seconds(window_minutes))) <= limit


def cleanup(window_minutes: int | None = None) -> int:
    """Delete counters of windows that ended; returns how many rows went."""
    current = _window(_window_seconds(window_minutes))
    deleted, _ = ConnectRateCounter.objects.filter(window_start__lt=current).delete()
    return deleted
