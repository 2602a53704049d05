"""``$connect``: every check passes once and fails once, and a failure writes nothing but one
failed attempt (no session row, token not consumed)."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest
from django.contrib.auth.models import Permission, User
from django.db.models import F
from django.test import Client, override_settings
from django.utils import timezone

from tests.ingestion.conftest import (
    CLIENT_IP,
    PREVIOUS_SECRET,
    Browser,
    EventClient,
    error_code,
    make_browser,
    new_connection_id,
    wsgateway,
)
from wsgateway import signals
from wsgateway.hashing import session_key_hash, token_hash
from wsgateway.models import (
    ApiGateway,
    ChannelPermission,
    ChannelPermissionRule,
    ConnectionRateLimit,
    ConnectRateCounter,
    WebSocketSession,
    WebSocketToken,
)

pytestmark = pytest.mark.django_db


def assert_refused_cleanly(browser: Browser, *, attempts: int = 1) -> None:
    """No session row; the browser's tokens are all unused; ``attempts`` failed attempts."""
    assert WebSocketSession.objects.count() == 0
    assert not WebSocketToken.objects.filter(used=True).exists()
    assert ConnectionRateLimit.objects.filter(successful=True).count() == 0
    assert ConnectionRateLimit.objects.filter(successful=False).count() == attempts


def test_successful_connect_writes_session_and_attempt(events: EventClient, browser: Browser) -> None:
    received: list[dict[str, Any]] = []

    def receiver(sender: Any, **kwargs: Any) -> None:
        received.append(kwargs)

    signals.websocket_connected.connect(receiver)
    try:
        cid = new_connection_id()
        response = events.connect(
            cid, token=browser.token(), channel="room-1", session_key=browser.session_key
        )
    finally:
        signals.websocket_connected.disconnect(receiver)
    assert response.status_code == 200, response.content
    session = WebSocketSession.objects.get()
    assert session.connection_id == cid
    assert session.channel_name == "room-1"
    assert session.user == browser.user
    assert session.api_gateway is not None and session.api_gateway.api_id == events.api_id
    assert session.connected and session.disconnected_at is None
    assert session.session_key_hash == session_key_hash(browser.session_key)
    assert session.auth_hash == browser.user.get_session_auth_hash()
    assert session.source_ip == CLIENT_IP
    attempt = ConnectionRateLimit.objects.get()
    assert attempt.successful and attempt.user == browser.user and attempt.ip_address == CLIENT_IP
    assert WebSocketToken.objects.get().used
    assert len(received) == 1 and received[0]["session"].pk == session.pk
    assert received[0]["request"].user == browser.user


def test_default_channel_comes_from_the_gateway(events: EventClient, browser: Browser) -> None:
    response = events.open(browser)
    assert response.status_code == 200
    assert WebSocketSession.objects.get().channel_name == "lobby"


# --- the gateway secret -------------------------------------------------------------------------


@pytest.mark.parametrize("secret", [None, "", "wrong", "test-secret-current ", "TEST-SECRET-CURRENT"])
def test_forged_connect_without_the_secret_is_refused(
    events: EventClient, browser: Browser, secret: str | None
) -> None:
    events.secret = secret
    response = events.open(browser)
    assert response.status_code == 403
    assert error_code(response) == "invalid_secret"
    # A forgery is not even counted as an attempt: its X-Forwarded-For is not to be believed.
    assert_refused_cleanly(browser, attempts=0)


def test_previous_secret_is_accepted_during_rotation(events: EventClient, browser: Browser) -> None:
    events.secret = PREVIOUS_SECRET
    response = events.open(browser)
    assert response.status_code == 200


@override_settings(WSGATEWAY=wsgateway(GATEWAY_SECRETS=[]))
def test_no_configured_secret_fails_closed_outside_debug(events: EventClient, browser: Browser) -> None:
    response = events.open(browser)
    assert response.status_code == 403


@override_settings(DEBUG=True, WSGATEWAY=wsgateway(GATEWAY_SECRETS=[]))
def test_no_configured_secret_is_accepted_in_debug(events: EventClient, browser: Browser) -> None:
    events.secret = None
    response = events.open(browser)
    assert response.status_code == 200


