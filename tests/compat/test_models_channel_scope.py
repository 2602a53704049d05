"""Issue 12's channel-scope leak: one rule per channel name, the same on every gateway.

The attack: a user refused "vip" on gateway A connected through gateway B (or moved there with
``change_channel``) and received A's staff-only broadcasts, because the rule was per gateway
while ``send_to_channel("vip", ...)`` reaches every gateway. Now joining is checked against the
one global row whichever gateway carries the socket, and sending to a channel reaches that
channel on every gateway: joining and sending agree.
"""

from __future__ import annotations

from typing import Any

import pytest
from django.core.cache import cache
from django.test import Client

from tests.ingestion.conftest import SECRET, EventClient, error_code, make_browser, new_connection_id
from wsgateway import sending
from wsgateway.fanout.targets import Target
from wsgateway.models import ApiGateway, ChannelPermission, WebSocketSession

pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("ingestion_urls")]


@pytest.fixture
def gateways() -> tuple[ApiGateway, ApiGateway]:
    cache.clear()
    made = tuple(
        ApiGateway.objects.create(
            api_name=f"gateway-{name}",
            api_id=api_id,
            api_endpoint=f"wss://{api_id}.execute-api.us-east-1.amazonaws.com",
            api_created=True,
        )
        for name, api_id in (("a", "aaaaaaaaaa"), ("b", "bbbbbbbbbb"))
    )
    yield made  # type: ignore[misc]
    cache.clear()


def _events(gateway: ApiGateway) -> EventClient:
    return EventClient(Client(), api_id=gateway.api_id, secret=SECRET)


def test_a_user_refused_vip_on_gateway_a_is_refused_on_gateway_b(gateways: Any) -> None:
    a, b = gateways
    ChannelPermission.objects.create(channel_name="vip", access=ChannelPermission.Access.STAFF_ONLY)
    mallory = make_browser("mallory")
    for gateway in (a, b):
        response = _events(gateway).open(mallory, channel="vip")
        assert response.status_code == 403 and error_code(response) == "channel_forbidden"
    assert not WebSocketSession.objects.filter(channel_name="vip").exists()


def test_change_channel_to_vip_through_gateway_b_is_refused(gateways: Any) -> None:
    _a, b = gateways
    ChannelPermission.objects.create(channel_name="vip", access=ChannelPermission.Access.STAFF_ONLY)
    mallory = make_browser("mallory")
    events = _events(b)
    connection_id = new_connection_id()
    assert events.open(mallory, connection_id=connection_id, channel="lobby").status_code == 200
    response = events.message(connection_id, {"handler": "change_channel", "channel": "vip"})
    assert response.status_code == 403 and error_code(response) == "channel_forbidden"
    assert WebSocketSession.objects.get(connection_id=connection_id).channel_name == "lobby"


def test_staff_may_join_vip_on_both_gateways_and_a_channel_send_reaches_both(gateways: Any) -> None:
    a, b = gateways
    ChannelPermission.objects.create(channel_name="vip", access=ChannelPermission.Access.STAFF_ONLY)
    staff = make_browser("sam", is_staff=True)
    for gateway in (a, b):
        assert _events(gateway).open(staff, channel="vip").status_code == 200
    handle = sending.send_to_channel("vip", {"text": "staff only"})
    assert handle.message_id
    target = Target(channel_name="vip")
    reached = set(target.queryset().values_list("api_gateway__api_name", flat=True))
    assert reached == {"gateway-a", "gateway-b"}


def test_one_row_per_channel_name_whatever_the_gateway() -> None:
    field = ChannelPermission._meta.get_field("channel_name")
    assert field.unique
    assert "api_gateway" not in {f.name for f in ChannelPermission._meta.get_fields()}
