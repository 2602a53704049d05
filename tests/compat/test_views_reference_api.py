"""Views written for the reference package run unchanged: handler lists, request-style handlers,
the connect/disconnect/default hooks, channel and permission hooks, and the response hooks."""

from __future__ import annotations

import json
from typing import Any

import pytest
from django.contrib.auth.models import Permission

from tests.compat.urls import HookedView
from tests.ingestion.conftest import Browser, EventClient, error_code, make_browser, new_connection_id
from wsgateway.models import ChannelPermission, ConnectionRateLimit, WebSocketSession

pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("compat_urls")]


def open_on(events: EventClient, browser: Browser, base: str, **kwargs: Any) -> str:
    events.base = base
    cid = new_connection_id()
    response = events.open(browser, cid, **kwargs)
    assert response.status_code == 200, response.content
    return cid


def payload(response: Any) -> Any:
    return json.loads(response.content)


def grant(browser: Browser, *codenames: str) -> None:
    browser.user.user_permissions.add(*Permission.objects.filter(codename__in=codenames))


# --- ALLOWED_HANDLERS and request-style handlers -------------------------------------------------


def test_a_request_style_handler_runs_with_the_request_and_the_url_kwargs(
    events: EventClient, browser: Browser
) -> None:
    cid = open_on(events, browser, "/ref/ws/")
    response = events.message(cid, {"handler": "chat", "text": "hi"})
    assert response.status_code == 200, response.content
    assert payload(response) == {"user": "alice", "text": "hi", "route": "default"}
    # The reference's fallback key.
    assert payload(events.message(cid, {"action": "chat", "text": "yo"}))["text"] == "yo"


def test_an_additional_route_named_after_a_handler_is_accepted(events: EventClient, browser: Browser) -> None:
    cid = open_on(events, browser, "/ref/ws/")
    response = events.message(cid, {"text": "hi"}, route="chat")
    assert response.status_code == 200 and payload(response)["route"] == "chat"
    assert events.message(cid, {"text": "hi"}, route="helper").status_code == 404


def test_unlisted_methods_never_run(events: EventClient, browser: Browser) -> None:
    cid = open_on(events, browser, "/ref/ws/")
    for name in (
        "helper",
        "connect",
        "disconnect",
        "dispatch",
        "post",
        "permission_denied",
        "_return_bad_request",
    ):
        response = events.message(cid, {"handler": name})
        assert response.status_code == 400 and error_code(response) == "unknown_handler", name


def test_handlers_may_answer_through_the_reference_hooks(events: EventClient, browser: Browser) -> None:
    cid = open_on(events, browser, "/ref/ws/")
    denied = events.message(cid, {"handler": "forbid"})
    assert denied.status_code == 403 and error_code(denied) == "permission_denied"
    bad = events.message(cid, {"handler": "bad"})
    assert bad.status_code == 400 and payload(bad) == {"error": "bad_request", "message": "no"}


def test_the_automatic_list_exposes_only_request_style_methods(events: EventClient, browser: Browser) -> None:
    cid = open_on(events, browser, "/auto/ws/")
    shout = events.message(cid, {"handler": "shout"})
    assert shout.status_code == 200 and payload(shout) == {}  # None answers {} as in the reference
    assert payload(events.message(cid, {"handler": "heartbeat"})) == {
        "status": "ok"
    }  # ADDITIONAL_ALLOWED_HANDLERS
    compute = events.message(cid, {"handler": "compute"})
    assert compute.status_code == 400 and error_code(compute) == "unknown_handler"


# --- default, connect, disconnect and the response hooks -----------------------------------------


def test_a_request_style_default_receives_unknown_names_and_the_missing_key_hook_answers(
    events: EventClient, browser: Browser
) -> None:
    grant(browser, "add_user")
    cid = open_on(events, browser, "/hooked/ws/")
    assert payload(events.message(cid, {"handler": "nope"})) == {"default": "nope"}
    missing = events.message(cid, {"text": "no key"})
    assert missing.status_code == 400 and payload(missing) == {"missing": "handler"}


def test_view_permissions_go_through_the_permission_denied_hook(
    events: EventClient, browser: Browser
) -> None:
    cid = open_on(events, browser, "/hooked/ws/")
    denied = events.message(cid, {"handler": "chat"})
    assert denied.status_code == 403 and denied.content == b"custom denial"
    grant(browser, "change_user")  # any one of permissions_required
    assert payload(events.message(cid, {"handler": "chat"})) == {"ok": True}


