"""``WebSocketTokenView``: POST, logged in, CSRF-protected, rate limited, token usable once."""

from __future__ import annotations

import json

import pytest
from django.conf import settings
from django.test import Client, override_settings
from django.urls import reverse

from tests.ingestion.conftest import Browser, EventClient, error_code, new_connection_id, wsgateway
from wsgateway.hashing import session_key_hash, token_hash
from wsgateway.models import WebSocketToken

pytestmark = pytest.mark.django_db


def url() -> str:
    return reverse("wsgateway:websocket-token")


def test_token_for_a_logged_in_user(browser: Browser, events: EventClient) -> None:
    response = browser.client.post(url())
    assert response.status_code == 200
    body = json.loads(response.content)
    assert set(body) == {"token", "expires_in"} and body["expires_in"] == 60
    assert "no-cache" in response["Cache-Control"] or "max-age=0" in response["Cache-Control"]
    row = WebSocketToken.objects.get()
    assert row.token == token_hash(body["token"]) and row.token != body["token"]  # only the hash is stored
    assert row.session_key == session_key_hash(browser.session_key)
    connect = events.connect(new_connection_id(), token=body["token"], session_key=browser.session_key)
    assert connect.status_code == 200


def test_anonymous_gets_401_json_not_a_redirect() -> None:
    response = Client().post(url())
    assert response.status_code == 401 and error_code(response) == "authentication_required"
    assert not WebSocketToken.objects.exists()


def test_get_is_not_allowed(browser: Browser) -> None:
    response = browser.client.get(url())
    assert response.status_code == 405


def test_csrf_is_enforced(browser: Browser) -> None:
    client = Client(enforce_csrf_checks=True)
    client.force_login(browser.user)
    assert client.post(url()).status_code == 403
    csrf = "a1b2c3d4" * 4  # the page's CSRF cookie (an unmasked 32-character secret)
    client.cookies[settings.CSRF_COOKIE_NAME] = csrf
    assert client.post(url(), headers={"X-CSRFToken": "z" * 32}).status_code == 403
    response = client.post(url(), headers={"X-CSRFToken": csrf})
    assert response.status_code == 200


@override_settings(WSGATEWAY=wsgateway(TOKEN_RATE_LIMIT_PER_MINUTE=2, TOKEN_MAX_AGE_SECONDS=30))
def test_rate_limited(browser: Browser) -> None:
    first = browser.client.post(url())
    assert json.loads(first.content)["expires_in"] == 30
    assert browser.client.post(url()).status_code == 200
    response = browser.client.post(url())
    assert response.status_code == 429 and error_code(response) == "rate_limited"
    assert WebSocketToken.objects.count() == 2
