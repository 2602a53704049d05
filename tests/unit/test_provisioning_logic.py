"""Provisioning's pure step logic: chains, desired parameters, differences, error wording."""

from __future__ import annotations

import pytest
from django.core.exceptions import ImproperlyConfigured
from django.test import override_settings

from wsgateway.exceptions import ProvisioningError, ThrottledError
from wsgateway.hashing import secret_fingerprint
from wsgateway.models import ApiGateway
from wsgateway.provisioning import reconcile, spec, steps
from wsgateway.provisioning.context import CREATED, DELETED, REUSED, SKIPPED, UPDATED, merge
from wsgateway.provisioning.runner import OPERATIONS, STEPS, chain_steps, describe_error

pytestmark = pytest.mark.unit


def test_every_chain_is_locked_finished_and_made_of_known_steps() -> None:
    for operation in OPERATIONS:
        chain = chain_steps(operation)
        assert chain[0] == f"lock:{operation}"
        if operation == "delete_gateway":  # its last step removes the row: nothing to finish
            assert chain[-1] == "delete_row"
        else:
            assert chain[-1] == f"finish:{operation}"
        assert all(step.partition(":")[0] in STEPS for step in chain[1:-1])


def test_the_argument_goes_to_the_first_step() -> None:
    assert chain_steps("delete_route", "r-1") == [
        "lock:delete_route",
        "delete_route:r-1",
        "deploy",
        "finish:delete_route",
    ]
    assert chain_steps("redeploy") == ["lock:redeploy", "deploy:force", "finish:redeploy"]
    with pytest.raises(ValueError, match="Unknown provisioning operation 'nope'"):
        chain_steps("nope")


def test_sync_to_aws_prunes_before_the_stage_push_changes_never_prunes() -> None:
    sync = chain_steps("sync_to_aws")
    assert sync.index("additional_routes") < sync.index("prune_routes") < sync.index("stage")
    assert "prune_routes" not in chain_steps("push_changes")


def test_last_error_wording() -> None:
    throttled = ThrottledError("Rate exceeded", aws_code="TooManyRequestsException")
    assert describe_error("routes", throttled).startswith(
        "step routes: TooManyRequestsException: Rate exceeded"
    )
    assert describe_error("stage", KeyError("x")) == "step stage: KeyError: 'x'"
    assert describe_error("deploy", RuntimeError()) == "step deploy: RuntimeError: RuntimeError"


def test_merge_reports_the_strongest_result() -> None:
    assert merge([REUSED, CREATED, UPDATED]) == CREATED
    assert merge([REUSED, DELETED]) == DELETED
    assert merge([REUSED, UPDATED]) == UPDATED
    assert merge([SKIPPED, REUSED]) == REUSED
    assert merge([]) == SKIPPED


def gateway(**fields: object) -> ApiGateway:
    """An unsaved row: the pure helpers read its attributes only."""
    defaults: dict[str, object] = {"api_name": "chat", "stage_name": "prod", "api_description": "Chat"}
    return ApiGateway(**{**defaults, **fields})


def test_desired_api_is_a_websocket_api_with_the_rows_fields() -> None:
    params = spec.api_params(gateway(tags={"team": "web"}))
    assert params["ProtocolType"] == "WEBSOCKET" and params["Name"] == "chat"
    assert params["Tags"] == {"team": "web"}
    assert "RouteKey" not in params and "Target" not in params
    assert "Tags" not in spec.api_params(gateway())


def test_api_changes_name_only_the_fields_that_differ() -> None:
    row = gateway()
    actual = {member: getattr(row, attribute) for member, attribute in spec.API_FIELDS.items()}
    assert steps._api_changes(row, actual) == {}
    assert steps._api_changes(row, {**actual, "Description": None, "Name": "old"}) == {
        "Description": "Chat",
        "Name": "chat",
    }


def test_integrations_carry_the_current_secret_and_differences_are_per_member() -> None:
    with override_settings(WSGATEWAY={"GATEWAY_SECRETS": ["new", "old"]}):
        desired = spec.integration_params("https://app.example/ws/")
        assert desired["IntegrationType"] == "HTTP_PROXY" and desired["IntegrationMethod"] == "POST"
        header = [
            v
            for k, v in desired["RequestParameters"].items()
            if k != "integration.request.header.connectionId"
        ]
        assert header == ["'new'"]
        assert spec.integration_differences(desired, desired) == {}
        stale = {**desired, "TimeoutInMillis": 3000, "IntegrationUri": "https://old.example/ws/"}
        assert spec.integration_differences(stale, desired) == {
            "IntegrationUri": "https://app.example/ws/",
            "TimeoutInMillis": spec.INTEGRATION_TIMEOUT_MS,
        }
    with override_settings(WSGATEWAY={"GATEWAY_SECRETS": []}), pytest.raises(ImproperlyConfigured):
        spec.current_secret()


def test_deployment_fingerprints_never_see_a_secret_in_the_clear() -> None:
    masked = steps._masked({"a": "context.connectionId", "b": "'s3cret'"})
    assert masked == {"a": "context.connectionId", "b": "secret:" + secret_fingerprint("s3cret")}
    assert "s3cret" not in str(masked)


def test_base_endpoint_needs_a_target_and_ends_with_a_slash() -> None:
    assert (
        spec.base_endpoint(gateway(target_base_endpoint="https://app.example/ws"))
        == "https://app.example/ws/"
    )
    with pytest.raises(ProvisioningError, match="no target_base_endpoint"):
        spec.base_endpoint(gateway(target_base_endpoint=""))


def test_sync_report_lists_each_difference() -> None:
    differences: list[dict[str, object]] = []
    reconcile._difference(differences, "api_name", "chat", "chat")
    reconcile._difference(differences, "api_description", "", None)  # empty and missing agree
    reconcile._difference(differences, "stage_name", "prod", "dev")
    assert differences == [{"field": "stage_name", "row": "prod", "aws": "dev"}]
    report = reconcile.sync_report(differences)  # type: ignore[arg-type]
    assert report.startswith("1 difference(s) at ") and report.endswith("stage_name: row='prod' aws='dev'")
    assert reconcile.sync_report([]).startswith("in sync at ")
