"""The module-level public names of the reference's ``models`` module, under ``wsgateway.models``,
with the reference's signatures, values and exception types."""

from __future__ import annotations

import inspect
import json
from typing import Any

import pytest
from django.contrib.auth import get_user_model
from django.core.exceptions import ImproperlyConfigured, ValidationError
from django.test import override_settings

from tests.ingestion.conftest import wsgateway
from wsgateway import models
from wsgateway.exceptions import WsGatewayError
from wsgateway.hashing import session_key_hash

SECRET = "a" * 40


def test_constants_have_the_references_values() -> None:
    assert models.MAX_MESSAGE_SIZE == 128 * 1024
    assert (models.BROADCAST_MAX_WORKERS, models.BROADCAST_CONNECT_TIMEOUT) == (10, 5)
    assert (models.BROADCAST_READ_TIMEOUT, models.BROADCAST_MAX_ATTEMPTS) == (10, 3)
    assert (models.AWS_CONNECT_TIMEOUT, models.AWS_READ_TIMEOUT, models.AWS_MAX_ATTEMPTS) == (5, 20, 3)
    assert models.RATE_LIMIT_RETENTION_DAYS == 7
    assert (models.RATE_LIMIT_PURGE_ONE_IN, models.RATE_LIMIT_PURGE_BATCH) == (100, 500)
    assert models.GATEWAY_SECRET_HEADER == "X-Ws-Gateway-Secret"
    assert models.GATEWAY_SECRET_PATTERN.fullmatch(SECRET)
    assert not models.GATEWAY_SECRET_PATTERN.fullmatch("short")
    assert not models.GATEWAY_SECRET_PATTERN.fullmatch("b" * 40 + "'")


@pytest.mark.parametrize(
    ("name", "parameters"),
    [
        ("get_gateway_secrets", []),
        ("integration_request_parameters", []),
        ("serialise_message", ["data"]),
        ("hash_session_key", ["session_key"]),
        ("hash_user_auth", ["user"]),
        ("validate_integration_host", ["url", "field"]),
        ("get_region_name", []),
        ("get_boto3_client", ["service", "kwargs"]),
        ("clear_boto3_client_cache", []),
        ("collect_deferred_sync_errors", []),
        ("run_aws_after_commit", ["operation"]),
    ],
)
def test_functions_exist_with_the_references_parameters(name: str, parameters: list[str]) -> None:
    assert list(inspect.signature(getattr(models, name)).parameters) == parameters


def test_get_boto3_client_defaults_to_apigatewayv2() -> None:
    default = inspect.signature(models.get_boto3_client).parameters["service"].default
    assert default == "apigatewayv2"


def test_gateway_secrets_come_from_the_settings() -> None:
    with override_settings(WSGATEWAY=wsgateway(GATEWAY_SECRETS=[SECRET, "old-" + SECRET])):
        assert models.get_gateway_secrets() == [SECRET, "old-" + SECRET]
    with override_settings(WSGATEWAY=wsgateway(GATEWAY_SECRETS=[])):
        assert models.get_gateway_secrets() == []


def test_integration_request_parameters() -> None:
    with override_settings(WSGATEWAY=wsgateway(GATEWAY_SECRETS=[SECRET])):
        assert models.integration_request_parameters() == {
            "integration.request.header.connectionId": "context.connectionId",
            "integration.request.header.X-Ws-Gateway-Secret": f"'{SECRET}'",
        }
    with override_settings(WSGATEWAY=wsgateway(GATEWAY_SECRETS=[])):
        assert models.integration_request_parameters() == {
            "integration.request.header.connectionId": "context.connectionId"
        }
    with (
        override_settings(WSGATEWAY=wsgateway(GATEWAY_SECRETS=["has a space and is long enough, really"])),
        pytest.raises(ValueError, match="32 characters"),
    ):
        models.integration_request_parameters()


def test_serialise_message_is_strict_json_and_size_checked() -> None:
    assert json.loads(models.serialise_message({"a": [1, "é"]})) == {"a": [1, "é"]}
    with pytest.raises(models.PayloadTooLargeError) as err:
        models.serialise_message({"x": "y" * models.MAX_MESSAGE_SIZE})
    assert isinstance(err.value, ValueError) and isinstance(err.value, WsGatewayError)
    with pytest.raises(ValueError):
        models.serialise_message({"x": float("inf")})


def test_hashes_are_keyed_and_64_hex() -> None:
    assert models.hash_session_key("k") == session_key_hash("k")
    assert len(models.hash_session_key("k")) == 64 and models.hash_session_key("k") != "k"


