"""Custom domain (+ Route 53 on moto), sync to/from AWS, secret rotation, delete — in-process runs."""

from __future__ import annotations

import html
from typing import Any

import pytest
from django.contrib.auth import get_user_model
from django.test import Client
from django.urls import reverse

from wsgateway.hashing import secret_fingerprint
from wsgateway.models import ApiGateway, ApiGatewayAdditionalRoute
from wsgateway.provisioning import run_inline
from wsgateway.provisioning.checkpoints import fault_hook

from .conftest import CERT_ARN, add_chat_route, count_resources, wsgateway_overrides

pytestmark = pytest.mark.django_db


def alias_records(route53: Any, zone_id: str) -> list[dict[str, Any]]:
    records = route53.list_resource_record_sets(HostedZoneId=zone_id)["ResourceRecordSets"]
    return [r for r in records if r["Type"] == "A"]


def test_custom_domain_with_alias_record_failing_at_every_step(
    aws: Any, gateway: ApiGateway, hosted_zone: tuple[Any, str]
) -> None:
    route53, zone_id = hosted_zone
    ApiGateway.objects.filter(pk=gateway.pk).update(
        domain_name="ws.example.com", certificate_arn=CERT_ARN, hosted_zone_id=zone_id, api_mapping_key="v1"
    )
    run_inline("create_gateway", gateway.pk)
    failed_at: list[str] = []

    def fail_once(label: str) -> None:
        if label not in failed_at:
            failed_at.append(label)
            raise RuntimeError(label)

    with fault_hook(fail_once):
        for _ in range(10):
            try:
                run_inline("create_custom_domain", gateway.pk)
                break
            except RuntimeError:
                pass
    assert set(failed_at) == {
        f"{what}:{phase}"
        for what in ("domain_name", "api_mapping", "dns_alias")
        for phase in ("created", "recorded")
    }
    gateway.refresh_from_db()
    assert gateway.custom_domain_created and gateway.provisioning_status == "mapped"
    assert gateway.websocket_url == "wss://ws.example.com/v1"
    assert len(aws.get_domain_names()["Items"]) == 1
    domain = aws.get_domain_name(DomainName="ws.example.com")
    config = domain["DomainNameConfigurations"][0]
    assert config["EndpointType"] == "REGIONAL" and config["SecurityPolicy"] == "TLS_1_2"
    mappings = aws.get_api_mappings(DomainName="ws.example.com")["Items"]
    assert [(m["ApiId"], m["Stage"], m["ApiMappingKey"]) for m in mappings] == [
        (gateway.api_id, "production", "v1")
    ]
    records = alias_records(route53, zone_id)
    assert len(records) == 1
    assert records[0]["Name"] == "ws.example.com."
    assert records[0]["AliasTarget"]["DNSName"].rstrip(".") == config["ApiGatewayDomainName"]
    assert records[0]["AliasTarget"]["HostedZoneId"] == config["HostedZoneId"] != zone_id
    assert gateway.dns_change_id

    # Delete from AWS removes the alias, the mapping, the domain and the API; the row stays.
    run_inline("delete_from_aws", gateway.pk)
    gateway.refresh_from_db()
    assert (
        gateway.provisioning_status == "deleted"
        and gateway.api_id == ""
        and not gateway.custom_domain_created
    )
    assert aws.get_apis()["Items"] == [] and aws.get_domain_names()["Items"] == []
    assert alias_records(route53, zone_id) == []


def test_custom_domain_needs_a_provisioned_api(aws: Any, gateway: ApiGateway) -> None:
    ApiGateway.objects.filter(pk=gateway.pk).update(domain_name="ws.example.com", certificate_arn=CERT_ARN)
    with pytest.raises(Exception, match="run 'Provision' first"):
        run_inline("create_custom_domain", gateway.pk)
    gateway.refresh_from_db()
    assert gateway.provisioning_status == "failed"
    assert gateway.last_error.startswith("step domain_name: ProvisioningError:")


