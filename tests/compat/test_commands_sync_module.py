"""``wsgateway.sync``: the reference's public names, push and pull run in-process on the
provisioning steps against the emulator (what a worker does for the admin's sync actions)."""

# ruff: noqa: F811  (pytest fixtures imported from the provisioning tests are parameters here)

from __future__ import annotations

from typing import Any

import pytest
from botocore.exceptions import ClientError
from django.utils import timezone

# The provisioning tests' fixtures: the emulator as the control plane, and a gateway row.
from tests.provisioning.conftest import aws, gateway  # noqa: F401
from wsgateway import sync
from wsgateway.emulator.pytest_plugin import emulator, recording_backend  # noqa: F401
from wsgateway.exceptions import ApiGatewaySyncError, NotFoundError, ProvisioningError
from wsgateway.models import ApiGateway
from wsgateway.provisioning import run_inline

pytestmark = pytest.mark.django_db


@pytest.fixture
def deployed(aws: Any, gateway: ApiGateway) -> ApiGateway:
    run_inline("create_gateway", gateway.pk)
    gateway.refresh_from_db()
    assert gateway.is_deployed
    return gateway


def test_public_names() -> None:
    assert sync.DEFAULT_ROUTE_KEYS == ("$connect", "$disconnect", "$default")
    assert sync.API_FIELDS["api_description"] == "Description"
    assert {"target_base_endpoint", "stage_description", "api_name"} <= set(sync.SYNCED_GATEWAY_FIELDS)
    assert issubclass(sync.ApiGatewaySyncError, ProvisioningError)
    assert sync.integration_id_of({"Target": "integrations/abc"}) == "abc"
    assert sync.integration_id_of({"Target": "elsewhere"}) == sync.integration_id_of({}) == ""


def test_errors_are_described_by_class_and_code_only() -> None:
    denied = ClientError({"Error": {"Code": "BadRequestException", "Message": "secret detail"}}, "GetApi")
    assert sync.describe_error(denied) == "ClientError: BadRequestException"
    assert sync.describe_error(NotFoundError("gone", aws_code="NotFoundException")) == (
        "NotFoundError: NotFoundException"
    )
    assert sync.describe_error(RuntimeError("detail")) == "RuntimeError"
    assert sync.is_not_found(ClientError({"Error": {"Code": "NotFoundException"}}, "GetApi"))
    assert sync.is_not_found(NotFoundError("gone"))
    assert not sync.is_not_found(ClientError({"Error": {"Code": "ConflictException"}}, "GetApi"))
    assert not sync.is_not_found(RuntimeError())


def test_list_routes_and_integrations(aws: Any, deployed: ApiGateway) -> None:
    routes = sync.list_routes(aws, deployed.api_id)
    assert sorted(r["RouteKey"] for r in routes) == sorted(sync.DEFAULT_ROUTE_KEYS)
    integrations = sync.list_integrations(aws, deployed.api_id)
    assert {sync.integration_id_of(r) for r in routes} == set(integrations)


def test_push_writes_the_rows_values_and_deploys_when_routes_changed(aws: Any, deployed: ApiGateway) -> None:
    assert sync.push_gateway(deployed) == []  # already in line
    ApiGateway.objects.filter(pk=deployed.pk).update(
        api_description="New", target_base_endpoint="http://127.0.0.1:9/v2/"
    )
    deployed.refresh_from_db()
    changes = sync.push_gateway(deployed, fields={"api_description", "target_base_endpoint"})
    assert changes[0] == "Updated the API Description"
    assert "Pointed the $connect route at http://127.0.0.1:9/v2/connect" in changes
    assert changes[-1] == "Deployed the stage"
    assert aws.get_api(ApiId=deployed.api_id)["Description"] == "New"
    assert sync.push_gateway(deployed, fields={"default_channel_name"}) == []  # nothing AWS holds


def test_pull_reads_aws_into_the_row(aws: Any, deployed: ApiGateway) -> None:
    aws.update_api(ApiId=deployed.api_id, Description="edited in the console")
    assert sync.pull_gateway(deployed) == ["Updated api_description"]
    deployed.refresh_from_db()
    assert deployed.api_description == "edited in the console"
    assert sync.pull_gateway(deployed) == []


def test_a_busy_gateway_is_a_sync_error(aws: Any, deployed: ApiGateway) -> None:
    ApiGateway.objects.filter(pk=deployed.pk).update(
        provisioning_lock="someone", provisioning_locked_at=timezone.now()
    )
    with pytest.raises(ApiGatewaySyncError, match="locked by run someone"):
        sync.pull_gateway(deployed)


def test_a_stand_in_client_from_unittest_mock_is_accepted(clean_redis: Any, settings: Any) -> None:
    """Code written for the reference passes ``unittest.mock`` clients, whose methods have no
    ``__name__``: every page is still read, and a deployment still counts as a deployment."""
    from unittest.mock import MagicMock

    from wsgateway.provisioning import quotas

    settings.AWS_GATEWAY_REGION_NAME = "eu-west-1"
    client = MagicMock()
    client.get_routes.side_effect = [
        {"Items": [{"RouteKey": "$connect"}], "NextToken": "page2"},
        {"Items": [{"RouteKey": "chat"}]},
    ]
    assert [r["RouteKey"] for r in sync.list_routes(client, "api1")] == ["$connect", "chat"]
    assert client.get_routes.call_args_list[1].kwargs == {"ApiId": "api1", "NextToken": "page2"}
    from wsgateway.provisioning.calls import operation_name

    assert operation_name(client.create_deployment) == "create_deployment"
    assert quotas.kind_of(operation_name(client.create_deployment)) == quotas.kind_of("create_deployment")
