"""What code written for the reference package sees of the view once the gateway secret is set:
the ``ws_token`` query parameter of its pages, the ``disconnect()`` hook's ``None`` on success,
and the checks that still run when ``connect()``/``disconnect()`` are called directly.

Found by running the reference's published tests with ``--with-gateway-secret``
(tests/compat/run_reference_tests.py, docs/migrating.md)."""

from __future__ import annotations

import json
from typing import Any

import pytest
from django.test import RequestFactory

from tests.ingestion.conftest import (
    API_ID,
    CLIENT_IP,
    ORIGIN,
    SECRET,
    Browser,
    EventClient,
    error_code,
    new_connection_id,
)
from wsgateway.models import ApiGateway, WebSocketSession
from wsgateway.views import WebSocketView

pytestmark = pytest.mark.django_db


def connect_with_query(events: EventClient, browser: Browser, query: str) -> tuple[str, Any]:
    cid = new_connection_id()
    response = events.connect(cid, query=query, session_key=browser.session_key)
    return cid, response


# --- the reference's ws_token parameter --------------------------------------------------------


def test_a_page_written_for_the_reference_connects_with_ws_token(
    events: EventClient, browser: Browser
) -> None:
    cid, response = connect_with_query(events, browser, f"ws_token={browser.token()}&channel=room-1")
    assert response.status_code == 200, response.content
    session = WebSocketSession.objects.get(connection_id=cid)
    assert (session.user, session.channel_name, session.connected) == (browser.user, "room-1", True)


def test_a_ws_token_is_checked_like_any_token(events: EventClient, browser: Browser) -> None:
    token = browser.token()
    _cid, first = connect_with_query(events, browser, f"ws_token={token}")
    assert first.status_code == 200
    # Used once already, and a made-up one: both refused, and no session is written for them.
    for query in (f"ws_token={token}", "ws_token=not-a-token"):
        cid, response = connect_with_query(events, browser, query)
        assert (response.status_code, error_code(response)) == (401, "invalid_token")
        assert not WebSocketSession.objects.filter(connection_id=cid).exists()


def test_the_configured_parameter_wins_over_ws_token(events: EventClient, browser: Browser) -> None:
    # The configured parameter carries a bad token: a good ws_token next to it does not rescue it.
    good = browser.token()
    _cid, response = connect_with_query(events, browser, f"token=bogus&ws_token={good}")
    assert (response.status_code, error_code(response)) == (401, "invalid_token")


# --- direct calls of the connect()/disconnect() hooks ------------------------------------------


def event_request(connection_id: str, *, secret: str | None = SECRET, host: str = "www.example.com") -> Any:
    headers = {
        "HTTP_HOST": host,
        "HTTP_X_AMZN_APIGATEWAY_API_ID": API_ID,
        "HTTP_CONNECTIONID": connection_id,
        "HTTP_X_FORWARDED_FOR": CLIENT_IP,
        "HTTP_ORIGIN": ORIGIN,
    }
    if secret is not None:
        headers["HTTP_X_WS_GATEWAY_SECRET"] = secret
    return RequestFactory().post("/", data=b"", content_type="", **headers)


def test_disconnect_returns_none_once_the_session_is_closed(
    gateway: ApiGateway, events: EventClient, connected: str
) -> None:
    view = WebSocketView(api_gateway=gateway)
    assert view.disconnect(event_request(connected), route="disconnect") is None
    closed = WebSocketSession.objects.get(connection_id=connected)
    assert not closed.connected
    assert view.websocket_session == closed
    # Through the HTTP stack the same event is answered as before.
    answer = events.disconnect(connected)
    assert (answer.status_code, json.loads(answer.content)) == (200, {"status": "disconnected"})


def test_disconnect_of_an_unknown_connection_returns_the_answer(gateway: ApiGateway) -> None:
    view = WebSocketView(api_gateway=gateway)
    response = view.disconnect(event_request(new_connection_id()), route="disconnect")
    assert response is not None
    assert (response.status_code, json.loads(response.content)) == (200, {"status": "unknown"})
    assert view.websocket_session is None


def test_direct_calls_still_check_the_secret(gateway: ApiGateway, connected: str) -> None:
    for secret in (None, "not-the-secret"):
        view = WebSocketView(api_gateway=gateway)
        refused = view.disconnect(event_request(connected, secret=secret), route="disconnect")
        assert (refused.status_code, error_code(refused)) == (403, "invalid_secret")
        view = WebSocketView(api_gateway=gateway)
        refused = view.connect(event_request(new_connection_id(), secret=secret), route="connect")
        assert (refused.status_code, error_code(refused)) == (403, "invalid_secret")
    assert WebSocketSession.objects.get(connection_id=connected).connected
    assert WebSocketSession.objects.count() == 1


def test_a_direct_connect_still_checks_the_host(gateway: ApiGateway, settings: Any) -> None:
    settings.ALLOWED_HOSTS = ["allowed.example.com"]
    view = WebSocketView(api_gateway=gateway)
    view.USE_WS_TOKEN = False
    cid = new_connection_id()
    refused = view.connect(event_request(cid, host="www.example.com"), route="connect")
    assert (refused.status_code, error_code(refused)) == (400, "disallowed_host")
    assert not WebSocketSession.objects.filter(connection_id=cid).exists()
