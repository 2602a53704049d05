"""Fixtures of the provisioning tests: the emulator as the control plane, quotas made small."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from django.conf import settings as django_settings

from wsgateway.aws import clear_client_cache
from wsgateway.emulator.pytest_plugin import emulator, recording_backend  # noqa: F401
from wsgateway.emulator.server import EmulatorServer
from wsgateway.emulator.testing import boto3_client
from wsgateway.models import ApiGateway, ApiGatewayAdditionalRoute

CERT_ARN = "arn:aws:acm:us-east-1:123456789012:certificate/abcd-1234"


def wsgateway_overrides(**extra: Any) -> dict[str, Any]:
    """The test WSGATEWAY dict plus ``extra`` (quotas small so chains run fast)."""
    base = dict(django_settings.WSGATEWAY)
    base.update(
        {
            "DEPLOYMENT_INTERVAL_SECONDS": 0,
            "DOMAIN_NAME_INTERVAL_SECONDS": 0,
            "CONTROL_PLANE_CALLS_PER_SECOND": 1000,
        }
    )
    base.update(extra)
    return base


@pytest.fixture
def aws(emulator: EmulatorServer, settings: Any, clean_redis: Any) -> Iterator[Any]:  # noqa: F811
    """A boto3 apigatewayv2 client on the emulator, with wsgateway pointed at the same emulator."""
    settings.WSGATEWAY = wsgateway_overrides(ENDPOINT_URLS={"apigatewayv2": emulator.url})
    clear_client_cache()
    yield boto3_client("apigatewayv2", emulator.url)
    clear_client_cache()


@pytest.fixture
def gateway(db: Any) -> ApiGateway:
    """A gateway row with an additional route definition waiting to be provisioned."""
    row = ApiGateway.objects.create(
        api_name="chat-api",
        api_description="Chat",
        target_base_endpoint="http://127.0.0.1:9/ws/",
        stage_name="production",
        stage_description="prod",
        tags={"team": "web"},
    )
    return row


def count_resources(client: Any, api_id: str, stage: str = "production") -> dict[str, int]:
    """How many of each resource the control plane holds for ``api_id`` (and in total)."""
    return {
        "apis": len(client.get_apis()["Items"]),
        "integrations": len(client.get_integrations(ApiId=api_id)["Items"]),
        "routes": len(client.get_routes(ApiId=api_id)["Items"]),
        "stages": len(client.get_stages(ApiId=api_id)["Items"]),
        "deployments": len(client.get_deployments(ApiId=api_id)["Items"]),
    }


@pytest.fixture
def moto_server() -> Iterator[str]:
    """moto's server on a free local port (an independent implementation of the control plane)."""
    from moto.server import ThreadedMotoServer

    server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    server.start()
    host, port = server.get_host_and_port()
    try:
        yield f"http://{host}:{port}"
    finally:
        server.stop()


@pytest.fixture
def hosted_zone(moto_server: str, settings: Any, aws: Any) -> tuple[Any, str]:
    """A Route 53 hosted zone on moto; wsgateway's route53 calls go there."""
    settings.WSGATEWAY = {
        **settings.WSGATEWAY,
        "ENDPOINT_URLS": {**settings.WSGATEWAY["ENDPOINT_URLS"], "route53": moto_server},
    }
    clear_client_cache()
    route53 = boto3_client("route53", moto_server)
    zone = route53.create_hosted_zone(Name="example.com", CallerReference="wsgateway-tests")
    return route53, zone["HostedZone"]["Id"].rsplit("/", 1)[-1]


def add_chat_route(gateway: ApiGateway) -> None:
    """An additional route row ``chat`` written without ``save()`` (so no sync is enqueued)."""
    ApiGatewayAdditionalRoute.objects.bulk_create(
        [
            ApiGatewayAdditionalRoute(
                api_gateway=gateway,
                name="Chat",
                route_key="chat",
                integration_url="http://127.0.0.1:9/ws/chat",
            )
        ]
    )
