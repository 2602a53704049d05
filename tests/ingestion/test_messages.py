"""Message events: live session on this gateway, user re-checked, body limits, handler
allow-list and per-handler permissions, replies enqueued on the real broker."""

from __future__ import annotations

import json
from typing import Any

import pytest
import redis
from django.contrib.auth.models import Permission, User
from django.test import override_settings

from tests.ingestion.conftest import (
    Browser,
    EventClient,
    error_code,
    new_connection_id,
    queued_tasks,
    wsgateway,
)
from wsgateway import signals
from wsgateway.models import ApiGateway, ChannelPermission, WebSocketSession

pytestmark = pytest.mark.django_db


@pytest.fixture
def project(events: EventClient, browser: Browser) -> tuple[EventClient, str]:
    """The tests' project view (extra handlers) with a live session on it."""
    events.base = "/custom/ws/"
    cid = new_connection_id()
    assert events.open(browser, cid).status_code == 200
    return events, cid


def payload(response: Any) -> Any:
    return json.loads(response.content)


def test_message_on_a_live_session_updates_it(events: EventClient, connected: str) -> None:
    before = WebSocketSession.objects.get()
    response = events.message(connected, {"handler": "change_channel", "channel": "room-2"})
    assert response.status_code == 200, response.content
    assert payload(response) == {"channel": "room-2"}
    after = WebSocketSession.objects.get()
    assert after.request_count == before.request_count + 1
    assert after.last_seen_at > before.last_seen_at
    assert after.channel_name == "room-2"


def test_forged_message_without_the_secret_is_refused(events: EventClient, connected: str) -> None:
    events.secret = "guess"
    response = events.message(connected, {"handler": "change_channel", "channel": "room-2"})
    assert response.status_code == 403 and error_code(response) == "invalid_secret"
    session = WebSocketSession.objects.get()
    assert session.channel_name == "lobby" and session.request_count == 1


def test_unknown_connection(events: EventClient, connected: str) -> None:
    response = events.message(new_connection_id(), {"handler": "change_channel", "channel": "x"})
    assert response.status_code == 404 and error_code(response) == "unknown_connection"


def test_session_of_another_gateway_is_not_found(events: EventClient, connected: str) -> None:
    ApiGateway.objects.create(api_name="other", api_id="otherapi01")
    events.api_id = "otherapi01"
    response = events.message(connected, {"handler": "change_channel", "channel": "x"})
    assert response.status_code == 404
    assert WebSocketSession.objects.get().channel_name == "lobby"


def test_closed_session_is_closed_at_the_gateway_too(
    events: EventClient, connected: str, broker: redis.Redis, django_capture_on_commit_callbacks: Any
) -> None:
    WebSocketSession.objects.update(connected=False)
    with django_capture_on_commit_callbacks(execute=True):
        response = events.message(connected, {"handler": "change_channel", "channel": "x"})
        again = events.message(connected, {"handler": "change_channel", "channel": "x"})
    assert response.status_code == 410 and error_code(response) == "connection_closed"
    assert again.status_code == 410
    # One DELETE however many messages the socket sends meanwhile.
    assert [(t, k["connection_id"]) for t, _, k in queued_tasks(broker)] == [
        ("wsgateway.disconnect", connected)
    ]
    assert WebSocketSession.objects.get().channel_name == "lobby"


@pytest.mark.parametrize("change", ["deactivate", "password"])
def test_disabled_user_or_changed_password_disconnects(
    events: EventClient,
    connected: str,
    browser: Browser,
    broker: redis.Redis,
    django_capture_on_commit_callbacks: Any,
    change: str,
) -> None:
    user = User.objects.get(pk=browser.user.pk)
    if change == "deactivate":
        User.objects.filter(pk=user.pk).update(is_active=False)  # bypasses signals: the view must notice
    else:
        user.set_password("a new password")
        User.objects.filter(pk=user.pk).update(password=user.password)
    gone: list[Any] = []

    def receiver(sender: Any, **kwargs: Any) -> None:
        gone.append(kwargs)

    signals.websocket_disconnected.connect(receiver)
    try:
        with django_capture_on_commit_callbacks(execute=True):
            response = events.message(connected, {"handler": "change_channel", "channel": "x"})
    finally:
        signals.websocket_disconnected.disconnect(receiver)
    assert response.status_code == 403
    assert error_code(response) == ("user_inactive" if change == "deactivate" else "credentials_changed")
    # Marked at once (no fan-out reaches the user any more), closed at API Gateway by a worker.
    session = WebSocketSession.objects.get()
    assert not session.connected and session.disconnected_at is not None and session.channel_name == "lobby"
    assert [(t, k["connection_id"]) for t, _, k in queued_tasks(broker)] == [
        ("wsgateway.disconnect", connected)
    ]
    assert len(gone) == 1
    again = events.message(connected, {"handler": "change_channel", "channel": "x"})
    assert again.status_code == 410


