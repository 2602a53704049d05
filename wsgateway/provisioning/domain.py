"""The custom domain: domain name (REGIONAL, TLS 1.2), API mapping, Route 53 alias (docs/architecture.md §4).

The alias record's ``AliasTarget`` is the domain's ``ApiGatewayDomainName`` and API Gateway's own
hosted zone (``DomainNameConfigurations[0].HostedZoneId``), never the user's zone; the record
itself goes into the user's zone (``hosted_zone_id``). UPSERT makes the DNS step idempotent.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING, Any, Literal

from wsgateway.aws import aws_call
from wsgateway.exceptions import ConflictError, ProvisioningError
from wsgateway.payloads import StepResult
from wsgateway.provisioning.calls import call, get_or_none, items
from wsgateway.provisioning.checkpoints import checkpoint
from wsgateway.provisioning.context import CREATED, DELETED, REUSED, SKIPPED, UPDATED, StepContext

if TYPE_CHECKING:
    from wsgateway.aws.types import ApiMapping, ChangeTypeDef, DomainNameConfigurationTypeDef


def _domain_config(ctx: StepContext) -> DomainNameConfigurationTypeDef:
    return {
        "CertificateArn": ctx.gateway.certificate_arn,
        "EndpointType": "REGIONAL",
        "SecurityPolicy": "TLS_1_2",
    }


def _require_domain(ctx: StepContext) -> None:
    gateway = ctx.gateway
    if not gateway.domain_name or not gateway.certificate_arn:
        raise ProvisioningError(
            f"Gateway {gateway.pk} needs domain_name and certificate_arn for a custom domain."
        )
    if not gateway.api_id or not gateway.stage_created:
        raise ProvisioningError(f"Gateway {gateway.pk} has no deployed API yet: run 'Provision' first.")


def step_domain_name(ctx: StepContext, arg: str = "") -> StepResult:
    """The domain name, found by its name (its natural key) or created."""
    _require_domain(ctx)
    gateway, client = ctx.gateway, ctx.client
    actual = get_or_none(client.get_domain_name, DomainName=gateway.domain_name)
    result = REUSED
    if actual is None:
        try:
            actual = call(
                client.create_domain_name,
                DomainName=gateway.domain_name,
                DomainNameConfigurations=[_domain_config(ctx)],
            )
            result = CREATED
            checkpoint("domain_name:created")
        except ConflictError:
            actual = get_or_none(client.get_domain_name, DomainName=gateway.domain_name)
            if actual is None:
                raise
    config = (actual.get("DomainNameConfigurations") or [{}])[0]
    if result == REUSED and (
        config.get("CertificateArn") != gateway.certificate_arn or config.get("SecurityPolicy") != "TLS_1_2"
    ):
        actual = call(
            client.update_domain_name,
            DomainName=gateway.domain_name,
            DomainNameConfigurations=[_domain_config(ctx)],
        )
        config = (actual.get("DomainNameConfigurations") or [{}])[0]
        result = UPDATED
    target, zone = config.get("ApiGatewayDomainName", ""), config.get("HostedZoneId", "")
    if (gateway.api_gateway_domain_name, gateway.api_gateway_hosted_zone_id) != (target, zone):
        ctx.record(api_gateway_domain_name=target, api_gateway_hosted_zone_id=zone)
        checkpoint("domain_name:recorded")
    return {"result": result, "api_gateway_domain_name": target}


def step_api_mapping(ctx: StepContext, arg: str = "") -> StepResult:
    """The mapping of ``api_mapping_key`` on the domain to this API's stage."""
    _require_domain(ctx)
    gateway, client = ctx.gateway, ctx.client
    key = gateway.api_mapping_key
    actual: ApiMapping | None = None
    if gateway.api_mapping_id:
        actual = get_or_none(
            client.get_api_mapping, DomainName=gateway.domain_name, ApiMappingId=gateway.api_mapping_id
        )
    if actual is None:
        for candidate in items(client.get_api_mappings, DomainName=gateway.domain_name):
            if (candidate.get("ApiMappingKey") or "") == key:
                if candidate.get("ApiId") != gateway.api_id:
                    other = candidate.get("ApiId")
                    raise ProvisioningError(
                        f"Mapping key {key!r} of {gateway.domain_name} already maps API {other}; "
                        "choose another api_mapping_key or remove that mapping."
                    )
                actual = candidate
                break
    if actual is None:
        params: dict[str, Any] = {
            "DomainName": gateway.domain_name,
            "ApiId": gateway.api_id,
            "Stage": gateway.stage_name,
        }
        if key:
            params["ApiMappingKey"] = key
        created = call(client.create_api_mapping, **params)
        checkpoint("api_mapping:created")
        ctx.record(api_mapping_id=created["ApiMappingId"])
        checkpoint("api_mapping:recorded")
        return {"result": CREATED, "api_mapping_id": created["ApiMappingId"]}
    result = REUSED
    changes: dict[str, Any] = {}
    if actual.get("ApiId") != gateway.api_id:
        changes["ApiId"] = gateway.api_id
    if actual.get("Stage") != gateway.stage_name:
        changes["Stage"] = gateway.stage_name
    if (actual.get("ApiMappingKey") or "") != key:
        changes["ApiMappingKey"] = key
    if changes:
        call(
            client.update_api_mapping,
            DomainName=gateway.domain_name,
            ApiMappingId=actual["ApiMappingId"],
            ApiId=changes.pop("ApiId", gateway.api_id),
            **changes,
        )
        result = UPDATED
    if gateway.api_mapping_id != actual["ApiMappingId"]:
        ctx.record(api_mapping_id=actual["ApiMappingId"])
        checkpoint("api_mapping:recorded")
    return {"result": result, "api_mapping_id": actual["ApiMappingId"]}