# --- gateway, route, host, connection id, client IP ---------------------------------------------


def test_unknown_gateway(events: EventClient, browser: Browser) -> None:
    events.api_id = "zzzzzzzzzz"
    response = events.open(browser)
    assert response.status_code == 404 and error_code(response) == "unknown_gateway"
    assert_refused_cleanly(browser, attempts=0)


def test_missing_api_id(events: EventClient, browser: Browser) -> None:
    events.api_id = ""
    response = events.open(browser)
    assert response.status_code == 400 and error_code(response) == "missing_api_id"


def test_unknown_route(events: EventClient) -> None:
    response = events.client.post(
        "/ws/nosuchroute", data=b"{}", content_type="application/json", headers=events.headers("abc")
    )
    assert response.status_code == 404 and error_code(response) == "unknown_route"


def test_get_is_not_allowed(events: EventClient) -> None:
    response = events.client.get("/ws/connect", headers=events.headers("abc"))
    assert response.status_code == 405 and error_code(response) == "method_not_allowed"


@override_settings(WSGATEWAY=wsgateway(ALLOWED_HOSTS=[".example.com"]))
def test_host_is_validated_like_django(events: EventClient, browser: Browser) -> None:
    refused = events.open(browser)
    assert refused.status_code == 400 and error_code(refused) == "disallowed_host"  # Host: testserver
    events.client = Client(HTTP_HOST="django.example.com")  # leading-dot entry matches subdomains
    accepted = events.open(browser)
    assert accepted.status_code == 200


@pytest.mark.parametrize("cid", ["", "has space", "semi;colon", "a" * 129, "L0SM9cOFvHcCIhw=\n", "ü" * 4])
def test_malformed_connection_id(events: EventClient, browser: Browser, cid: str) -> None:
    response = events.connect(cid, token=browser.token(), session_key=browser.session_key)
    assert response.status_code == 400
    assert error_code(response) in {"missing_connection_id", "invalid_connection_id"}
    assert_refused_cleanly(browser, attempts=0)


@pytest.mark.parametrize("xff", ["", "not-an-ip", "1.2.3.4:80", "999.1.1.1"])
def test_malformed_forwarded_for(events: EventClient, browser: Browser, xff: str) -> None:
    response = events.open(
        browser,
        **{"X-Forwarded-For": xff},
    )
    assert response.status_code == 400 and error_code(response) == "invalid_forwarded_for"
    assert_refused_cleanly(browser, attempts=0)


def test_client_ip_is_the_entry_the_trusted_hop_added(events: EventClient, browser: Browser) -> None:
    # The client sent "X-Forwarded-For: 6.6.6.6"; API Gateway appended the address it saw.
    response = events.open(
        browser,
        **{"X-Forwarded-For": "6.6.6.6, 198.51.100.9"},
    )
    assert response.status_code == 200
    assert WebSocketSession.objects.get().source_ip == "198.51.100.9"


# --- origin -------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "origin",
    [
        "https://evil.example.org",
        "https://app.example.com.evil.org",
        "http://app.example.com",
        "https://app.example.com:8443",
        "null",
        "https://evil.org/https://app.example.com",
    ],
)
def test_origin_not_in_the_allow_list_is_refused(events: EventClient, browser: Browser, origin: str) -> None:
    response = events.open(browser, origin=origin)
    assert response.status_code == 403 and error_code(response) == "origin_not_allowed"
    assert_refused_cleanly(browser)


@pytest.mark.parametrize(
    "origin", ["https://app.example.com", "https://APP.example.com:443", "http://localhost:8000", None]
)
def test_allowed_origins(events: EventClient, browser: Browser, origin: str | None) -> None:
    response = events.open(browser, origin=origin)
    assert response.status_code == 200, response.content


@override_settings(DEBUG=True, WSGATEWAY=wsgateway(ALLOWED_ORIGINS=[]))
def test_debug_with_no_allow_list_accepts_any_origin(events: EventClient, browser: Browser) -> None:
    response = events.open(
        browser,
        origin="http://localhost:5173",
    )
    assert response.status_code == 200


