"""Issue 12: a connect token issued before a password change must not open a socket that passes
later checks. Through the WebSocket view, as API Gateway calls it."""

from __future__ import annotations

from typing import Any

import pytest
from django.contrib.auth import logout
from django.contrib.auth.models import User
from django.core.cache import cache

from tests.compat.models_support import ingestion_urls  # noqa: F401  (fixtures)
from tests.ingestion.conftest import API_ID, EventClient, error_code, make_browser, new_connection_id
from wsgateway.models import ApiGateway, WebSocketSession, WebSocketToken

pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("ingestion_urls")]


@pytest.fixture
def events() -> Any:
    cache.clear()
    ApiGateway.objects.create(api_name="g", api_id=API_ID, api_created=True)
    from django.test import Client

    yield EventClient(Client())
    cache.clear()


@pytest.mark.parametrize("how", ["save", "queryset_update"])
def test_a_token_issued_before_a_password_change_opens_nothing(events: EventClient, how: str) -> None:
    alice = make_browser("alice")
    token = alice.token()
    if how == "save":  # signals run: the token is revoked
        alice.user.set_password("stolen-and-changed")
        alice.user.save()
    else:  # no signals: the hash recorded in the token refuses it
        User.objects.filter(pk=alice.user.pk).update(password="changed-elsewhere")
    response = events.connect(new_connection_id(), token=token, session_key=alice.session_key)
    assert response.status_code == 401 and error_code(response) == "invalid_token"
    assert not WebSocketSession.objects.exists()


def test_the_socket_keeps_the_auth_hash_its_token_was_issued_under(events: EventClient) -> None:
    alice = make_browser("alice")
    token = alice.token()
    issued_under = WebSocketToken.objects.get().auth_hash
    connection_id = new_connection_id()
    response = events.connect(connection_id, token=token, session_key=alice.session_key)
    assert response.status_code == 200, response.content
    assert WebSocketSession.objects.get(connection_id=connection_id).auth_hash == issued_under
    # A later password change closes it on its next message.
    User.objects.filter(pk=alice.user.pk).update(password="changed-elsewhere")
    response = events.message(connection_id, {"handler": "heartbeat"})
    assert response.status_code == 403 and error_code(response) == "credentials_changed"


def test_logout_revokes_a_pending_token(events: EventClient, rf: Any) -> None:
    """The token and the old session cookie, replayed after logout, open nothing."""
    alice = make_browser("alice")
    token, old_cookie = alice.token(), alice.session_key
    request = rf.post("/logout/")
    request.user, request.session = alice.user, alice.client.session
    logout(request)  # what every logout view does: user_logged_out, then the session is flushed
    response = events.connect(new_connection_id(), token=token, session_key=old_cookie)
    assert response.status_code == 401 and error_code(response) == "invalid_token"
    assert not WebSocketToken.objects.exists()


def test_a_session_created_the_reference_way_keeps_working_until_the_password_changes(
    events: EventClient,
) -> None:
    """Code written for the reference stores ``hash_user_auth(user)`` (the keyed form) on the
    sessions it creates; the message check accepts that form and still notices a new password."""
    from wsgateway.models import hash_user_auth

    alice = make_browser("alice")
    gateway = ApiGateway.objects.get(api_id=API_ID)
    connection_id = new_connection_id()
    WebSocketSession.objects.create(
        connection_id=connection_id,
        user=alice.user,
        api_gateway=gateway,
        auth_hash=hash_user_auth(alice.user),
    )
    response = events.message(connection_id, {"handler": "heartbeat"})
    assert response.status_code == 200, response.content
    User.objects.filter(pk=alice.user.pk).update(password="changed-elsewhere")
    response = events.message(connection_id, {"handler": "heartbeat"})
    assert response.status_code == 403 and error_code(response) == "credentials_changed"
