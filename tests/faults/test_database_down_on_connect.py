"""The database fails during ``$connect``: Django answers a clean 503, the emulator refuses the
socket, and nothing is half-written (no session row, the one-time token is not consumed).

Two faults: the database unreachable (new connections go to a closed port / a path that cannot
be opened), and the database reachable but the write blocked by another transaction's lock
until it times out (SQLite ``BEGIN IMMEDIATE``; PostgreSQL ``LOCK TABLE`` + ``lock_timeout``),
which fails the ``$connect`` transaction after the token was already consumed inside it.
"""

from __future__ import annotations

import logging
import sqlite3
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import pytest
from django.contrib.auth import get_user_model
from django.contrib.sessions.backends.db import SessionStore
from django.db import connection, connections
from websockets.exceptions import InvalidStatus

from tests.faults.conftest import free_port, over_http_and_https
from wsgateway.models import ConnectionRateLimit, WebSocketSession, WebSocketToken

pytestmark = [pytest.mark.slow, pytest.mark.django_db(transaction=True), pytest.mark.timeout(30)]


@contextmanager
def database_unreachable() -> Iterator[None]:
    """New connections (the live server opens one per request) cannot reach the database."""
    shared = connections.settings["default"]  # the dict every new DatabaseWrapper is built from
    saved = dict(shared)
    if connection.vendor == "sqlite":
        shared["NAME"] = "/nonexistent-wsgateway-dir/db.sqlite3"
    else:
        shared.update(HOST="127.0.0.1", PORT=str(free_port()))
    try:
        yield
    finally:
        shared.clear()
        shared.update(saved)


@contextmanager
def writes_locked() -> Iterator[None]:
    """Another transaction holds the lock Django's next write needs; Django gives up quickly."""
    shared = connections.settings["default"]
    saved_options = dict(shared.get("OPTIONS", {}))
    if connection.vendor == "sqlite":
        holder: Any = sqlite3.connect(shared["NAME"], isolation_level=None, check_same_thread=False)
        holder.execute("BEGIN IMMEDIATE")  # a RESERVED lock: reads pass, every write waits
        shared["OPTIONS"] = {**saved_options, "timeout": 0.3}
    else:
        import psycopg

        holder = psycopg.connect(
            host=shared["HOST"] or "127.0.0.1",
            port=shared["PORT"] or 5432,
            user=shared["USER"],
            password=shared["PASSWORD"] or None,
            dbname=shared["NAME"],
        )
        holder.execute(f"LOCK TABLE {WebSocketSession._meta.db_table} IN ACCESS EXCLUSIVE MODE")
        shared["OPTIONS"] = {**saved_options, "options": "-c lock_timeout=300"}
    try:
        yield
    finally:
        shared["OPTIONS"] = saved_options
        holder.rollback() if connection.vendor != "sqlite" else holder.execute("ROLLBACK")
        holder.close()


FAULTS = {"unreachable": database_unreachable, "locked": writes_locked}


@over_http_and_https
@pytest.mark.parametrize("fault", sorted(FAULTS))
def test_connect_is_refused_cleanly_and_nothing_is_half_written(fault, django_api_factory, caplog):
    api = django_api_factory()
    user = get_user_model().objects.create_user("ws-user", password="pw")
    session = SessionStore()
    session.create()
    token = WebSocketToken.generate_token(user, session.session_key).token
    url = f"{api.ws_url}?token={token}"
    cookie = {"Cookie": f"sessionid={session.session_key}"}
    successful_before = ConnectionRateLimit.objects.filter(successful=True).count()

    with (
        caplog.at_level(logging.ERROR, logger="wsgateway"),
        FAULTS[fault](),
        pytest.raises(InvalidStatus) as refused,
    ):
        api.connect(url, additional_headers=cookie, open_timeout=10)
    assert refused.value.response.status_code == 500  # the emulator's answer to a 5xx $connect
    assert any("failed on the database" in r.getMessage() for r in caplog.records)

    # nothing half-written: no session, the token unused, no successful attempt recorded
    assert not WebSocketSession.objects.exists()
    assert not WebSocketToken.objects.get(user=user).used
    assert ConnectionRateLimit.objects.filter(successful=True).count() == successful_before

    # the database is back: the same token opens the socket
    with api.connect(url, additional_headers=cookie, open_timeout=10) as ws:
        ws.send('{"handler": "change_channel", "channel": "lobby"}')
        assert WebSocketSession.objects.filter(user=user, connected=True).count() == 1
    print(
        f"[$connect, database {fault}] attempts=2 refused=1 accepted=1 half_written=0 "
        "sent=0 delivered=0 duplicates=0 lost=0"
    )
