"""One SQL statement where an event would read a row and then update it (docs/architecture.md §11).

A message event: ``UPDATE wsgateway_websocketsession SET request_count = request_count + 1,
last_seen_at = … WHERE connection_id = … AND api_gateway_id = … AND connected RETURNING
<session columns>, <user columns>``: the row is counted only when it is live on this gateway,
and the statement hands back the session and its user. A ``$connect``: the one-time token is
consumed the same way (``used`` set where it is unused, young enough and issued to this Django
session), handing back the token row and its user.

Each user column comes back as a correlated scalar subquery by primary key, which PostgreSQL
and SQLite both accept in ``RETURNING``. SQLite has ``RETURNING`` from 3.35; on older SQLite and
other databases the functions answer :data:`UNSUPPORTED` and the view falls back to a read and a
conditional update (two queries).
"""

from __future__ import annotations

import sqlite3
from collections.abc import Callable, Sequence
from datetime import datetime, timedelta
from typing import Any, Final, cast

from django.contrib.auth import get_user_model
from django.db import connections
from django.db.backends.base.base import BaseDatabaseWrapper
from django.db.models import Model

from wsgateway.hashing import session_key_hash, token_hash
from wsgateway.models import ChannelPermission, WebSocketSession, WebSocketToken

__all__ = ["UNSUPPORTED", "channel_rule", "close_live_session", "consume_token", "count_live_message"]

#: The answer on a database without ``UPDATE … RETURNING``.
UNSUPPORTED: Final = object()

Converter = Callable[[Any, Any, BaseDatabaseWrapper], Any]


def _column(model: type[Model], name: str) -> str:
    field: Any = model._meta.pk if name == "pk" else model._meta.get_field(name)
    return str(field.column)


class _UpdateReturning:
    """``UPDATE <model> SET <assigned> WHERE <matched> RETURNING <row>, <its user>`` for one
    database connection: the SQL and the column converters, built once."""

    def __init__(
        self,
        connection: BaseDatabaseWrapper,
        model: type[Model],
        assigned: Sequence[tuple[str, str]],
        matched: Sequence[tuple[str, str]],
    ) -> None:
        qn = connection.ops.quote_name
        user_model = get_user_model()
        fields = model._meta.concrete_fields
        user_fields = user_model._meta.concrete_fields
        table = qn(model._meta.db_table)
        user_table = qn(user_model._meta.db_table)
        user_pk = qn(_column(user_model, "pk"))

        def column(name: str) -> str:
            return f"{table}.{qn(_column(model, name))}"

        returning = [f"{table}.{qn(str(f.column))}" for f in fields] + [
            f"(SELECT u.{qn(str(f.column))} FROM {user_table} u WHERE u.{user_pk} = {column('user')})"  # noqa: S608 (names only)
            for f in user_fields
        ]
        # SET names the bare column (SQLite refuses a qualified one); the values may use them.
        assignments = ", ".join(f"{qn(_column(model, name))} = {value}" for name, value in assigned)
        conditions = " AND ".join(f"{column(name)} {test}" for name, test in matched)
        self.sql = (
            f"UPDATE {table} SET {assignments} WHERE {conditions} "  # noqa: S608 (names only)
            f"RETURNING {', '.join(returning)}"
        )
        self.model = model
        self.names = [f.attname for f in fields]
        self.user_names = [f.attname for f in user_fields]
        self.user_model = user_model
        self.split = len(fields)
        self.converters = [
            _converters(connection, f, f.model._meta.db_table) for f in [*fields, *user_fields]
        ]

    def run(self, using: str, params: Sequence[Any]) -> Any:
        """The updated row with its ``user`` loaded, or ``None`` when no row matched."""
        connection = connections[using]
        with connection.cursor() as cursor:
            cursor.execute(self.sql, params)
            row = cursor.fetchone()
        if row is None:
            return None
        values = [
            _convert(value, col, converters, connection)
            for value, (col, converters) in zip(row, self.converters, strict=True)
        ]
        instance: Any = self.model.from_db(using, self.names, values[: self.split])
        user_values = values[self.split :]
        user = None
        if user_values[0] is not None:
            user = self.user_model.from_db(using, self.user_names, user_values)
        instance.user = user
        return instance


class _SelectOne:
    """``SELECT <row> FROM <model> WHERE <unique column> = %s``, built once per database: what
    ``.filter(…).first()`` runs, without compiling the query on every event."""

    def __init__(self, connection: BaseDatabaseWrapper, model: type[Model], unique: str) -> None:
        qn = connection.ops.quote_name
        fields = model._meta.concrete_fields
        table = qn(model._meta.db_table)
        columns = ", ".join(f"{table}.{qn(str(f.column))}" for f in fields)
        self.sql = f"SELECT {columns} FROM {table} WHERE {table}.{qn(_column(model, unique))} = %s"  # noqa: S608 (names only)
        self.model = model
        self.names = [f.attname for f in fields]
        self.converters = [_converters(connection, f, model._meta.db_table) for f in fields]

    def run(self, using: str, value: Any) -> Any:
        connection = connections[using]
        with connection.cursor() as cursor:
            cursor.execute(self.sql, (value,))
            row = cursor.fetchone()
        if row is None:
            return None
        values = [
            _convert(v, col, converters, connection)
            for v, (col, converters) in zip(row, self.converters, strict=True)
        ]
        return self.model.from_db(using, self.names, values)


_selects: dict[str, _SelectOne] = {}


def channel_rule(channel_name: str, *, using: str = "default") -> ChannelPermission | None:
    """The ``ChannelPermission`` of ``channel_name`` (a unique column), or ``None``: what
    :meth:`ChannelPermission.for_channel` answers."""
    select = _selects.get(using)
    if select is None:
        select = _selects[using] = _SelectOne(connections[using], ChannelPermission, "channel_name")
    return cast(ChannelPermission | None, select.run(using, channel_name))