def _alias_change(ctx: StepContext, action: Literal["CREATE", "DELETE", "UPSERT"]) -> ChangeTypeDef:
    gateway = ctx.gateway
    return {
        "Action": action,
        "ResourceRecordSet": {
            "Name": gateway.domain_name,
            "Type": "A",
            "AliasTarget": {
                "HostedZoneId": gateway.api_gateway_hosted_zone_id,
                "DNSName": gateway.api_gateway_domain_name,
                "EvaluateTargetHealth": False,
            },
        },
    }


def step_dns_alias(ctx: StepContext, arg: str = "") -> StepResult:
    """UPSERT the A alias record in the user's hosted zone (skipped without ``hosted_zone_id``)."""
    gateway = ctx.gateway
    if not gateway.hosted_zone_id:
        return {"result": SKIPPED, "reason": "no hosted_zone_id"}
    if not gateway.api_gateway_domain_name or not gateway.api_gateway_hosted_zone_id:
        raise ProvisioningError(
            f"Gateway {gateway.pk} has no API Gateway domain target yet: run the domain step."
        )
    with aws_call("ChangeResourceRecordSets"):
        answer = ctx.route53.change_resource_record_sets(
            HostedZoneId=gateway.hosted_zone_id,
            ChangeBatch={
                "Comment": f"wsgateway gateway {gateway.pk}",
                "Changes": [_alias_change(ctx, "UPSERT")],
            },
        )
    checkpoint("dns_alias:created")
    change_id = answer["ChangeInfo"]["Id"]
    ctx.record(dns_change_id=change_id)
    checkpoint("dns_alias:recorded")
    return {"result": UPDATED if gateway.dns_change_id else CREATED, "dns_change_id": change_id}


def delete_dns_alias(ctx: StepContext) -> str:
    """Delete our alias record if it is still there (looked up first: DELETE needs exact values)."""
    gateway = ctx.gateway
    if not gateway.hosted_zone_id or not gateway.dns_change_id:
        return SKIPPED
    name = gateway.domain_name.rstrip(".") + "."
    with aws_call("ListResourceRecordSets"):
        page = ctx.route53.list_resource_record_sets(
            HostedZoneId=gateway.hosted_zone_id, StartRecordName=name, StartRecordType="A", MaxItems="1"
        )
    for record in page.get("ResourceRecordSets", []):
        alias: Mapping[str, object] = record.get("AliasTarget") or {}
        if (
            record.get("Name") == name
            and record.get("Type") == "A"
            and str(alias.get("DNSName", "")).rstrip(".") == (gateway.api_gateway_domain_name.rstrip("."))
        ):
            with aws_call("ChangeResourceRecordSets"):
                ctx.route53.change_resource_record_sets(
                    HostedZoneId=gateway.hosted_zone_id,
                    ChangeBatch={"Changes": [{"Action": "DELETE", "ResourceRecordSet": record}]},
                )
            return DELETED
    return SKIPPED


def delete_domain(ctx: StepContext) -> dict[str, str]:
    """Delete the alias, the mapping and the domain name we recorded (missing ones are fine)."""
    gateway, client = ctx.gateway, ctx.client
    results = {"dns_alias": delete_dns_alias(ctx), "api_mapping": SKIPPED, "domain_name": SKIPPED}
    mapping = {"DomainName": gateway.domain_name, "ApiMappingId": gateway.api_mapping_id}
    if (
        gateway.api_mapping_id
        and gateway.domain_name
        and get_or_none(client.get_api_mapping, **mapping) is not None
    ):
        call(
            client.delete_api_mapping,
            **mapping,
        )
        results["api_mapping"] = DELETED
    named = {"DomainName": gateway.domain_name}
    if (
        gateway.api_gateway_domain_name
        and gateway.domain_name
        and get_or_none(client.get_domain_name, **named) is not None
    ):
        call(client.delete_domain_name, **named)
        results["domain_name"] = DELETED
    ctx.record(
        api_mapping_id="",
        api_gateway_domain_name="",
        api_gateway_hosted_zone_id="",
        dns_change_id="",
        custom_domain_created=False,
    )
    return results