@override_settings(DEBUG=True)
def test_debug_does_not_loosen_a_configured_allow_list(events: EventClient, browser: Browser) -> None:
    response = events.open(
        browser,
        origin="http://localhost:5173",
    )
    assert response.status_code == 403


# --- token --------------------------------------------------------------------------------------


def test_missing_token(events: EventClient, browser: Browser) -> None:
    response = events.connect(new_connection_id(), session_key=browser.session_key)
    assert response.status_code == 401 and error_code(response) == "missing_token"
    assert_refused_cleanly(browser)


def test_unknown_token(events: EventClient, browser: Browser) -> None:
    response = events.connect(new_connection_id(), token="forged-token", session_key=browser.session_key)
    assert response.status_code == 401 and error_code(response) == "invalid_token"
    assert_refused_cleanly(browser)


def test_token_is_single_use(events: EventClient, browser: Browser) -> None:
    token = browser.token()
    assert (
        events.connect(new_connection_id(), token=token, session_key=browser.session_key).status_code == 200
    )
    again = events.connect(new_connection_id(), token=token, session_key=browser.session_key)
    assert again.status_code == 401 and error_code(again) == "invalid_token"
    assert WebSocketSession.objects.count() == 1


def test_token_is_bound_to_its_session(events: EventClient, browser: Browser) -> None:
    other = make_browser("mallory")
    token = browser.token()
    response = events.connect(new_connection_id(), token=token, session_key=other.session_key)
    assert response.status_code == 401
    assert_refused_cleanly(browser)


def test_without_a_cookie_the_token_names_the_session(events: EventClient, browser: Browser) -> None:
    # The default execute-api host never receives the site's cookie (issue 18).
    response = events.connect(new_connection_id(), token=browser.token())  # no cookie at all
    assert response.status_code == 200, response.content
    session = WebSocketSession.objects.get()
    assert session.user == browser.user
    assert session.session_key_hash == session_key_hash(browser.session_key)


def test_expired_token(events: EventClient, browser: Browser) -> None:
    token = browser.token()
    WebSocketToken.objects.filter(token=token_hash(token)).update(
        created_at=timezone.now() - timedelta(seconds=61)
    )
    response = events.connect(new_connection_id(), token=token, session_key=browser.session_key)
    assert response.status_code == 401
    assert_refused_cleanly(browser)


def test_inactive_user_cannot_connect(events: EventClient, browser: Browser) -> None:
    token = browser.token()
    User.objects.filter(pk=browser.user.pk).update(is_active=False)
    response = events.connect(new_connection_id(), token=token, session_key=browser.session_key)
    assert response.status_code == 403 and error_code(response) == "user_inactive"
    assert WebSocketSession.objects.count() == 0


@override_settings(WSGATEWAY=wsgateway(REQUIRE_TOKEN=False))
def test_without_tokens_the_user_comes_from_the_session(events: EventClient, browser: Browser) -> None:
    response = events.connect(new_connection_id(), session_key=browser.session_key, origin=None)
    assert response.status_code == 200
    assert WebSocketSession.objects.get().user == browser.user


@override_settings(WSGATEWAY=wsgateway(REQUIRE_TOKEN=False))
def test_without_tokens_a_bad_session_is_anonymous(events: EventClient) -> None:
    response = events.connect(new_connection_id(), session_key="nosuchsession", origin=None)
    assert response.status_code == 200
    assert WebSocketSession.objects.get().user is None


# --- rate limits --------------------------------------------------------------------------------


@override_settings(WSGATEWAY=wsgateway(CONNECT_RATE_LIMIT_ATTEMPTS=3))
def test_rate_limit_per_ip_counts_failed_attempts(events: EventClient, browser: Browser) -> None:
    for _ in range(3):
        assert (
            events.connect(new_connection_id(), token="bad", session_key=browser.session_key).status_code
            == 401
        )
    token = browser.token()
    response = events.connect(new_connection_id(), token=token, session_key=browser.session_key)
    assert response.status_code == 429 and error_code(response) == "rate_limited"
    # The refused attempt rolled back: the token is still good once the window has passed.
    assert not WebSocketToken.objects.get(token=token_hash(token)).used
    ConnectionRateLimit.objects.update(attempt_time=timezone.now() - timedelta(minutes=10))
    ConnectRateCounter.objects.update(window_start=F("window_start") - 600)  # the window passed
    assert (
        events.connect(new_connection_id(), token=token, session_key=browser.session_key).status_code == 200
    )


