"""ApiGatewayAdditionalRoute.update_route / delete_route: the reference's methods, against the
emulator. With a client they run now (as ``--here`` does); without one they enqueue."""

from __future__ import annotations

from typing import Any

import pytest

from tests.provisioning.conftest import aws, gateway  # noqa: F401  (fixtures)
from wsgateway.models import ApiGateway, ApiGatewayAdditionalRoute
from wsgateway.provisioning import run_inline

pytestmark = pytest.mark.django_db


def _route_keys(client: Any, api_id: str) -> set[str]:
    return {r["RouteKey"] for r in client.get_routes(ApiId=api_id)["Items"]}


def test_update_and_delete_route_with_a_client_change_aws_now(aws: Any, gateway: ApiGateway) -> None:  # noqa: F811
    run_inline("create_gateway", gateway.pk)
    gateway.refresh_from_db()
    assert gateway.is_deployed
    route = ApiGatewayAdditionalRoute(
        api_gateway=gateway, name="Chat", route_key="chat", integration_url="https://www.example.com/ws/chat"
    )
    route.save(push_to_aws=False)  # nothing queued: the row only
    assert "chat" not in _route_keys(aws, gateway.api_id)

    route.update_route(client=aws)
    route.refresh_from_db()
    assert route.deployed and route.route_id and "chat" in _route_keys(aws, gateway.api_id)

    route.delete_route(client=aws)
    assert "chat" not in _route_keys(aws, gateway.api_id)
    assert ApiGatewayAdditionalRoute.objects.filter(pk=route.pk).exists()  # the row stays


def test_update_and_delete_route_without_a_client_enqueue(
    gateway: ApiGateway,  # noqa: F811
    clean_redis: Any,
    django_capture_on_commit_callbacks: Any,
) -> None:
    ApiGateway.objects.filter(pk=gateway.pk).update(api_id="abc123defg", api_created=True, deployment_id="d")
    route = ApiGatewayAdditionalRoute.objects.create(
        api_gateway=gateway, name="r", route_key="r", integration_url="https://www.example.com/ws/r"
    )
    with django_capture_on_commit_callbacks(execute=True):
        update = route.update_route()
    assert update.operation == "sync_route"
    assert route.delete_route() is None  # never reached AWS: nothing to delete
    ApiGatewayAdditionalRoute.objects.filter(pk=route.pk).update(route_id="r1", integration_id="i1")
    route.refresh_from_db()
    with django_capture_on_commit_callbacks(execute=True):
        delete = route.delete_route()
    assert delete.operation == "delete_route"
