"""Model behaviour beyond signatures: save(), clean(), derived endpoints, channel permissions."""

from __future__ import annotations

import pytest
from django.contrib.auth import get_user_model
from django.contrib.auth.models import AnonymousUser, Permission
from django.core.exceptions import ValidationError
from django.db import IntegrityError

from wsgateway.models import ApiGateway, ChannelPermission, ChannelPermissionRule, WebSocketSession

pytestmark = pytest.mark.django_db


def test_save_adds_the_trailing_slash_once() -> None:
    gw = ApiGateway.objects.create(api_name="a", target_base_endpoint="https://example.com/ws")
    gw.refresh_from_db()
    assert gw.target_base_endpoint == "https://example.com/ws/"
    gw.save()
    gw.refresh_from_db()
    assert gw.target_base_endpoint == "https://example.com/ws/"


def test_save_with_update_fields_keeps_the_slash() -> None:
    gw = ApiGateway.objects.create(api_name="b")
    gw.target_base_endpoint = "https://example.com/x"
    gw.save(update_fields=["api_description"])
    gw.refresh_from_db()
    assert gw.target_base_endpoint == "https://example.com/x/"


def test_save_leaves_empty_endpoint_alone() -> None:
    gw = ApiGateway.objects.create(api_name="c")
    assert gw.target_base_endpoint is None


def test_clean_accepts_a_minimal_row() -> None:
    ApiGateway(api_name="minimal").full_clean()


@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("domain_name", "not a domain"),
        ("domain_name", "-bad.example.com"),
        ("stage_name", "has space"),
        ("certificate_arn", "arn:aws:iam::123:role/x"),
        ("hosted_zone_id", "z-lower"),
        ("route_selection_expression", "action"),
        ("api_key_selection_expression", "$request.nope.x"),
        ("target_base_endpoint", "https://example.com/ws/?q=1"),
        ("tags", {"k": 1}),
    ],
)
def test_clean_rejects_bad_values(field: str, value: object) -> None:
    gw = ApiGateway(api_name="x", domain_name="ws.example.com")
    setattr(gw, field, value)
    with pytest.raises(ValidationError) as err:
        gw.clean()
    assert field in err.value.message_dict


def test_clean_accepts_good_values() -> None:
    gw = ApiGateway(
        api_name="Good API",
        domain_name="ws.example.com",
        certificate_arn="arn:aws:acm:us-east-1:123456789012:certificate/abc-123",
        hosted_zone_id="Z123ABC",
        stage_name="prod_1",
        target_base_endpoint="https://www.example.com/ws/",
        tags={"team": "rt"},
    )
    gw.clean()


def test_certificate_needs_a_domain() -> None:
    gw = ApiGateway(api_name="x", certificate_arn="arn:aws:acm:us-east-1:123456789012:certificate/a")
    with pytest.raises(ValidationError) as err:
        gw.clean()
    assert "domain_name" in err.value.message_dict


def test_endpoints_for_aws_emulator_and_custom_domain() -> None:
    gw = ApiGateway(api_name="x", api_id="abc123", stage_name="production")
    assert gw.management_endpoint_url == "" and gw.websocket_url == ""
    gw.api_endpoint = "wss://abc123.execute-api.eu-west-1.amazonaws.com"
    assert gw.websocket_url == "wss://abc123.execute-api.eu-west-1.amazonaws.com/production"
    assert gw.management_endpoint_url == "https://abc123.execute-api.eu-west-1.amazonaws.com/production"
    gw.api_endpoint = "ws://127.0.0.1:4510/abc123"
    assert gw.management_endpoint_url == "http://127.0.0.1:4510/abc123/production"
    gw.domain_name, gw.custom_domain_created, gw.api_mapping_key = "ws.example.com", True, "v1"
    # A custom domain is addressed by its mapping key, never by /{stage} (that is a 403).
    assert gw.management_endpoint_url == "https://ws.example.com/v1"
    assert gw.websocket_url == "wss://ws.example.com/v1"
    gw.api_mapping_key = ""
    assert gw.management_endpoint_url == "https://ws.example.com"


def test_connection_ids_are_unique() -> None:
    WebSocketSession.objects.create(connection_id="abc=")
    with pytest.raises(IntegrityError):
        WebSocketSession.objects.create(connection_id="abc=")


def test_session_queryset_helpers() -> None:
    user = get_user_model().objects.create_user("u")
    WebSocketSession.objects.create(connection_id="1", channel_name="room", user=user)
    WebSocketSession.objects.create(connection_id="2", channel_name="room", connected=False)
    WebSocketSession.objects.create(connection_id="3", channel_name="other")
    assert list(WebSocketSession.objects.for_channel("room").values_list("connection_id", flat=True)) == ["1"]
    assert WebSocketSession.objects.for_user(user).count() == 1
    assert WebSocketSession.objects.for_user(user.pk).count() == 1
    assert WebSocketSession.objects.live().count() == 2


@pytest.fixture
def people():
    user_model = get_user_model()
    plain = user_model.objects.create_user("plain")
    staff = user_model.objects.create_user("staff", is_staff=True)
    root = user_model.objects.create_superuser("root", password="x")
    inactive = user_model.objects.create_user("inactive", is_active=False, is_staff=True)
    return {"anon": AnonymousUser(), "plain": plain, "staff": staff, "root": root, "inactive": inactive}


@pytest.mark.parametrize(
    ("access", "allowed"),
    [
        (ChannelPermission.Access.ALLOW_ALL, {"anon", "plain", "staff", "root", "inactive"}),
        (ChannelPermission.Access.AUTHENTICATED, {"plain", "staff", "root"}),
        (ChannelPermission.Access.STAFF_ONLY, {"staff", "root"}),  # superusers pass every level
        (ChannelPermission.Access.SUPERUSER_ONLY, {"root"}),
    ],
)
def test_channel_access_levels(people, access: str, allowed: set[str]) -> None:
    rule = ChannelPermission.objects.create(channel_name="c", access=access)
    got = {name for name, who in people.items() if rule.allows(who)}
    assert got == allowed


def test_channel_permission_rules_are_alternatives_of_all_of(people) -> None:
    add = Permission.objects.get(codename="add_websocketsession")
    change = Permission.objects.get(codename="change_websocketsession")
    plain = people["plain"]
    plain.user_permissions.add(add)
    channel = ChannelPermission.objects.create(channel_name="c", access=ChannelPermission.Access.PERMISSIONS)
    both = ChannelPermissionRule.objects.create(channel_permission=channel)
    both.permissions.set([add, change])
    plain = get_user_model().objects.get(pk=plain.pk)  # fresh permission cache
    assert channel.allows(plain) is False  # the only rule needs both
    ChannelPermissionRule.objects.create(channel_permission=channel).permissions.set([add])
    channel = ChannelPermission.objects.get(pk=channel.pk)
    assert channel.allows(plain) is True  # the second rule is an alternative
    assert channel.allows(people["root"]) is True
    assert channel.allows(people["anon"]) is False


def test_channel_permissions_are_the_same_on_every_gateway(people) -> None:
    gw = ApiGateway.objects.create(api_name="gw")
    ChannelPermission.objects.create(channel_name="c", access=ChannelPermission.Access.SUPERUSER_ONLY)
    assert ChannelPermission.user_may_join("c", people["anon"], gw) is False
    assert ChannelPermission.user_may_join("c", people["anon"], None) is False
    assert ChannelPermission.user_may_join("c", people["root"], gw) is True
    assert ChannelPermission.user_may_join("open", people["anon"], gw) is True
