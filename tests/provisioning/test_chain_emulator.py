"""The provisioning chain against the emulator's control plane, in-process (run_inline)."""

from __future__ import annotations

from typing import Any

import pytest

from wsgateway.models import ApiGateway
from wsgateway.provisioning import run_inline

from .conftest import count_resources

pytestmark = pytest.mark.django_db


def test_create_gateway_builds_a_websocket_api(aws: Any, gateway: ApiGateway) -> None:
    results = run_inline("create_gateway", gateway.pk)
    assert results[0]["step"] == "lock:create_gateway"
    gateway.refresh_from_db()
    assert gateway.provisioning_status == "provisioned"
    assert gateway.api_created and gateway.stage_created and gateway.deployment_id
    api = aws.get_api(ApiId=gateway.api_id)
    assert api["ProtocolType"] == "WEBSOCKET"
    assert api["RouteSelectionExpression"] == "$request.body.action"
    assert api["Tags"] == {"team": "web"}
    integration = aws.get_integration(ApiId=gateway.api_id, IntegrationId=gateway.connect_integration_id)
    assert integration["IntegrationUri"] == "http://127.0.0.1:9/ws/connect"
    assert integration["IntegrationType"] == "HTTP_PROXY"
    assert integration["RequestParameters"] == {
        "integration.request.header.connectionId": "context.connectionId",
        "integration.request.header.X-Ws-Gateway-Secret": "'test-secret-current'",
    }
    assert count_resources(aws, gateway.api_id) == {
        "apis": 1,
        "integrations": 3,
        "routes": 3,
        "stages": 1,
        "deployments": 1,
    }
    # A second run changes nothing and creates nothing.
    run_inline("create_gateway", gateway.pk)
    assert count_resources(aws, gateway.api_id)["deployments"] == 1
