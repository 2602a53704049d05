"""``checkApiGateway``: a provisioned gateway matches; each difference induced at the emulator is
reported on its own line and makes the command fail; nothing is written to the row or to AWS."""

from __future__ import annotations

from typing import Any

import pytest
from django.forms.models import model_to_dict

from tests.ingestion.conftest import PREVIOUS_SECRET, SECRET
from wsgateway.models import ApiGateway, ApiGatewayAdditionalRoute
from wsgateway.provisioning import run_inline

from .conftest import CERT_ARN, add_chat_route, run, run_failing, wsgateway_overrides

pytestmark = pytest.mark.django_db


@pytest.fixture
def provisioned(aws: Any, gateway: ApiGateway) -> ApiGateway:
    """The gateway with an additional route, provisioned on the emulator."""
    add_chat_route(gateway)
    run_inline("create_gateway", gateway.pk)
    gateway.refresh_from_db()
    return gateway


def check(gateway: ApiGateway) -> str:
    return run("checkApiGateway", "--pk", str(gateway.pk))


def differing(gateway: ApiGateway) -> list[str]:
    """The difference lines of a failing check (the command must fail)."""
    output, error = run_failing("checkApiGateway", "--pk", str(gateway.pk))
    lines = [line.strip().removeprefix("differs: ") for line in output.splitlines() if "differs:" in line]
    assert f"{len(lines)} problem(s)" in str(error)
    return lines


def snapshot(aws: Any, gateway: ApiGateway) -> tuple[Any, ...]:
    api_id = gateway.api_id
    api = {k: v for k, v in aws.get_api(ApiId=api_id).items() if k != "ResponseMetadata"}
    return (
        model_to_dict(ApiGateway.objects.get(pk=gateway.pk)),
        list(ApiGatewayAdditionalRoute.objects.values()),
        api,
        aws.get_routes(ApiId=api_id)["Items"],
        aws.get_integrations(ApiId=api_id)["Items"],
        aws.get_deployments(ApiId=api_id)["Items"],
    )


def integration_of(aws: Any, gateway: ApiGateway, route_key: str) -> dict[str, Any]:
    route = next(r for r in aws.get_routes(ApiId=gateway.api_id)["Items"] if r["RouteKey"] == route_key)
    integration: dict[str, Any] = aws.get_integration(
        ApiId=gateway.api_id, IntegrationId=route["Target"].removeprefix("integrations/")
    )
    return integration


def test_a_provisioned_gateway_matches_and_the_check_writes_nothing(
    aws: Any, provisioned: ApiGateway
) -> None:
    before = snapshot(aws, provisioned)
    output = check(provisioned)
    assert "differs" not in output and f"Gateway {provisioned.pk} matches AWS." in output
    assert snapshot(aws, provisioned) == before


def test_a_deleted_route_a_changed_uri_and_a_removed_secret_are_each_reported(
    aws: Any, provisioned: ApiGateway
) -> None:
    api_id = provisioned.api_id
    chat = ApiGatewayAdditionalRoute.objects.get(api_gateway=provisioned)
    aws.delete_route(ApiId=api_id, RouteId=chat.route_id)
    aws.update_integration(
        ApiId=api_id,
        IntegrationId=provisioned.connect_integration_id,
        IntegrationUri="http://127.0.0.1:9/elsewhere",
    )
    aws.update_integration(
        ApiId=api_id,
        IntegrationId=provisioned.default_integration_id,
        RequestParameters={"integration.request.header.connectionId": "context.connectionId"},
    )
    before = snapshot(aws, provisioned)
    lines = differing(provisioned)
    assert snapshot(aws, provisioned) == before  # read only, even with differences
    assert lines[0] == f"route[chat].route_id: row={chat.route_id!r} aws='' (the route is missing at AWS)"
    assert (
        "route[$connect].IntegrationUri: row='http://127.0.0.1:9/ws/connect' aws='http://127.0.0.1:9/elsewhere'"
        in lines
    )
    secret_line = next(line for line in lines if line.startswith("route[$default].secret"))
    assert "aws=None (no secret mapped: Django refuses every event (403))" in secret_line
    # The deployment still serves the old routes: one more line, and nothing else.
    assert any(line.startswith("deployment:") and "redeployApiGateway" in line for line in lines)
    assert len(lines) == 4, lines
    assert not any(SECRET in line for line in lines)

    # Sync to AWS repairs everything the row describes: the check passes again.
    run_inline("sync_to_aws", provisioned.pk)
    provisioned.refresh_from_db()
    assert "matches AWS" in check(provisioned)