@override_settings(WSGATEWAY=wsgateway(CONNECT_RATE_LIMIT_ATTEMPTS=2))
def test_rate_limit_per_user_across_ips(events: EventClient, browser: Browser) -> None:
    for ip in ("198.51.100.1", "198.51.100.2"):
        response = events.open(
            browser,
            **{"X-Forwarded-For": ip},
        )
        assert response.status_code == 200
    response = events.open(
        browser,
        **{"X-Forwarded-For": "198.51.100.3"},
    )
    assert response.status_code == 429
    assert WebSocketSession.objects.count() == 2
    # Someone else at a fresh address is not affected.
    other = make_browser("bob")
    response = events.open(
        other,
        **{"X-Forwarded-For": "198.51.100.4"},
    )
    assert response.status_code == 200


# --- channel ------------------------------------------------------------------------------------


@pytest.mark.parametrize("channel", [" lead", "trail ", "a" * 129, "semi;colon", "new\nline", "%00"])
def test_malformed_channel(events: EventClient, browser: Browser, channel: str) -> None:
    from urllib.parse import quote

    response = events.open(browser, channel=quote(channel))
    assert response.status_code == 400 and error_code(response) == "invalid_channel"
    assert_refused_cleanly(browser)


def test_channel_permission(events: EventClient, browser: Browser, gateway: ApiGateway) -> None:
    rule = ChannelPermission.objects.create(
        channel_name="staff-room", access=ChannelPermission.Access.STAFF_ONLY
    )
    response = events.open(browser, channel="staff-room")
    assert response.status_code == 403 and error_code(response) == "channel_forbidden"
    assert_refused_cleanly(browser)
    User.objects.filter(pk=browser.user.pk).update(is_staff=True)
    response = events.open(browser, channel="staff-room")
    assert response.status_code == 200
    # The channel now requires a permission.
    rule.access = ChannelPermission.Access.PERMISSIONS
    rule.save()
    ChannelPermissionRule.objects.create(channel_permission=rule).permissions.add(
        Permission.objects.get(codename="view_user")
    )
    response = events.open(browser, channel="staff-room")
    assert response.status_code == 403
    browser.user.user_permissions.add(Permission.objects.get(codename="view_user"))
    response = events.open(browser, channel="staff-room")
    assert response.status_code == 200


# --- hook, duplicates, database failure ---------------------------------------------------------


def test_project_hook_can_refuse(events: EventClient, browser: Browser) -> None:
    events.base = "/custom/ws/"
    response = events.open(browser, channel="closed")
    assert response.status_code == 403 and error_code(response) == "room_closed"
    assert_refused_cleanly(browser)
    response = events.open(browser, channel="open")
    assert response.status_code == 200


def test_duplicate_connection_id_is_a_conflict(events: EventClient, browser: Browser) -> None:
    cid = new_connection_id()
    assert events.connect(cid, token=browser.token(), session_key=browser.session_key).status_code == 200
    token = browser.token()
    response = events.connect(cid, token=token, session_key=browser.session_key)
    assert response.status_code == 409 and error_code(response) == "duplicate_connection"
    assert WebSocketSession.objects.count() == 1
    assert not WebSocketToken.objects.get(token=token_hash(token)).used
    assert ConnectionRateLimit.objects.filter(successful=True).count() == 1


def test_database_failure_is_a_clean_503(events: EventClient, browser: Browser) -> None:
    # The hook raises the driver's error from inside the transaction, after the token was
    # consumed: the answer is 503 and the consumption is rolled back.
    events.base = "/custom/ws/"
    response = events.open(browser, channel="db-down")
    assert response.status_code == 503 and error_code(response) == "database_unavailable"
    assert_refused_cleanly(browser)