@override_settings(
    SECRET_KEY="a-rotated-secret-key", SECRET_KEY_FALLBACKS=["wsgateway-tests-secret-key-not-for-production"]
)
def test_rotated_secret_key_does_not_disconnect(events: EventClient, connected: str) -> None:
    response = events.message(connected, {"handler": "change_channel", "channel": "room-3"})
    assert response.status_code == 200


# --- body ---------------------------------------------------------------------------------------


@override_settings(WSGATEWAY=wsgateway(MAX_MESSAGE_BYTES=200))
def test_body_size_limit_is_inclusive(events: EventClient, connected: str) -> None:
    def body_of(size: int) -> bytes:
        base = b'{"handler": "change_channel", "channel": "room", "pad": ""}'
        return base[:-2] + b"x" * (size - len(base)) + b'"}'

    assert events.message(connected, None, raw=body_of(200)).status_code == 200
    response = events.message(connected, None, raw=body_of(201))
    assert response.status_code == 413 and error_code(response) == "payload_too_large"


def test_default_limit_is_128_kib(events: EventClient, connected: str) -> None:
    big = b'{"pad": "' + b"x" * (128 * 1024) + b'"}'
    response = events.message(connected, None, raw=big)
    assert response.status_code == 413


@pytest.mark.parametrize(
    ("raw", "code"),
    [
        (b"", "empty_body"),
        (b"not json", "invalid_json"),
        (b"[1, 2]", "not_an_object"),
        (b'"text"', "not_an_object"),
        (b'{"a": NaN}', "invalid_json"),
        (b"\xff\xfe{}", "invalid_json"),
        (b"[" * 100_000, "invalid_json"),
        (b'{"handler": 5}', "invalid_handler"),
        (b'{"handler": "nope"}', "unknown_handler"),
        (b'{"handler": "_private"}', "unknown_handler"),
        (b'{"handler": "__init__"}', "unknown_handler"),
        (b'{"action": "dispatch"}', "unknown_handler"),
        (b'{"hello": "world"}', "missing_handler"),
    ],
)
def test_malformed_bodies_are_400(events: EventClient, connected: str, raw: bytes, code: str) -> None:
    response = events.message(connected, None, raw=raw)
    assert response.status_code == 400 and error_code(response) == code
    assert WebSocketSession.objects.get().channel_name == "lobby"


# --- handler selection --------------------------------------------------------------------------


def test_handler_key_wins_over_action(project: tuple[EventClient, str]) -> None:
    events, cid = project
    response = events.message(cid, {"handler": "whoami", "action": "change_channel"})
    assert payload(response) == {"username": "alice"}
    response = events.message(cid, {"action": "whoami"})
    assert payload(response) == {"username": "alice"}


def test_underscore_handlers_never_run_even_when_listed(project: tuple[EventClient, str]) -> None:
    events, cid = project
    for name in ("_secret", "dispatch"):
        response = events.message(cid, {"handler": name})
        assert response.status_code == 400 and error_code(response) == "unknown_handler"


def test_custom_route_falls_back_to_its_handler(project: tuple[EventClient, str]) -> None:
    events, cid = project
    response = events.message(cid, {"text": "hi"}, route="chat")
    assert response.status_code == 200 and payload(response) == {"route": "chat"}
    # A route the view does not list does not exist.
    response = events.message(cid, {"text": "hi"}, route="other")
    assert response.status_code == 404 and error_code(response) == "unknown_route"


def test_request_user_comes_from_the_session(project: tuple[EventClient, str]) -> None:
    events, cid = project
    # The event carries no cookie at all: the user is the session row's.
    response = events.message(cid, {"handler": "whoami"})
    assert payload(response) == {"username": "alice"}


def test_message_received_signal(project: tuple[EventClient, str]) -> None:
    events, cid = project
    got: list[dict[str, Any]] = []

    def receiver(sender: Any, **kwargs: Any) -> None:
        got.append(kwargs)

    signals.websocket_message_received.connect(receiver)
    try:
        events.message(cid, {"handler": "whoami", "n": 1})
    finally:
        signals.websocket_message_received.disconnect(receiver)
    assert len(got) == 1
    assert got[0]["handler"] == "whoami" and got[0]["body"] == {"handler": "whoami", "n": 1}
    assert got[0]["session"].connection_id == cid


