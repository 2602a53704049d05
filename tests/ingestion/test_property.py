"""Property: whatever headers, routes and bodies reach the view, it never answers 5xx and the
rows stay consistent (every session has its consumed token and successful attempt, on the right
gateway, with well-formed fields)."""

from __future__ import annotations

import json
from typing import Any
from urllib.parse import urlencode

import pytest
from django.test import Client, override_settings
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tests.ingestion.conftest import API_ID, CLIENT_IP, ORIGIN, SECRET, Browser, wsgateway
from wsgateway import security
from wsgateway.models import ApiGateway, ConnectionRateLimit, WebSocketSession, WebSocketToken

pytestmark = pytest.mark.django_db

# A pool small enough that messages and disconnects often find a session a connect opened.
CONNECTION_IDS = [f"L0SM9cOFvHcC{n:03d}=" for n in range(24)]
VALID = "<valid>"

texts = st.text(max_size=40)
# WSGI (PEP 3333) hands header values over as latin-1 strings; a server cannot pass anything else.
header_texts = st.text(alphabet=st.characters(max_codepoint=255), max_size=40)


def header(*choices: Any) -> st.SearchStrategy[Any]:
    """A wrong value for a header: omitted, a plausible wrong one, or arbitrary text."""
    return st.one_of(st.none(), st.sampled_from(choices), header_texts)


message_bodies = st.dictionaries(
    st.sampled_from(["handler", "action", "channel", "x"]),
    st.one_of(
        st.sampled_from(["change_channel", "whoami", "_secret", "moderate", "dispatch", "chat", "lobby"]),
        texts,
        st.integers(),
    ),
    max_size=4,
).map(lambda d: json.dumps(d).encode())

# A well-formed event from the gateway, then a few of its fields replaced by wrong values: random
# values everywhere would stop almost every event at the first check.
well_formed = st.fixed_dictionaries(
    {
        "base": st.sampled_from(["/ws/", "/custom/ws/"]),
        "route": st.sampled_from(
            ["connect", "connect", "connect", "default", "default", "disconnect", "chat"]
        ),
        "secret": st.sampled_from([SECRET, "test-secret-previous"]),
        "api_id": st.just(API_ID),
        "connection_id": st.sampled_from(CONNECTION_IDS),
        "xff": st.sampled_from([CLIENT_IP, "6.6.6.6, 198.51.100.2"]),
        "origin": st.sampled_from([ORIGIN, None]),
        "host": st.sampled_from([None, "ws.example.com"]),
        "token": st.just(VALID),
        "cookie": st.just(VALID),
        "channel": st.sampled_from([None, "lobby", "room-1", "Shared Channel Name"]),
        "body": message_bodies,
    }
)
wrong_values: dict[str, st.SearchStrategy[Any]] = {
    "route": st.one_of(
        st.sampled_from(["nope", "connect_", "DEFAULT"]), st.from_regex(r"[a-z_-]{1,12}", fullmatch=True)
    ),
    "secret": header("wrong", SECRET + " "),
    "api_id": header("zzzzzzzzzz", API_ID.upper()),
    "connection_id": header("bad id", "x" * 129, CONNECTION_IDS[0] + "\n"),
    "xff": header("::1", "1.2.3.4:80", ""),
    "origin": header("https://evil.org", "null", "https://app.example.com.evil.org"),
    "host": st.one_of(st.sampled_from(["evil.org", "", "a b"]), header_texts),
    "token": header("forged", ""),
    "cookie": header("sessionid=nope", ""),
    "channel": st.one_of(texts, st.sampled_from([" x", "a" * 129, "staff;"])),
    "body": st.one_of(st.binary(max_size=200), st.sampled_from([b"[]", b"{", b"[" * 5000, b'{"a": NaN}'])),
}
events = st.tuples(
    well_formed,
    st.lists(st.sampled_from(sorted(wrong_values)), max_size=3, unique=True).flatmap(
        lambda keys: st.fixed_dictionaries({k: wrong_values[k] for k in keys})
    ),
).map(lambda pair: {**pair[0], **pair[1]})


def post(client: Client, browser: Browser, e: dict[str, Any]) -> Any:
    headers: dict[str, str] = {}
    for name, key in (
        ("X-Ws-Gateway-Secret", "secret"),
        ("X-Amzn-Apigateway-Api-Id", "api_id"),
        ("Connectionid", "connection_id"),
        ("X-Forwarded-For", "xff"),
        ("Origin", "origin"),
    ):
        if e[key] is not None:
            headers[name] = e[key]
    if e["cookie"] == VALID:
        headers["Cookie"] = f"sessionid={browser.session_key}"
    elif e["cookie"] is not None:
        headers["Cookie"] = e["cookie"]
    params = {}
    if e["token"] is not None:
        params["token"] = browser.token() if e["token"] == VALID else e["token"]
    if e["channel"] is not None:
        params["channel"] = e["channel"]
    extra = {"HTTP_HOST": e["host"]} if e["host"] is not None else {}
    path = e["base"] + e["route"]
    if params:
        path += "?" + urlencode(params)
    return client.post(path, data=e["body"], content_type="application/json", headers=headers, **extra)


def check_invariants(gateway: ApiGateway) -> None:
    sessions = list(WebSocketSession.objects.all())
    # Each session was opened by exactly one consumed token and one successful attempt.
    assert WebSocketToken.objects.filter(used=True).count() == len(sessions)
    assert ConnectionRateLimit.objects.filter(successful=True).count() == len(sessions)
    assert len({s.connection_id for s in sessions}) == len(sessions)
    for s in sessions:
        assert s.api_gateway_id == gateway.pk
        assert s.user_id is not None and s.auth_hash and s.session_key_hash
        assert security.connection_id_valid(s.connection_id)
        assert security.channel_name_valid(s.channel_name)
        assert s.connected == (s.disconnected_at is None)


@override_settings(
    WSGATEWAY=wsgateway(CONNECT_RATE_LIMIT_ATTEMPTS=100_000, TOKEN_RATE_LIMIT_PER_MINUTE=100_000)
)
@settings(
    max_examples=150,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(event=events)
def test_random_events_never_5xx_and_rows_stay_consistent(
    gateway: ApiGateway, browser: Browser, event: dict[str, Any]
) -> None:
    response = post(Client(), browser, event)
    assert response.status_code < 500, (response.status_code, response.content)
    if (
        response.status_code >= 400
        and response.get("Content-Type") == "application/json"
        and event["host"] in (None, "testserver", "ws.example.com")
    ):
        body = json.loads(response.content)
        assert set(body) == {"error", "message"}
    check_invariants(gateway)
