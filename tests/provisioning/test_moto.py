"""The calls moto's server implements, run against it too (an independent control plane).

moto has no CreateDeployment, so the chain runs up to the stage here; the custom domain and the
Route 53 alias are in test_operations.py (emulator + moto's Route 53).
"""

from __future__ import annotations

from typing import Any

import pytest

from wsgateway.aws import clear_client_cache
from wsgateway.emulator.testing import boto3_client
from wsgateway.models import ApiGateway
from wsgateway.provisioning import runner

from .conftest import CERT_ARN, add_chat_route, wsgateway_overrides

pytestmark = pytest.mark.django_db

UP_TO_STAGE = ["create_api", "integrations", "routes", "additional_routes", "stage"]


def run_steps(gateway: ApiGateway, steps: list[str]) -> list[dict[str, Any]]:
    run_id = runner.new_run_id()
    results = [runner.run_step(None, gateway.pk, run_id, "lock:create_gateway")]
    results += [runner.run_step(None, gateway.pk, run_id, step) for step in steps]
    runner.lock.release(gateway.pk, run_id)
    return results


def test_chain_up_to_the_stage_and_the_domain_mapping_on_moto(
    moto_server: str, settings: Any, clean_redis: Any, gateway: ApiGateway
) -> None:
    settings.WSGATEWAY = wsgateway_overrides(ENDPOINT_URLS={"apigatewayv2": moto_server})
    clear_client_cache()
    client = boto3_client("apigatewayv2", moto_server)
    add_chat_route(gateway)  # bulk_create: no save(), so nothing is enqueued
    first = run_steps(gateway, UP_TO_STAGE)
    assert [r["result"] for r in first[1:]] == ["created"] * 5
    gateway.refresh_from_db()
    api = client.get_api(ApiId=gateway.api_id)
    assert api["ProtocolType"] == "WEBSOCKET" and api["RouteSelectionExpression"] == "$request.body.action"
    integration = client.get_integration(ApiId=gateway.api_id, IntegrationId=gateway.default_integration_id)
    assert integration["IntegrationUri"] == "http://127.0.0.1:9/ws/default"
    assert integration["IntegrationType"] == "HTTP_PROXY"
    # Again, with the ids recorded: nothing new. And with them lost: found by natural key.
    run_steps(gateway, UP_TO_STAGE)
    ApiGateway.objects.filter(pk=gateway.pk).update(
        api_id="", connect_integration_id="", connect_route_id="", stage_created=False
    )
    run_steps(gateway, UP_TO_STAGE)
    gateway.refresh_from_db()
    assert len(client.get_apis()["Items"]) == 1
    assert len(client.get_integrations(ApiId=gateway.api_id)["Items"]) == 4
    assert sorted(r["RouteKey"] for r in client.get_routes(ApiId=gateway.api_id)["Items"]) == [
        "$connect",
        "$default",
        "$disconnect",
        "chat",
    ]
    assert len(client.get_stages(ApiId=gateway.api_id)["Items"]) == 1

    ApiGateway.objects.filter(pk=gateway.pk).update(domain_name="ws.example.com", certificate_arn=CERT_ARN)
    run_steps(gateway, ["domain_name", "api_mapping"])
    run_steps(gateway, ["domain_name", "api_mapping"])
    gateway.refresh_from_db()
    assert gateway.api_mapping_id
    assert len(client.get_domain_names()["Items"]) == 1
    assert len(client.get_api_mappings(DomainName="ws.example.com")["Items"]) == 1