# --- permissions --------------------------------------------------------------------------------


def grant(user: User, *codenames: str) -> None:
    user.user_permissions.add(
        *Permission.objects.filter(content_type__app_label="auth", codename__in=codenames)
    )


def test_any_of_permissions(project: tuple[EventClient, str], browser: Browser) -> None:
    events, cid = project
    response = events.message(cid, {"handler": "moderate"})
    assert response.status_code == 403 and error_code(response) == "permission_denied"
    grant(browser.user, "delete_user")  # one of the two is enough
    response = events.message(cid, {"handler": "moderate"})
    assert response.status_code == 200 and payload(response) == {"moderated": True}


def test_all_of_permissions(
    project: tuple[EventClient, str],
    browser: Browser,
    broker: redis.Redis,
    django_capture_on_commit_callbacks: Any,
) -> None:
    events, cid = project
    grant(browser.user, "view_user")  # one of the two is not enough
    response = events.message(cid, {"handler": "publish", "text": "hi"})
    assert response.status_code == 403
    grant(browser.user, "add_user")
    with django_capture_on_commit_callbacks(execute=True):
        response = events.message(cid, {"handler": "publish", "text": "hi"})
    assert response.status_code == 200
    [(task, args, _kwargs)] = queued_tasks(broker)
    assert task == "wsgateway.send_to_sessions"
    target, _message_id, body = args
    assert target["channel_name"] == "lobby" and cid in target["exclude"]
    assert json.loads(body)["text"] == "hi"


# --- change_channel -----------------------------------------------------------------------------


@pytest.mark.parametrize("channel", [None, 5, "", " x", "a" * 129])
def test_change_channel_validates_the_name(events: EventClient, connected: str, channel: Any) -> None:
    body = (
        {"handler": "change_channel"}
        if channel is None
        else {"handler": "change_channel", "channel": channel}
    )
    if channel == "":
        # The empty name means "no channel" and is allowed.
        assert events.message(connected, body).status_code == 200
        return
    response = events.message(connected, body)
    assert response.status_code == 400 and error_code(response) == "invalid_channel"


def test_change_channel_checks_the_channel_permission(events: EventClient, connected: str) -> None:
    ChannelPermission.objects.create(channel_name="admins", access=ChannelPermission.Access.SUPERUSER_ONLY)
    response = events.message(connected, {"handler": "change_channel", "channel": "admins"})
    assert response.status_code == 403 and error_code(response) == "channel_forbidden"
    assert WebSocketSession.objects.get().channel_name == "lobby"


# --- replies ------------------------------------------------------------------------------------


def test_reply_is_enqueued_on_commit(
    project: tuple[EventClient, str], broker: redis.Redis, django_capture_on_commit_callbacks: Any
) -> None:
    events, cid = project
    with django_capture_on_commit_callbacks(execute=False) as callbacks:
        response = events.message(cid, {"handler": "echo", "x": 1})
        assert queued_tasks(broker) == []  # nothing before the commit
    assert response.status_code == 200
    for callback in callbacks:
        callback()
    [(task, args, _)] = queued_tasks(broker)
    assert task == "wsgateway.send_to_sessions" and args[0]["connection_id"] == cid
    assert json.loads(args[2])["body"] == {"handler": "echo", "x": 1}


def test_welcome_on_connect_is_enqueued_on_commit(
    events: EventClient, browser: Browser, broker: redis.Redis, django_capture_on_commit_callbacks: Any
) -> None:
    events.base = "/custom/ws/"
    cid = new_connection_id()
    with django_capture_on_commit_callbacks(execute=True):
        response = events.open(browser, cid, channel="welcome")
    assert response.status_code == 200
    [(task, args, _)] = queued_tasks(broker)
    assert task == "wsgateway.send_to_sessions" and args[0]["connection_id"] == cid
    assert json.loads(args[2])["type"] == "welcome"


def test_heartbeat_is_built_in_and_counts_as_activity(events: EventClient, connected: str) -> None:
    # The shipped JS client sends {"action": "heartbeat"}; the base view must accept it quietly.
    before = WebSocketSession.objects.get()
    response = events.message(connected, {"action": "heartbeat"})
    assert response.status_code == 200, response.content
    assert payload(response) == {"status": "ok"}
    after = WebSocketSession.objects.get()
    assert after.request_count == before.request_count + 1 and after.channel_name == before.channel_name
