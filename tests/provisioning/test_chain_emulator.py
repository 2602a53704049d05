"""The provisioning chain against the emulator's control plane, in-process (run_inline)."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest
from django.utils import timezone

from wsgateway.emulator.testing import boto3_client
from wsgateway.models import ApiGateway, ApiGatewayAdditionalRoute
from wsgateway.provisioning import run_inline
from wsgateway.provisioning.checkpoints import fault_hook
from wsgateway.retry import RetryPolicy

from .conftest import count_resources

pytestmark = pytest.mark.django_db


def test_create_gateway_builds_a_websocket_api(aws: Any, gateway: ApiGateway) -> None:
    results = run_inline("create_gateway", gateway.pk)
    assert results[0]["step"] == "lock:create_gateway"
    gateway.refresh_from_db()
    assert gateway.provisioning_status == "deployed"
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


class InjectedFailure(Exception):
    """A failure a test raises at a checkpoint."""


ROUTE_LABELS = {
    f"{kind}:{key}:{phase}"
    for kind in ("integration", "route")
    for key in ("$connect", "$disconnect", "$default")
    for phase in ("created", "recorded")
}
EXPECTED_LABELS = ROUTE_LABELS | {
    "create_api:created",
    "create_api:recorded",
    "additional:chat:integration:created",
    "additional:chat:integration:recorded",
    "additional:chat:route:created",
    "additional:chat:route:recorded",
    "stage:created",
    "stage:recorded",
    "deployment:created",
    "deployment:recorded",
}


def test_a_failure_at_every_step_then_reruns_leave_exactly_one_of_each(aws: Any, gateway: ApiGateway) -> None:
    ApiGatewayAdditionalRoute.objects.create(
        api_gateway=gateway, name="Chat", route_key="chat", integration_url="http://127.0.0.1:9/ws/chat"
    )
    failed_at: list[str] = []

    def fail_once_per_checkpoint(label: str) -> None:
        if label not in failed_at:
            failed_at.append(label)
            raise InjectedFailure(label)

    with fault_hook(fail_once_per_checkpoint):
        for _ in range(len(EXPECTED_LABELS) + 2):
            try:
                run_inline("create_gateway", gateway.pk)
                break
            except InjectedFailure as err:
                gateway.refresh_from_db()
                assert gateway.provisioning_status == "failed"
                assert str(err) in gateway.last_error
                assert gateway.provisioning_lock == ""  # a failed run releases the row
    assert set(failed_at) == EXPECTED_LABELS
    gateway.refresh_from_db()
    assert gateway.provisioning_status == "deployed" and gateway.last_error == ""
    assert count_resources(aws, gateway.api_id) == {
        "apis": 1,
        "integrations": 4,
        "routes": 4,
        "stages": 1,
        "deployments": 1,
    }
    route = ApiGatewayAdditionalRoute.objects.get()
    assert route.deployed and route.provisioning_status == "deployed"
    assert aws.get_route(ApiId=gateway.api_id, RouteId=route.route_id)["Target"] == (
        f"integrations/{route.integration_id}"
    )


def test_crash_between_create_and_record_is_found_by_natural_key(aws: Any, gateway: ApiGateway) -> None:
    """Each create happens, its id is lost; the next run adopts the resource instead of duplicating."""
    keys = ("$connect", "$disconnect", "$default")
    in_chain_order = [
        "create_api:created",
        *(f"integration:{key}:created" for key in keys),
        *(f"route:{key}:created" for key in keys),
        "stage:created",
        "deployment:created",
    ]
    for label in in_chain_order:

        def crash(seen: str, label: str = label) -> None:
            if seen == label:
                raise InjectedFailure(label)

        with fault_hook(crash), pytest.raises(InjectedFailure):
            run_inline("create_gateway", gateway.pk)
    run_inline("create_gateway", gateway.pk)
    gateway.refresh_from_db()
    assert count_resources(aws, gateway.api_id) == {
        "apis": 1,
        "integrations": 3,
        "routes": 3,
        "stages": 1,
        "deployments": 1,
    }


def test_throttled_control_plane_is_retried_with_backoff(
    aws: Any, emulator: Any, gateway: ApiGateway
) -> None:
    """429 TooManyRequests answers (botocore's own retries off) are retried by the runner."""
    no_retries = boto3_client("apigatewayv2", emulator.url, max_attempts=1)
    emulator.configure(control_plane_fail=0.1, seed=11)
    throttled: list[int] = []

    class FastPolicy(RetryPolicy):  # short waits, same policy shape
        def delay(self, attempt: int) -> float:
            throttled.append(attempt)
            return super().delay(attempt)

    try:
        run_inline(
            "create_gateway",
            gateway.pk,
            client=no_retries,
            policy=FastPolicy(max_retries=20, base=0.01, cap=0.05),
        )
    finally:
        emulator.configure(control_plane_fail=0.0)
    gateway.refresh_from_db()
    assert gateway.provisioning_status == "deployed"
    assert throttled, "the seed must make at least one call fail"
    assert count_resources(aws, gateway.api_id) == {
        "apis": 1,
        "integrations": 3,
        "routes": 3,
        "stages": 1,
        "deployments": 1,
    }


def test_recorded_resources_deleted_in_aws_are_recreated(aws: Any, gateway: ApiGateway) -> None:
    run_inline("create_gateway", gateway.pk)
    gateway.refresh_from_db()
    aws.delete_route(ApiId=gateway.api_id, RouteId=gateway.default_route_id)
    old_route = gateway.default_route_id
    run_inline("sync_to_aws", gateway.pk)
    gateway.refresh_from_db()
    assert gateway.default_route_id != old_route
    assert count_resources(aws, gateway.api_id)["routes"] == 3
    # Same route key, same integration: the deployed snapshot still serves it, no redeploy.
    assert count_resources(aws, gateway.api_id)["deployments"] == 1
    ApiGateway.objects.filter(pk=gateway.pk).update(target_base_endpoint="http://127.0.0.1:8/ws/")
    run_inline("sync_to_aws", gateway.pk)
    uri = aws.get_integration(ApiId=gateway.api_id, IntegrationId=gateway.connect_integration_id)[
        "IntegrationUri"
    ]
    assert uri == "http://127.0.0.1:8/ws/connect"
    assert count_resources(aws, gateway.api_id)["deployments"] == 2  # the config changed: redeployed
    old_api = gateway.api_id
    aws.delete_api(ApiId=old_api)
    run_inline("create_gateway", gateway.pk)
    gateway.refresh_from_db()
    assert gateway.api_id != old_api
    assert count_resources(aws, gateway.api_id) == {
        "apis": 1,
        "integrations": 3,
        "routes": 3,
        "stages": 1,
        "deployments": 1,
    }


def test_a_busy_lock_ends_the_run_without_aws_calls(aws: Any, emulator: Any, gateway: ApiGateway) -> None:
    ApiGateway.objects.filter(pk=gateway.pk).update(
        provisioning_lock="other-run", provisioning_locked_at=timezone.now()
    )
    results = run_inline("create_gateway", gateway.pk)
    assert len(results) == 1
    assert results[0]["result"] == "locked" and results[0]["message"] == "locked by run other-run"
    assert aws.get_apis()["Items"] == []
    # An abandoned lock (older than PROVISIONING_LOCK_SECONDS) is taken over.
    ApiGateway.objects.filter(pk=gateway.pk).update(
        provisioning_locked_at=timezone.now() - timedelta(hours=1)
    )
    run_inline("create_gateway", gateway.pk)
    gateway.refresh_from_db()
    assert gateway.provisioning_status == "deployed" and gateway.provisioning_lock == ""