def test_sync_from_aws_reports_and_pulls_differences(aws: Any, gateway: ApiGateway) -> None:
    run_inline("create_gateway", gateway.pk)
    gateway.refresh_from_db()
    aws.update_api(ApiId=gateway.api_id, Description="Changed in the console")
    ApiGateway.objects.filter(pk=gateway.pk).update(connect_route_id="")
    results = run_inline("sync_from_aws", gateway.pk)
    differences = {d["field"]: (d["row"], d["aws"]) for d in results[-1]["differences"]}
    assert differences["api_description"] == ("Chat", "Changed in the console")
    assert differences["connect_route_id"][0] == ""
    gateway.refresh_from_db()
    assert gateway.api_description == "Changed in the console" and gateway.connect_route_id
    assert run_inline("sync_from_aws", gateway.pk)[-1]["differences"] == []


def test_sync_from_aws_keeps_its_differences_on_the_row_and_the_admin_shows_them(
    aws: Any, gateway: ApiGateway
) -> None:
    run_inline("create_gateway", gateway.pk)
    gateway.refresh_from_db()
    aws.update_api(ApiId=gateway.api_id, Description="Edited at AWS")
    run_inline("sync_from_aws", gateway.pk)
    gateway.refresh_from_db()
    line = "api_description: row='Chat' aws='Edited at AWS'"
    assert line in gateway.last_sync_report.splitlines()
    assert gateway.last_sync_report.startswith("1 difference(s) at ")

    admin = Client()
    admin.force_login(get_user_model().objects.create_superuser("ops", "ops@example.com", "pw"))
    page = admin.get(reverse("admin:wsgateway_apigateway_change", args=[gateway.pk]))
    assert page.status_code == 200
    assert line in html.unescape(page.content.decode())
    assert "last_sync_report" not in page.context["adminform"].form.fields  # read-only

    run_inline("sync_from_aws", gateway.pk)
    gateway.refresh_from_db()
    assert gateway.last_sync_report.startswith("in sync at ")


def test_sync_to_aws_pushes_row_fields_and_prunes_routes(aws: Any, gateway: ApiGateway) -> None:
    run_inline("create_gateway", gateway.pk)
    gateway.refresh_from_db()
    stray = aws.create_integration(
        ApiId=gateway.api_id,
        IntegrationType="HTTP_PROXY",
        IntegrationMethod="POST",
        IntegrationUri="http://127.0.0.1:9/x",
    )
    aws.create_route(ApiId=gateway.api_id, RouteKey="stray", Target=f"integrations/{stray['IntegrationId']}")
    ApiGateway.objects.filter(pk=gateway.pk).update(
        api_description="New text", route_selection_expression="$request.body.type", stage_description="v2"
    )
    ApiGatewayAdditionalRoute.objects.bulk_create(  # bulk_create: no save(), no enqueue
        [
            ApiGatewayAdditionalRoute(
                api_gateway=gateway,
                name="Chat",
                route_key="chat",
                integration_url="http://127.0.0.1:9/ws/chat",
            )
        ]
    )
    run_inline("sync_to_aws", gateway.pk)
    api = aws.get_api(ApiId=gateway.api_id)
    assert (api["Description"], api["RouteSelectionExpression"]) == ("New text", "$request.body.type")
    assert aws.get_stage(ApiId=gateway.api_id, StageName="production")["Description"] == "v2"
    assert sorted(r["RouteKey"] for r in aws.get_routes(ApiId=gateway.api_id)["Items"]) == [
        "$connect",
        "$default",
        "$disconnect",
        "chat",
    ]
    assert count_resources(aws, gateway.api_id)["integrations"] == 4
    assert count_resources(aws, gateway.api_id)["deployments"] == 2


