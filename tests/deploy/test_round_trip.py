"""``checkApiGateway --round-trip`` over real sockets: the emulator in front of a live Django,
provisioned by the provisioning chain; every stage timed, a refused connect named as such."""

from __future__ import annotations

import re
from typing import Any

import pytest
from django.contrib.auth.models import User
from django.contrib.sessions.models import Session

from wsgateway.models import ApiGateway, WebSocketSession, WebSocketToken
from wsgateway.provisioning import run_inline

from .conftest import run, run_failing, wsgateway_overrides

pytestmark = pytest.mark.django_db(transaction=True)

STAGES = ("connect", "recorded", "message", "broadcast", "received", "disconnect")


@pytest.fixture
def live_gateway(aws: Any, live_server: Any) -> ApiGateway:
    """A gateway whose integrations POST to the live Django, provisioned on the emulator."""
    gateway = ApiGateway.objects.create(
        api_name="round-trip", target_base_endpoint=f"{live_server.url}/ws/", stage_name="production"
    )
    run_inline("create_gateway", gateway.pk)
    gateway.refresh_from_db()
    return gateway


def stage_times(output: str) -> dict[str, float]:
    found = re.finditer(r"^  (\w+): (\d+\.\d+)s", output, re.MULTILINE)
    return {m[1]: float(m[2]) for m in found if m[1] != "total"}


def test_round_trip_through_the_emulator_and_a_live_django(live_gateway: ApiGateway) -> None:
    alice = User.objects.create_user("alice", password="pw")
    output = run("checkApiGateway", "--pk", str(live_gateway.pk), "--round-trip", "--user", "alice")
    times = stage_times(output)
    assert tuple(times) == STAGES, output
    assert all(0 <= seconds < 10 for seconds in times.values())
    assert f"Round trip through {live_gateway.websocket_url} as alice" in output
    assert "matches AWS" in output
    # Django saw the whole life of the socket: connect, one message, disconnect.
    session = WebSocketSession.objects.get()
    assert session.user == alice and session.api_gateway == live_gateway
    assert session.request_count == 2 and not session.connected
    assert f"connection {session.connection_id}" in output
    # The token was used, and the Django session made for the check is gone.
    assert WebSocketToken.objects.filter(used=True).count() == 1 and not Session.objects.exists()


def test_a_refused_connect_and_a_missing_user_fail_the_check(live_gateway: ApiGateway) -> None:
    User.objects.create_user("mallory", password="pw", is_active=False)
    output, error = run_failing(
        "checkApiGateway", "--pk", str(live_gateway.pk), "--round-trip", "--user", "mallory"
    )
    assert "connect: FAILED: refused with HTTP 403" in output  # API Gateway's body, as on AWS
    assert "1 problem(s)" in str(error) and not WebSocketSession.objects.exists()
    _output, error = run_failing("checkApiGateway", "--pk", str(live_gateway.pk), "--round-trip")
    assert "--user" in str(error)
    _output, error = run_failing(
        "checkApiGateway", "--pk", str(live_gateway.pk), "--round-trip", "--user", "nobody"
    )
    assert "No user 'nobody'" in str(error)


def test_without_required_tokens_the_session_cookie_alone_carries_the_user(
    live_gateway: ApiGateway, settings: Any
) -> None:
    settings.WSGATEWAY = wsgateway_overrides(
        ENDPOINT_URLS=settings.WSGATEWAY["ENDPOINT_URLS"], REQUIRE_TOKEN=False
    )
    User.objects.create_user("bob", password="pw")
    output = run("checkApiGateway", "--pk", str(live_gateway.pk), "--round-trip", "--user", "bob")
    assert tuple(stage_times(output)) == STAGES, output
    assert not WebSocketToken.objects.exists()  # none asked for, none issued
    assert WebSocketSession.objects.get().user.username == "bob"