def test_secrets_are_compared_by_fingerprint_and_an_old_one_asks_for_a_rotation(
    aws: Any, provisioned: ApiGateway, settings: Any
) -> None:
    # Rotation begun: a new secret first, the one on the integrations second (still accepted).
    settings.WSGATEWAY = wsgateway_overrides(
        ENDPOINT_URLS=settings.WSGATEWAY["ENDPOINT_URLS"], GATEWAY_SECRETS=["brand-new-secret", SECRET]
    )
    lines = differing(provisioned)
    secret_lines = [line for line in lines if ".secret:" in line]
    assert len(secret_lines) == 4  # $connect, $disconnect, $default, chat
    assert all(
        "an older secret Django still accepts: run rotateGatewaySecret" in line for line in secret_lines
    )
    assert not any(SECRET in line or "brand-new-secret" in line for line in lines)
    # A secret Django no longer accepts: every event would be refused.
    settings.WSGATEWAY = wsgateway_overrides(
        ENDPOINT_URLS=settings.WSGATEWAY["ENDPOINT_URLS"], GATEWAY_SECRETS=[PREVIOUS_SECRET]
    )
    assert all(
        "a secret Django does not accept" in line for line in differing(provisioned) if ".secret:" in line
    )
    settings.WSGATEWAY = wsgateway_overrides(
        ENDPOINT_URLS=settings.WSGATEWAY["ENDPOINT_URLS"], GATEWAY_SECRETS=[]
    )
    _output, error = run_failing("checkApiGateway", "--pk", str(provisioned.pk))
    assert "GATEWAY_SECRETS" in str(error)


def test_an_api_deleted_at_aws_and_a_changed_selection_expression(aws: Any, provisioned: ApiGateway) -> None:
    aws.update_api(ApiId=provisioned.api_id, RouteSelectionExpression="$request.body.handler")
    lines = differing(provisioned)
    assert lines[0] == ("route_selection_expression: row='$request.body.action' aws='$request.body.handler'")
    aws.delete_stage(ApiId=provisioned.api_id, StageName="production")
    assert differing(provisioned)[1:] == [
        "stage_created: row=True aws=False (the stage is missing at AWS)",
        f"deployment_id: row={provisioned.deployment_id!r} aws='' "
        "(the stage serves another deployment than the row records)",
    ]
    aws.delete_api(ApiId=provisioned.api_id)
    assert differing(provisioned) == [
        f"api_id: row={provisioned.api_id!r} aws=None (no WEBSOCKET API with this id or name at AWS)"
    ]
    _output, error = run_failing("checkApiGateway", "--pk", "999999")
    assert "No ApiGateway" in str(error)


def test_a_row_never_provisioned_does_not_match(aws: Any, gateway: ApiGateway) -> None:
    assert differing(gateway) == ["api_id: row='' aws=None (no API yet: run createApiGateway)"]


def test_the_custom_domain_and_its_mapping_are_checked(aws: Any, provisioned: ApiGateway) -> None:
    ApiGateway.objects.filter(pk=provisioned.pk).update(
        domain_name="ws.example.com", certificate_arn=CERT_ARN, api_mapping_key="v1"
    )
    missing = "the custom domain is missing at AWS: run createCustomDomain"
    assert differing(provisioned) == [f"domain_name: row='ws.example.com' aws=None ({missing})"]
    run_inline("create_custom_domain", provisioned.pk)
    provisioned.refresh_from_db()
    assert "matches AWS" in check(provisioned)
    aws.delete_api_mapping(DomainName="ws.example.com", ApiMappingId=provisioned.api_mapping_id)
    assert differing(provisioned) == [
        "api_mapping: row='ws.example.com/v1' aws=None (the API mapping is missing at AWS)"
    ]


def test_an_api_of_another_protocol_is_reported(aws: Any, provisioned: ApiGateway) -> None:
    http_api = aws.create_api(Name="not-a-socket", ProtocolType="HTTP")["ApiId"]
    ApiGateway.objects.filter(pk=provisioned.pk).update(api_id=http_api)
    provisioned.refresh_from_db()
    assert "protocol: row='WEBSOCKET' aws='HTTP'" in differing(provisioned)


def test_the_route53_alias_is_checked(
    aws: Any, provisioned: ApiGateway, hosted_zone: tuple[Any, str]
) -> None:
    route53, zone_id = hosted_zone
    ApiGateway.objects.filter(pk=provisioned.pk).update(
        domain_name="ws.example.com", certificate_arn=CERT_ARN, hosted_zone_id=zone_id
    )
    run_inline("create_custom_domain", provisioned.pk)
    provisioned.refresh_from_db()
    assert "matches AWS" in check(provisioned)
    record = next(
        r
        for r in route53.list_resource_record_sets(HostedZoneId=zone_id)["ResourceRecordSets"]
        if r["Type"] == "A"
    )
    route53.change_resource_record_sets(
        HostedZoneId=zone_id, ChangeBatch={"Changes": [{"Action": "DELETE", "ResourceRecordSet": record}]}
    )
    target = provisioned.api_gateway_domain_name
    assert differing(provisioned) == [
        f"dns_alias: row={target!r} aws=None (the A alias of ws.example.com. in the hosted zone)"
    ]
