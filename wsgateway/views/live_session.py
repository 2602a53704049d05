"""A message event's session lookup and request count in one SQL statement (docs/architecture.md §11).

``UPDATE wsgateway_websocketsession SET request_count = request_count + 1, last_seen_at = …
WHERE connection_id = … AND api_gateway_id = … AND connected RETURNING <session columns>,
<user columns>``: the row is counted only when it is live on this gateway, and the statement
hands back the session and its user (each user column as a correlated scalar subquery by primary
key, which PostgreSQL and SQLite both accept in ``RETURNING``). SQLite has ``RETURNING`` from
3.35; on older SQLite and other databases :func:`count_live_message` answers
:data:`UNSUPPORTED` and the view falls back to a read and a conditional update (two queries).

Nothing is matched (``None``) for an unknown connection, one on another gateway or one already
closed: the view then reads the row to tell these apart (a refusal may cost a second query).
"""

from __future__ import annotations

import sqlite3
from collections.abc import Callable
from datetime import datetime
from typing import Any, Final

from django.contrib.auth import get_user_model
from django.db import connections
from django.db.backends.base.base import BaseDatabaseWrapper
from django.db.models import Model

from wsgateway.models import WebSocketSession

__all__ = ["UNSUPPORTED", "count_live_message"]

#: :func:`count_live_message` on a database without ``UPDATE … RETURNING``.
UNSUPPORTED: Final = object()

Converter = Callable[[Any, Any, BaseDatabaseWrapper], Any]


class _Statement:
    """The SQL and the column converters for one database connection (built once)."""

    def __init__(self, connection: BaseDatabaseWrapper) -> None:
        qn = connection.ops.quote_name
        user_model = get_user_model()
        session_fields = WebSocketSession._meta.concrete_fields
        user_fields = user_model._meta.concrete_fields
        table = qn(WebSocketSession._meta.db_table)
        user_table = qn(user_model._meta.db_table)
        user_pk = qn(_column(user_model, "pk"))

        def column(name: str) -> str:
            return f"{table}.{qn(_column(WebSocketSession, name))}"

        returning = [f"{table}.{qn(str(f.column))}" for f in session_fields] + [
            f"(SELECT u.{qn(str(f.column))} FROM {user_table} u WHERE u.{user_pk} = {column('user')})"  # noqa: S608 (names only)
            for f in user_fields
        ]
        count, seen = (qn(_column(WebSocketSession, n)) for n in ("request_count", "last_seen_at"))
        self.sql = (
            f"UPDATE {table} SET {count} = {table}.{count} + 1, {seen} = %s "  # noqa: S608 (names only)
            f"WHERE {column('connection_id')} = %s AND {column('api_gateway')} = %s "
            f"AND {column('connected')} = %s RETURNING {', '.join(returning)}"
        )
        self.session_names = [f.attname for f in session_fields]
        self.user_names = [f.attname for f in user_fields]
        self.user_model = user_model
        self.split = len(session_fields)
        self.converters = [
            _converters(connection, f, f.model._meta.db_table) for f in [*session_fields, *user_fields]
        ]
        self.to_db_datetime = WebSocketSession._meta.get_field("last_seen_at").get_db_prep_value


def _column(model: type[Model], name: str) -> str:
    field: Any = model._meta.pk if name == "pk" else model._meta.get_field(name)
    return str(field.column)


def _converters(connection: BaseDatabaseWrapper, field: Any, table: str) -> tuple[Any, list[Converter]]:
    # What the ORM's compiler applies to a selected column (e.g. SQLite's text datetimes).
    col = field.get_col(table)
    return col, [*connection.ops.get_db_converters(col), *col.get_db_converters(connection)]


_statements: dict[str, _Statement] = {}


def _supported(connection: BaseDatabaseWrapper) -> bool:
    if connection.vendor == "postgresql":
        return True
    return connection.vendor == "sqlite" and sqlite3.sqlite_version_info >= (3, 35)


def count_live_message(
    connection_id: str, gateway_pk: int, now: datetime, *, using: str = "default"
) -> WebSocketSession | object | None:
    """Count one message on the live session ``connection_id`` of gateway ``gateway_pk``.

    The session (``last_seen_at`` = ``now``, ``request_count`` already counted) with its user
    loaded, ``None`` when no live session on this gateway matched (nothing written), or
    :data:`UNSUPPORTED`.
    """
    connection = connections[using]
    statement = _statements.get(using)
    if statement is None:
        if not _supported(connection):
            return UNSUPPORTED
        statement = _statements[using] = _Statement(connection)
    params = (statement.to_db_datetime(now, connection), connection_id, gateway_pk, True)
    with connection.cursor() as cursor:
        cursor.execute(statement.sql, params)
        row = cursor.fetchone()
    if row is None:
        return None
    values = [
        _convert(value, col, converters, connection)
        for value, (col, converters) in zip(row, statement.converters, strict=True)
    ]
    session = _instance(WebSocketSession, using, statement.session_names, values[: statement.split])
    user_values = values[statement.split :]
    user = None
    if user_values[0] is not None:
        user = _instance(statement.user_model, using, statement.user_names, user_values)
    session.user = user
    return session


def _convert(value: Any, col: Any, converters: list[Converter], connection: BaseDatabaseWrapper) -> Any:
    for converter in converters:
        value = converter(value, col, connection)
    return value


def _instance(model: type[Model], using: str, names: list[str], values: list[Any]) -> Any:
    return model.from_db(using, names, values)