def test_connect_and_disconnect_overrides_wrap_the_real_work(events: EventClient, browser: Browser) -> None:
    HookedView.calls.clear()
    cid = open_on(events, browser, "/hooked/ws/")
    assert WebSocketSession.objects.get(connection_id=cid).connected
    assert events.disconnect(cid).status_code == 200
    assert not WebSocketSession.objects.get(connection_id=cid).connected
    assert HookedView.calls == ["connect:200", "disconnect:closed"]


def test_can_join_channel_override_refuses_on_connect_and_on_change(
    events: EventClient, browser: Browser
) -> None:
    HookedView.calls.clear()
    events.base = "/hooked/ws/"
    refused = events.open(browser, channel="blocked")
    assert refused.status_code == 403 and refused.content == b"custom denial"
    assert HookedView.calls == ["connect:403"]
    assert not WebSocketSession.objects.exists()
    assert ConnectionRateLimit.objects.filter(successful=False).count() == 1
    grant(browser, "add_user")
    cid = open_on(events, browser, "/hooked/ws/")
    moved = events.message(cid, {"handler": "change_channel", "channel": "blocked"})
    assert moved.status_code == 403 and moved.content == b"custom denial"
    assert WebSocketSession.objects.get(connection_id=cid).channel_name == "lobby"


def test_allow_unlisted_channels_false_refuses_channels_without_a_rule(
    events: EventClient, browser: Browser
) -> None:
    events.base = "/closed/ws/"
    refused = events.open(browser, channel="nowhere")
    assert refused.status_code == 403 and error_code(refused) == "channel_forbidden"
    ChannelPermission.objects.create(channel_name="nowhere")  # Allow all
    assert events.open(browser, channel="nowhere").status_code == 200


def test_forged_secret_goes_through_the_invalid_gateway_secret_hook(
    events: EventClient, browser: Browser, caplog: Any
) -> None:
    events.secret = "forged-secret-value"
    events.base = "/hooked/ws/"
    with caplog.at_level("WARNING", logger="wsgateway.views"):
        response = events.open(browser)
    assert response.status_code == 403 and error_code(response) == "invalid_secret"
    assert any("without a valid gateway secret" in r.getMessage() for r in caplog.records)
    assert "forged-secret-value" not in caplog.text


# --- per-view switches: USE_WS_TOKEN, RATE_LIMIT_ENABLED, CHECK_PERMISSIONS_ON_CONNECT -------------


def test_use_ws_token_false_connects_with_the_session_cookie(events: EventClient, browser: Browser) -> None:
    events.base = "/open/ws/"
    no_permission = events.connect(new_connection_id(), session_key=browser.session_key)
    assert no_permission.status_code == 403 and error_code(no_permission) == "permission_denied"
    grant(browser, "view_user")
    cid = new_connection_id()
    assert events.connect(cid, session_key=browser.session_key).status_code == 200
    assert WebSocketSession.objects.get(connection_id=cid).user == browser.user
    vetoed = events.connect(new_connection_id(), session_key=browser.session_key, channel="vetoed")
    assert vetoed.status_code == 400 and payload(vetoed)["message"] == "vetoed by the project"


def test_check_connect_user_agent(events: EventClient, browser: Browser, settings: Any) -> None:
    HookedView.CHECK_CONNECT_USERAGENT = True
    try:
        events.base = "/hooked/ws/"
        refused = events.open(browser, **{"User-Agent": "Mozilla/5.0"})
        assert refused.status_code == 400 and error_code(refused) == "invalid_user_agent"
        accepted = events.open(browser, **{"User-Agent": f"AmazonAPIGateway_{events.api_id}"})
        assert accepted.status_code == 200
    finally:
        HookedView.CHECK_CONNECT_USERAGENT = False


def test_the_reference_names_for_gateway_and_session(events: EventClient, browser: Browser) -> None:
    from wsgateway.views import WebSocketView

    view = WebSocketView(api_gateway="g", websocket_session="s")
    assert (view.api_gateway, view.gateway, view.websocket_session, view.session) == ("g", "g", "s", "s")
    make_browser("bob")  # a second user exists; nothing above depended on alice only


def test_api_ids_written_by_hand_with_dashes_are_found() -> None:
    from wsgateway.gateway_cache import get_gateway
    from wsgateway.models import ApiGateway

    gateway = ApiGateway.objects.create(api_name="hand-made", api_id="APIGateway-1")
    assert get_gateway("APIGateway-1") == gateway
    assert get_gateway("APIGateway 1") is None and get_gateway("x" * 65) is None
