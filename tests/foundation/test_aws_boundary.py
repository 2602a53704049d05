"""The AWS boundary: region, credentials, cached clients, endpoint overrides, error translation."""

from __future__ import annotations

import threading
from collections.abc import Iterator

import pytest
from django.core.exceptions import ImproperlyConfigured
from django.test import override_settings
from moto.server import ThreadedMotoServer

from wsgateway import exceptions as exc
from wsgateway.aws import aws_call, clear_client_cache, error_from_status, get_boto3_client, get_region_name
from wsgateway.models import get_boto3_client as models_get_boto3_client
from wsgateway.models import get_region_name as models_get_region_name


@pytest.fixture(autouse=True)
def _fresh_clients() -> Iterator[None]:
    clear_client_cache()
    yield
    clear_client_cache()


@pytest.fixture(scope="module")
def moto_url() -> Iterator[str]:
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    server.start()
    host, port = server.get_host_and_port()
    yield f"http://{host}:{port}"
    server.stop()


def test_models_reexport_the_boundary_functions() -> None:
    assert models_get_boto3_client is get_boto3_client
    assert models_get_region_name is get_region_name


def test_region_prefers_gateway_setting() -> None:
    with override_settings(AWS_GATEWAY_REGION_NAME="eu-west-2", AWS_REGION_NAME="us-east-1"):
        assert get_region_name() == "eu-west-2"
    with override_settings(AWS_GATEWAY_REGION_NAME=None, AWS_REGION_NAME="ap-south-1"):
        assert get_region_name() == "ap-south-1"


def test_missing_region_is_a_clear_error() -> None:
    with override_settings(AWS_GATEWAY_REGION_NAME=None, AWS_REGION_NAME=None):
        with pytest.raises(ImproperlyConfigured, match="AWS_GATEWAY_REGION_NAME"):
            get_region_name()
        with pytest.raises(ImproperlyConfigured):
            get_boto3_client()


def test_clients_are_cached_per_thread_and_follow_settings() -> None:
    first = get_boto3_client()
    assert get_boto3_client() is first
    assert first.meta.region_name == "us-east-1"
    other: list[object] = []
    thread = threading.Thread(target=lambda: other.append(get_boto3_client()))
    thread.start()
    thread.join()
    assert other and other[0] is not first
    with override_settings(AWS_GATEWAY_REGION_NAME="eu-central-1"):
        moved = get_boto3_client()
        assert moved is not first and moved.meta.region_name == "eu-central-1"


def test_endpoint_url_comes_from_settings_per_service() -> None:
    with override_settings(WSGATEWAY={"ENDPOINT_URLS": {"apigatewayv2": "http://127.0.0.1:4510"}}):
        client = get_boto3_client("apigatewayv2")
        assert client.meta.endpoint_url == "http://127.0.0.1:4510"
        mgmt = get_boto3_client("apigatewaymanagementapi", endpoint_url="http://127.0.0.1:4510/abc/prod")
        assert mgmt.meta.endpoint_url == "http://127.0.0.1:4510/abc/prod"


def test_credentials_from_key_pair() -> None:
    with override_settings(
        AWS_ACCESS_KEY_ID="AKIDEXAMPLE", AWS_SECRET_ACCESS_KEY="s3cr3t", AWS_IAM_PROFILE=None
    ):
        creds = get_boto3_client()._request_signer._credentials
        assert creds.access_key == "AKIDEXAMPLE" and creds.secret_key == "s3cr3t"


def test_half_a_key_pair_is_a_clear_error() -> None:
    with (
        override_settings(AWS_ACCESS_KEY_ID="AKIDEXAMPLE", AWS_SECRET_ACCESS_KEY=None, AWS_IAM_PROFILE=None),
        pytest.raises(ImproperlyConfigured, match="both"),
    ):
        get_boto3_client()


def test_unknown_profile_is_a_clear_error() -> None:
    with (
        override_settings(AWS_IAM_PROFILE="no-such-profile-wsgateway"),
        pytest.raises(ImproperlyConfigured, match="no-such-profile-wsgateway"),
    ):
        get_boto3_client()


def test_real_not_found_is_translated(moto_url: str) -> None:
    with override_settings(WSGATEWAY={"ENDPOINT_URLS": {"apigatewayv2": moto_url}}):
        client = get_boto3_client()
        with pytest.raises(exc.NotFoundError) as raised, aws_call("GetApi", api_id="nope123"):
            client.get_api(ApiId="nope123")
    err = raised.value
    assert err.status_code == 404 and err.aws_code == "NotFoundException"
    assert err.api_id == "nope123" and err.operation == "GetApi"
    assert err.__cause__ is not None and type(err.__cause__).__name__ == "NotFoundException"
    assert "api_id=nope123" in str(err)


def test_connection_refused_is_retryable() -> None:
    with override_settings(WSGATEWAY={"ENDPOINT_URLS": {"apigatewayv2": "http://127.0.0.1:9"}}):
        client = get_boto3_client(
            "apigatewayv2",
            config=__import__("botocore.config").config.Config(
                retries={"max_attempts": 0}, connect_timeout=1
            ),
        )
        with pytest.raises(exc.AwsConnectionError) as raised, aws_call("GetApis"):
            client.get_apis()
    assert raised.value.retryable is True


@pytest.mark.parametrize(
    ("status", "code", "cls", "retryable"),
    [
        (410, "GoneException", exc.GoneError, False),
        (410, None, exc.GoneError, False),
        (429, "LimitExceededException", exc.ThrottledError, True),
        (429, "TooManyRequestsException", exc.ThrottledError, True),
        (413, "PayloadTooLargeException", exc.PayloadTooLargeError, False),
        (403, "ForbiddenException", exc.ForbiddenError, False),
        (403, None, exc.ForbiddenError, False),
        (500, "InternalServerErrorException", exc.ServerError, True),
        (503, None, exc.ServerError, True),
        (409, "ConflictException", exc.ConflictError, False),
        (400, "BadRequestException", exc.BadRequestError, False),
        (418, None, exc.BadRequestError, False),
        (410, "GoneException:http://internal.amazon.com/coral/", exc.GoneError, False),
    ],
)
def test_error_from_status(status: int, code: str | None, cls: type, retryable: bool) -> None:
    err = error_from_status(status, code, connection_id="abc=")
    assert type(err) is cls
    assert err.retryable is retryable
    assert err.status_code == status and err.connection_id == "abc="
    if code:
        assert err.aws_code == code.split(":")[0]


def test_equal_configs_share_one_client() -> None:
    from botocore.config import Config

    first = get_boto3_client("apigatewayv2", config=Config(connect_timeout=3, retries={"max_attempts": 2}))
    again = get_boto3_client("apigatewayv2", config=Config(connect_timeout=3, retries={"max_attempts": 2}))
    other = get_boto3_client("apigatewayv2", config=Config(connect_timeout=4))
    assert first is again and other is not first


def test_client_cache_is_bounded(monkeypatch: pytest.MonkeyPatch) -> None:
    from wsgateway.aws import clients

    monkeypatch.setattr(clients, "_MAX_CLIENTS", 4)  # a boto3 client costs ~0.3 s to build
    for i in range(clients._MAX_CLIENTS + 3):
        get_boto3_client("apigatewaymanagementapi", endpoint_url=f"http://127.0.0.1:4510/api{i}/prod")
    assert len(clients._cache()) <= clients._MAX_CLIENTS