def test_rotating_the_secret_updates_every_integration_and_redeploys(
    aws: Any, gateway: ApiGateway, settings: Any
) -> None:
    add_chat_route(gateway)  # bulk_create: no save(), so nothing is enqueued
    run_inline("create_gateway", gateway.pk)
    endpoints = settings.WSGATEWAY["ENDPOINT_URLS"]
    settings.WSGATEWAY = wsgateway_overrides(
        ENDPOINT_URLS=endpoints, GATEWAY_SECRETS=["brand-new", "test-secret-current"]
    )
    run_inline("rotate_secret", gateway.pk)
    gateway.refresh_from_db()
    assert gateway.integration_secret_fingerprint == secret_fingerprint("brand-new")
    integrations = aws.get_integrations(ApiId=gateway.api_id)["Items"]
    assert len(integrations) == 4
    assert {
        i["RequestParameters"]["integration.request.header.X-Ws-Gateway-Secret"] for i in integrations
    } == {"'brand-new'"}
    assert count_resources(aws, gateway.api_id)["deployments"] == 2


def test_delete_gateway_deletes_the_api_and_then_the_row(aws: Any, gateway: ApiGateway) -> None:
    run_inline("create_gateway", gateway.pk)
    run_inline("delete_gateway", gateway.pk)
    assert not ApiGateway.objects.filter(pk=gateway.pk).exists()
    assert aws.get_apis()["Items"] == []


def test_a_missing_target_endpoint_fails_with_a_readable_error(aws: Any, gateway: ApiGateway) -> None:
    ApiGateway.objects.filter(pk=gateway.pk).update(target_base_endpoint=None)
    with pytest.raises(Exception, match="target_base_endpoint"):
        run_inline("create_gateway", gateway.pk)
    gateway.refresh_from_db()
    assert gateway.provisioning_status == "failed" and "step integrations" in gateway.last_error
    assert gateway.provisioning_step == "create_api"


def test_reference_methods_deploy_api_and_create_route_run_with_a_client(
    aws: Any, gateway: ApiGateway
) -> None:
    run_inline("create_gateway", gateway.pk)
    gateway.refresh_from_db()
    add_chat_route(gateway)  # bulk_create: no save(), so nothing is enqueued
    route = ApiGatewayAdditionalRoute.objects.get()
    result = route.create_route(aws, deploy=True)
    assert result["result"] == "created" and result["deployment"]["result"] == "created"
    route.refresh_from_db()
    assert route.deployed and route.route_id
    assert gateway.deploy_api(aws)["result"] == "reused"  # nothing changed since
    gateway.refresh_from_db()
    assert gateway.deployment_id == result["deployment"]["deployment_id"]
    assert count_resources(aws, gateway.api_id)["deployments"] == 2


def test_create_route_with_a_client_refreshes_updated_on_and_records_only_string_ids(
    aws: Any, gateway: ApiGateway
) -> None:
    from datetime import timedelta

    from django.utils import timezone

    run_inline("create_gateway", gateway.pk)
    gateway.refresh_from_db()
    add_chat_route(gateway)
    long_ago = timezone.now() - timedelta(days=1)
    ApiGatewayAdditionalRoute.objects.update(updated_on=long_ago)
    route = ApiGatewayAdditionalRoute.objects.get()
    route.create_route(aws, deploy=False)
    route.refresh_from_db()
    assert route.route_id and route.integration_id and route.updated_on > long_ago

    class OddIds:
        """The caller's client, answering create_route with a route id that is not a string."""

        def __init__(self, real: Any) -> None:
            self.real, self.meta = real, real.meta

        def __getattr__(self, name: str) -> Any:
            call = getattr(self.real, name)
            if name != "create_route":
                return call
            return lambda **params: {**call(**params), "RouteId": 7}

    ApiGatewayAdditionalRoute.objects.create(
        api_gateway=gateway, name="Other", route_key="other", integration_url="http://127.0.0.1:9/ws/other"
    )
    other = ApiGatewayAdditionalRoute.objects.get(route_key="other")
    other.create_route(OddIds(aws), deploy=False)
    other.refresh_from_db()
    assert other.route_id == "" and other.integration_id  # the string id is kept, the other is not
