"""``$disconnect``: marks the session, idempotent, unknown ids are fine, forgeries refused."""

from __future__ import annotations

from typing import Any

import pytest

from tests.ingestion.conftest import EventClient, error_code, new_connection_id
from wsgateway import signals
from wsgateway.models import ApiGateway, WebSocketSession

pytestmark = pytest.mark.django_db


def test_disconnect_marks_the_session_once(events: EventClient, connected: str) -> None:
    got: list[dict[str, Any]] = []

    def receiver(sender: Any, **kwargs: Any) -> None:
        got.append(kwargs)

    signals.websocket_disconnected.connect(receiver)
    try:
        first = events.disconnect(connected)
        session = WebSocketSession.objects.get()
        second = events.disconnect(connected)
    finally:
        signals.websocket_disconnected.disconnect(receiver)
    assert first.status_code == 200 and second.status_code == 200
    assert not session.connected and session.disconnected_at is not None
    assert WebSocketSession.objects.get().disconnected_at == session.disconnected_at  # unchanged
    assert len(got) == 1 and got[0]["session"].connection_id == connected
    assert got[0]["request"].user.get_username() == "alice"


def test_unknown_connection_is_not_an_error(events: EventClient) -> None:
    response = events.disconnect(new_connection_id())
    assert response.status_code == 200


def test_other_gateways_session_is_untouched(events: EventClient, connected: str) -> None:
    ApiGateway.objects.create(api_name="other", api_id="otherapi01")
    events.api_id = "otherapi01"
    assert events.disconnect(connected).status_code == 200
    assert WebSocketSession.objects.get().connected


def test_forged_disconnect_is_refused(events: EventClient, connected: str) -> None:
    events.secret = None
    response = events.disconnect(connected)
    assert response.status_code == 403 and error_code(response) == "invalid_secret"
    assert WebSocketSession.objects.get().connected


def test_malformed_connection_id(events: EventClient) -> None:
    response = events.disconnect("bad id")
    assert response.status_code == 400
