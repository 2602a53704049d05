"""The SQL cost of ingestion (docs/architecture.md §11 "Inbound"): two for a ``$disconnect`` (the
session closed, its subscriptions deleted), one query for a message on a live
session (``UPDATE … RETURNING`` on PostgreSQL and SQLite >= 3.35; two elsewhere), at most 5 for
a successful ``$connect`` with the gateway lookup cached (6 cold; the token is read and consumed
by one statement there too).

Run on a transactional database so the view's own ``atomic`` is a real transaction (as in
production), not a savepoint inside the test's transaction. Transaction control (``BEGIN``,
``COMMIT``, which SQLite's backend logs as statements) is not counted: the budget is about
statements that read or write rows.
"""

from __future__ import annotations

import pytest
from django.core.cache import cache
from django.db import connection
from django.test import override_settings
from django.test.utils import CaptureQueriesContext

from tests.ingestion.conftest import API_ID, Browser, EventClient, new_connection_id, wsgateway
from wsgateway.gateway_cache import get_gateway
from wsgateway.models import WebSocketSession

pytestmark = pytest.mark.django_db(transaction=True)


def connect_queries(events: EventClient, browser: Browser, *, warm: bool) -> list[str]:
    token = browser.token()
    session_key = browser.session_key
    cid = new_connection_id()
    if warm:
        get_gateway(API_ID)
    else:
        cache.clear()
    with CaptureQueriesContext(connection) as queries:
        response = events.connect(cid, token=token, session_key=session_key, channel="room")
    assert response.status_code == 200, response.content
    assert WebSocketSession.objects.filter(connection_id=cid, connected=True).exists()
    return statements(queries)


def statements(queries: CaptureQueriesContext) -> list[str]:
    """The captured SQL that reads or writes rows (no transaction control)."""
    control = ("BEGIN", "COMMIT", "ROLLBACK", "SAVEPOINT", "RELEASE SAVEPOINT")
    return [q["sql"] for q in queries.captured_queries if not q["sql"].upper().startswith(control)]


def test_successful_connect_costs_at_most_5_queries(events: EventClient, browser: Browser) -> None:
    sql = connect_queries(events, browser, warm=True)
    assert len(sql) <= 5, "\n".join(sql)
    assert not any("SAVEPOINT" in q for q in sql)


def test_the_budget_holds_when_the_reference_purge_would_run(
    events: EventClient, browser: Browser, monkeypatch: pytest.MonkeyPatch
) -> None:
    """ConnectionRateLimit.record_attempt purges old rows on one call in RATE_LIMIT_PURGE_ONE_IN
    (the reference's behaviour); the view records its attempts without that, so the budget is
    the same on every connect."""
    from wsgateway import models

    monkeypatch.setattr(models.secrets, "randbelow", lambda n: 0)  # every purge draw would fire
    sql = connect_queries(events, browser, warm=True)
    assert len(sql) <= 5, "\n".join(sql)


def test_a_refused_connect_with_an_unknown_token_costs_3_queries(
    events: EventClient, browser: Browser
) -> None:
    """The token's statement (matching nothing), then the failed attempt counted and logged."""
    get_gateway(API_ID)
    with CaptureQueriesContext(connection) as queries:
        response = events.connect(new_connection_id(), token="bad", session_key=browser.session_key)
    assert response.status_code == 401, response.content
    assert len(statements(queries)) <= 3, "\n".join(statements(queries))


def test_cold_gateway_cache_adds_one_query(events: EventClient, browser: Browser) -> None:
    sql = connect_queries(events, browser, warm=False)
    assert len(sql) <= 6, "\n".join(sql)


def test_message_on_a_live_session_costs_1_query(events: EventClient, connected: str) -> None:
    events.base = "/custom/ws/"  # the project view's whoami handler does no database work
    get_gateway(API_ID)
    for n in range(3):
        with CaptureQueriesContext(connection) as queries:
            response = events.message(connected, {"handler": "whoami"})
        assert response.status_code == 200
        sql = statements(queries)
        assert len(sql) == 1, "\n".join(sql)
        assert WebSocketSession.objects.get().request_count == 2 + n


def test_without_update_returning_a_message_costs_2_queries(
    events: EventClient, connected: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The fallback for databases without ``UPDATE … RETURNING``: a read, then the count."""
    from wsgateway.views import live_session

    monkeypatch.setattr(live_session, "count_live_message", lambda *a, **k: live_session.UNSUPPORTED)
    events.base = "/custom/ws/"
    get_gateway(API_ID)
    with CaptureQueriesContext(connection) as queries:
        response = events.message(connected, {"handler": "whoami"})
    assert response.status_code == 200, response.content
    assert len(statements(queries)) == 2, "\n".join(statements(queries))
    assert WebSocketSession.objects.get().request_count == 2


def test_without_update_returning_a_connect_reads_then_consumes_the_token(
    events: EventClient, browser: Browser, monkeypatch: pytest.MonkeyPatch
) -> None:
    from wsgateway.views import live_session

    monkeypatch.setattr(live_session, "consume_token", lambda *a, **k: live_session.UNSUPPORTED)
    sql = connect_queries(events, browser, warm=True)
    assert len(sql) <= 6, "\n".join(sql)


def test_change_channel_adds_its_rule_lookup_and_update(events: EventClient, connected: str) -> None:
    get_gateway(API_ID)
    with CaptureQueriesContext(connection) as queries:
        response = events.message(connected, {"handler": "change_channel", "channel": "room-9"})
    assert response.status_code == 200
    assert len(statements(queries)) <= 3, "\n".join(statements(queries))


def test_disconnect_costs_2_queries(events: EventClient, connected: str) -> None:
    """The session closed by one ``UPDATE … RETURNING``, then its channel subscriptions deleted
    (wsgateway.subscriptions; without presence channels nothing else)."""
    get_gateway(API_ID)
    with CaptureQueriesContext(connection) as queries:
        assert events.disconnect(connected).status_code == 200
    sql = statements(queries)
    assert len(sql) == 2, "\n".join(sql)
    assert sql[1].startswith('DELETE FROM "wsgateway_channelsubscription"'), sql[1]
    assert not WebSocketSession.objects.get().connected
    # Again: nothing live matches, so the read tells "closed already" (still 200).
    with CaptureQueriesContext(connection) as queries:
        assert events.disconnect(connected).status_code == 200
    assert len(statements(queries)) == 2, "\n".join(statements(queries))


@override_settings(WSGATEWAY=wsgateway(REQUIRE_TOKEN=False))
def test_connect_without_tokens_loads_session_and_user_instead(events: EventClient, browser: Browser) -> None:
    get_gateway(API_ID)
    session_key = browser.session_key
    with CaptureQueriesContext(connection) as queries:
        response = events.connect(new_connection_id(), session_key=session_key, channel="room")
    assert response.status_code == 200
    assert WebSocketSession.objects.get().user == browser.user
    sql = statements(queries)
    assert len(sql) <= 6, "\n".join(sql)