@pytest.mark.django_db
def test_hash_user_auth_changes_with_the_password() -> None:
    user = get_user_model().objects.create_user("u", password="one")
    before = models.hash_user_auth(user)
    assert len(before) == 64 and before != user.get_session_auth_hash()
    user.set_password("two")
    assert models.hash_user_auth(user) != before
    assert models.hash_user_auth(object()) == ""


def test_validate_integration_host_names_the_field() -> None:
    with override_settings(WSGATEWAY=wsgateway(ALLOWED_INTEGRATION_HOSTS=["www.example.com"])):
        models.validate_integration_host("https://www.example.com/ws/", "target_base_endpoint")
        models.validate_integration_host("", "target_base_endpoint")  # unset: nothing to check
        with pytest.raises(ValidationError) as err:
            models.validate_integration_host("https://evil.example.net/", "integration_url")
        assert list(err.value.message_dict) == ["integration_url"]
    models.validate_integration_host("https://anything.example.net/", "x")  # empty list: any host


def test_missing_region_is_both_improperly_configured_and_runtime_error(settings: Any) -> None:
    settings.AWS_GATEWAY_REGION_NAME = None
    settings.AWS_REGION_NAME = None
    with pytest.raises(ImproperlyConfigured) as err:
        models.get_region_name()
    assert isinstance(err.value, RuntimeError)
    settings.AWS_REGION_NAME = "eu-west-1"
    assert models.get_region_name() == "eu-west-1"
    settings.AWS_GATEWAY_REGION_NAME = "us-east-2"
    assert models.get_region_name() == "us-east-2"


def test_clients_get_timeouts_and_the_cache_can_be_cleared(settings: Any) -> None:
    settings.AWS_REGION_NAME = "eu-west-1"
    client = models.get_boto3_client()
    assert client.meta.config.connect_timeout == 5 and client.meta.config.read_timeout == 20
    assert models.get_boto3_client() is client
    models.clear_boto3_client_cache()
    assert models.get_boto3_client() is not client


def test_collect_deferred_sync_errors_yields_a_list() -> None:
    with models.collect_deferred_sync_errors() as errors:
        assert errors == []


@pytest.mark.django_db
def test_queryset_send_message_accepts_max_workers(
    broker: Any, django_capture_on_commit_callbacks: Any
) -> None:
    gateway = models.ApiGateway.objects.create(api_name="g")
    models.WebSocketSession.objects.create(connection_id="c=", channel_name="room", api_gateway=gateway)
    with django_capture_on_commit_callbacks(execute=True):
        handle = models.WebSocketSession.objects.filter(channel_name="room").send_message(
            {"m": 1}, max_workers=4
        )
    assert handle.message_id
    with pytest.raises(ValueError, match="max_workers"):
        models.WebSocketSession.objects.all().send_message({"m": 1}, max_workers=0)
    with pytest.raises(ValueError):
        models.WebSocketSession.objects.all().send_message({"x": "y" * models.MAX_MESSAGE_SIZE})


@pytest.mark.django_db
def test_session_send_message_needs_a_gateway() -> None:
    orphan = models.WebSocketSession.objects.create(connection_id="o=")
    with pytest.raises(ValueError, match="no API Gateway"):
        orphan.send_message({"m": 1})


@pytest.mark.django_db
def test_token_api_shapes() -> None:
    user = get_user_model().objects.create_user("t")
    row = models.WebSocketToken.generate_token(user, "session")
    assert isinstance(row, models.WebSocketToken) and len(row.token) == 64
    assert models.WebSocketToken.validate_and_consume("wrong", "session") is None
    assert models.WebSocketToken.validate_and_consume(row.token, "session") == user
    assert models.WebSocketToken.check_rate_limit(user, max_tokens_per_minute=1) is False
    assert models.WebSocketToken.cleanup_expired(max_age_seconds=300)[0] == 1  # the used one


@pytest.mark.django_db
def test_channel_permission_reference_api() -> None:
    access = models.ChannelPermission.Access
    assert {a.value for a in access} >= {"allow_all", "superuser_only", "staff_only", "permissions"}
    assert models.ChannelPermission.for_channel("none") is None
    row = models.ChannelPermission.objects.create(channel_name="c", access=access.PERMISSIONS)
    assert models.ChannelPermission.for_channel("c") == row
    rule = models.ChannelPermissionRule.objects.create(channel_permission=row)
    assert list(row.rules.all()) == [rule] and str(rule) == "(no permissions)"
    user = get_user_model().objects.create_user("p")
    assert rule.is_satisfied_by(user) is False and row.allows(user) is False