def _converters(connection: BaseDatabaseWrapper, field: Any, table: str) -> tuple[Any, list[Converter]]:
    # What the ORM's compiler applies to a selected column (e.g. SQLite's text datetimes).
    col = field.get_col(table)
    return col, [*connection.ops.get_db_converters(col), *col.get_db_converters(connection)]


def _convert(value: Any, col: Any, converters: list[Converter], connection: BaseDatabaseWrapper) -> Any:
    for converter in converters:
        value = converter(value, col, connection)
    return value


def _supported(connection: BaseDatabaseWrapper) -> bool:
    if connection.vendor == "postgresql":
        return True
    return connection.vendor == "sqlite" and sqlite3.sqlite_version_info >= (3, 35)


_statements: dict[tuple[str, str], _UpdateReturning | None] = {}


def _statement(using: str, kind: str) -> _UpdateReturning | None:
    key = (using, kind)
    if key not in _statements:
        connection = connections[using]
        built = None
        if _supported(connection):
            built = _STATEMENTS[kind](connection)
        _statements[key] = built
    return _statements[key]


def _message_statement(connection: BaseDatabaseWrapper) -> _UpdateReturning:
    count = connection.ops.quote_name(_column(WebSocketSession, "request_count"))
    return _UpdateReturning(
        connection,
        WebSocketSession,
        assigned=[("request_count", f"{count} + 1"), ("last_seen_at", "%s")],
        matched=[("connection_id", "= %s"), ("api_gateway", "= %s"), ("connected", "= %s")],
    )


def _disconnect_statement(connection: BaseDatabaseWrapper) -> _UpdateReturning:
    return _UpdateReturning(
        connection,
        WebSocketSession,
        assigned=[("connected", "%s"), ("disconnected_at", "%s"), ("updated_on", "%s")],
        matched=[("connection_id", "= %s"), ("api_gateway", "= %s"), ("connected", "= %s")],
    )


def _token_statement(connection: BaseDatabaseWrapper, *, with_session: bool) -> _UpdateReturning:
    matched = [("token", "= %s"), ("used", "= %s"), ("created_at", ">= %s")]
    if with_session:
        matched.append(("session_key", "= %s"))
    return _UpdateReturning(
        connection, WebSocketToken, assigned=[("used", "%s"), ("used_at", "%s")], matched=matched
    )


_STATEMENTS: dict[str, Callable[[BaseDatabaseWrapper], _UpdateReturning]] = {
    "message": _message_statement,
    "disconnect": _disconnect_statement,
    "token": lambda connection: _token_statement(connection, with_session=False),
    "token+session": lambda connection: _token_statement(connection, with_session=True),
}


def _datetime(model: type[Model], name: str, value: datetime, using: str) -> Any:
    field: Any = model._meta.get_field(name)
    return field.get_db_prep_value(value, connections[using])


def count_live_message(
    connection_id: str, gateway_pk: int, now: datetime, *, using: str = "default"
) -> WebSocketSession | object | None:
    """Count one message on the live session ``connection_id`` of gateway ``gateway_pk``.

    The session (``last_seen_at`` = ``now``, ``request_count`` already counted) with its user
    loaded, ``None`` when no live session on this gateway matched (nothing written), or
    :data:`UNSUPPORTED`.
    """
    statement = _statement(using, "message")
    if statement is None:
        return UNSUPPORTED
    seen = _datetime(WebSocketSession, "last_seen_at", now, using)
    return statement.run(using, (seen, connection_id, gateway_pk, True))


def close_live_session(
    connection_id: str, gateway_pk: int, now: datetime, *, using: str = "default"
) -> WebSocketSession | object | None:
    """Mark the live session ``connection_id`` of gateway ``gateway_pk`` disconnected at ``now``.

    The session as closed, with its user loaded; ``None`` when no live session on this gateway
    matched (unknown, or closed already: nothing written); or :data:`UNSUPPORTED`. Conditional,
    so of a ``$disconnect`` and a concurrent kick only one performs the transition.
    """
    statement = _statement(using, "disconnect")
    if statement is None:
        return UNSUPPORTED
    when = _datetime(WebSocketSession, "disconnected_at", now, using)
    updated = _datetime(WebSocketSession, "updated_on", now, using)
    return statement.run(using, (False, when, updated, connection_id, gateway_pk, True))


def consume_token(
    token_value: str, session_key: str | None, now: datetime, max_age_seconds: int, *, using: str = "default"
) -> WebSocketToken | object | None:
    """Mark the token ``token_value`` used if it is unused, issued at most ``max_age_seconds``
    before ``now`` and (``session_key`` given) to that Django session.

    The token row (with its user) as consumed, ``None`` when no token matched (nothing
    written), or :data:`UNSUPPORTED`. The caller still checks the user's auth hash, inside a
    transaction that a refusal rolls back (the view's ``$connect``), as
    :meth:`WebSocketToken.consume` does.
    """
    statement = _statement(using, "token" if session_key is None else "token+session")
    if statement is None:
        return UNSUPPORTED
    when = _datetime(WebSocketToken, "used_at", now, using)
    since = _datetime(WebSocketToken, "created_at", now - timedelta(seconds=max_age_seconds), using)
    params: list[Any] = [True, when, token_hash(token_value), False, since]
    if session_key is not None:
        params.append(session_key_hash(session_key))
    row = statement.run(using, params)
    if isinstance(row, WebSocketToken):
        row.used, row.used_at = True, now
    return row
