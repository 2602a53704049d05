"""``checkApiGateway``: every difference between a gateway row and what AWS serves, reading only.

Starts from Sync from AWS's comparison (:func:`wsgateway.provisioning.reconcile.compare_with_aws`:
API fields, route and integration ids, additional routes, stage) and adds what a deployment needs
to work but the row does not store: the protocol, each integration's type, URI, method, timeout
and request parameters (the connection id and the gateway secret, compared by fingerprint, never
printed), whether the stage's deployment serves the current routes, and the custom domain, its API
mapping and its Route 53 alias. Nothing is written, to the row or to AWS.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from wsgateway.aws import aws_call
from wsgateway.conf import wsgateway_settings
from wsgateway.exceptions import ProvisioningError
from wsgateway.hashing import secret_fingerprint
from wsgateway.models import ApiGateway, ApiGatewayAdditionalRoute
from wsgateway.provisioning import spec
from wsgateway.provisioning.calls import get_or_none, items
from wsgateway.provisioning.context import StepContext
from wsgateway.provisioning.reconcile import Comparison, compare_with_aws
from wsgateway.provisioning.steps import _DEPLOYMENT_PREFIX, _masked, config_fingerprint

if TYPE_CHECKING:
    from wsgateway.aws.types import ApiGatewayV2Client, Integration, Route53Client

CONNECTION_ID_PARAMETER = "integration.request.header.connectionId"


@dataclass(frozen=True)
class Difference:
    """One thing AWS serves differently from what the row says (``note``: what it means)."""

    field: str
    row: Any
    aws: Any
    note: str = ""

    def line(self) -> str:
        """One readable line: the field, both values and, when known, what it means."""
        text = f"{self.field}: row={self.row!r} aws={self.aws!r}"
        return f"{text} ({self.note})" if self.note else text


# --------------------------------------------------------------------------- the row's fields


def _note(field: str, row: Any, aws: Any) -> str:
    if field == "api_id" and aws is None:
        return "no WEBSOCKET API with this id or name at AWS"
    if field.endswith("route_id") and not aws:
        return "the route is missing at AWS"
    if field.startswith("route[") and row is None:
        return "a route no row describes; Sync to AWS deletes it"
    if field == "stage_created" and aws is False:
        return "the stage is missing at AWS"
    if field == "deployment_id":
        return "the stage serves another deployment than the row records"
    return ""


def _route_key_of(field: str) -> str | None:
    """The route a compared field is about (``connect_route_id`` → ``$connect``), if any."""
    for route in spec.BUILTIN_ROUTES:
        if field in (route.route_field, route.integration_field):
            return route.route_key
    if field.startswith("route["):
        return field[len("route[") :].split("]", 1)[0]
    return None


def _from_comparison(found: Comparison) -> list[Difference]:
    # A missing route is one difference: its empty integration id and URI follow from it.
    missing = {
        _route_key_of(d["field"])
        for d in found.differences
        if d["field"].endswith("route_id") and not d["aws"]
    }
    return [
        Difference(d["field"], d["row"], d["aws"], _note(d["field"], d["row"], d["aws"]))
        for d in found.differences
        if d["field"].endswith("route_id") or d["aws"] or _route_key_of(d["field"]) not in missing
    ]


# --------------------------------------------------------------------------- integrations


def _secret_difference(label: str, value: str | None) -> Difference | None:
    """The secret header compared by fingerprint (the secret itself never reaches the output)."""
    secrets = [str(s) for s in wsgateway_settings.gateway_secrets]
    wanted = f"secret {secret_fingerprint(secrets[0])}"
    if value is None:
        return Difference(
            f"{label}.secret", wanted, None, "no secret mapped: Django refuses every event (403)"
        )
    static = value[1:-1] if len(value) >= 2 and value[0] == value[-1] == "'" else None
    if static == secrets[0]:
        return None
    shown = f"secret {secret_fingerprint(static)}" if static is not None else _masked({"v": value})["v"]
    if static in secrets[1:]:
        return Difference(
            f"{label}.secret", wanted, shown, "an older secret Django still accepts: run rotateGatewaySecret"
        )
    return Difference(
        f"{label}.secret", wanted, shown, "a secret Django does not accept: every event is refused (403)"
    )


def _parameter_differences(label: str, actual: dict[str, str]) -> list[Difference]:
    desired = spec.request_parameters()
    secret_key = f"integration.request.header.{wsgateway_settings.SECRET_HEADER}"
    found: list[Difference] = []
    if actual.get(CONNECTION_ID_PARAMETER) != desired[CONNECTION_ID_PARAMETER]:
        found.append(
            Difference(
                f"{label}.connection_id_mapping",
                desired[CONNECTION_ID_PARAMETER],
                actual.get(CONNECTION_ID_PARAMETER),
                "Django refuses events without the connection id (400)",
            )
        )
    secret = _secret_difference(label, actual.get(secret_key))
    if secret is not None:
        found.append(secret)
    others_actual = _masked({k: v for k, v in actual.items() if k not in desired})
    if others_actual:
        found.append(
            Difference(f"{label}.request_parameters", None, others_actual, "mappings wsgateway does not set")
        )
    if not found:  # same meaning, different spelling (e.g. the header's case): still not what Sync writes
        found.append(Difference(f"{label}.request_parameters", _masked(desired), _masked(actual)))
    return found


def _integration_differences(label: str, integration: Integration | None, uri: str) -> list[Difference]:
    if integration is None:
        return [Difference(f"{label}.integration", uri, None, "the route targets no existing integration")]
    found: list[Difference] = []
    if integration.get("IntegrationType") != "HTTP_PROXY":
        found.append(
            Difference(f"{label}.integration_type", "HTTP_PROXY", integration.get("IntegrationType"))
        )
    desired = spec.integration_params(uri)
    for member in spec.integration_differences(integration, desired):
        if member == "RequestParameters":
            found += _parameter_differences(label, integration.get("RequestParameters") or {})
        else:
            found.append(Difference(f"{label}.{member}", desired[member], integration.get(member)))
    return found


def _expected_routes(gateway: ApiGateway) -> list[tuple[str, str]]:
    """``(route key, integration URI)`` of every route the row describes."""
    base = spec.base_endpoint(gateway)
    expected = [(r.route_key, base + r.suffix) for r in spec.BUILTIN_ROUTES]
    expected += list(
        ApiGatewayAdditionalRoute.objects.filter(api_gateway=gateway)
        .order_by("pk")
        .values_list("route_key", "integration_url")
    )
    return expected


def _route_differences(gateway: ApiGateway, found: Comparison, reported: set[str]) -> list[Difference]:
    differences: list[Difference] = []
    for route_key, uri in _expected_routes(gateway):
        label = f"route[{route_key}]"
        route = found.routes.get(route_key)
        if route is None:
            if not any(f.endswith("route_id") and _route_key_of(f) == route_key for f in reported):
                differences.append(Difference(label, uri, None, "the route is missing at AWS"))
            continue
        integration_id = str(route.get("Target", "")).removeprefix("integrations/")
        for difference in _integration_differences(label, found.integrations.get(integration_id), uri):
            if difference.field != f"{label}.IntegrationUri" or f"{label}.integration_url" not in reported:
                differences.append(difference)  # an additional route's URI is the comparison's already
    return differences


# --------------------------------------------------------------------------- stage and deployment


def _deployment_differences(gateway: ApiGateway, client: ApiGatewayV2Client) -> list[Difference]:
    stage = get_or_none(client.get_stage, ApiId=gateway.api_id, StageName=gateway.stage_name)
    if stage is None:
        return []  # reported by the comparison (stage_created)
    deployment_id = stage.get("DeploymentId")
    if not deployment_id:
        return [Difference("deployment", "the current routes", None, "the stage has no deployment: redeploy")]
    deployment = get_or_none(client.get_deployment, ApiId=gateway.api_id, DeploymentId=deployment_id)
    wanted = _DEPLOYMENT_PREFIX + config_fingerprint(StepContext(gateway=gateway, run_id="", client=client))
    served = deployment.get("Description") if deployment else None
    if served != wanted:
        note = "the stage does not serve the current routes and integrations: run redeployApiGateway"
        return [Difference("deployment", wanted, served, note)]
    return []


# --------------------------------------------------------------------------- custom domain


def _domain_differences(
    gateway: ApiGateway, client: ApiGatewayV2Client, route53: Route53Client | None
) -> list[Difference]:
    name = gateway.domain_name
    domain = get_or_none(client.get_domain_name, DomainName=name)
    if domain is None:
        return [
            Difference(
                "domain_name", name, None, "the custom domain is missing at AWS: run createCustomDomain"
            )
        ]
    config = (domain.get("DomainNameConfigurations") or [{}])[0]
    differences = [
        Difference(f"domain_name.{member}", wanted, config.get(member))
        for member, wanted in (
            ("CertificateArn", gateway.certificate_arn),
            ("EndpointType", "REGIONAL"),
            ("SecurityPolicy", "TLS_1_2"),
            ("ApiGatewayDomainName", gateway.api_gateway_domain_name),
        )
        if config.get(member) != wanted
    ]
    key = gateway.api_mapping_key
    mapping = next(
        (m for m in items(client.get_api_mappings, DomainName=name) if (m.get("ApiMappingKey") or "") == key),
        None,
    )
    if mapping is None:
        differences.append(
            Difference("api_mapping", f"{name}/{key}", None, "the API mapping is missing at AWS")
        )
    else:
        for attr, wanted, actual in (
            ("api_mapping_id", gateway.api_mapping_id, mapping.get("ApiMappingId")),
            ("api_mapping.api_id", gateway.api_id, mapping.get("ApiId")),
            ("api_mapping.stage", gateway.stage_name, mapping.get("Stage")),
        ):
            if wanted != actual:
                differences.append(Difference(attr, wanted, actual))
    if gateway.hosted_zone_id and route53 is not None:
        differences += _alias_differences(gateway, route53)
    return differences


def _alias_differences(gateway: ApiGateway, route53: Route53Client) -> list[Difference]:
    name = gateway.domain_name.rstrip(".") + "."
    with aws_call("ListResourceRecordSets"):
        page = route53.list_resource_record_sets(
            HostedZoneId=gateway.hosted_zone_id, StartRecordName=name, StartRecordType="A", MaxItems="1"
        )
    record = next(
        (r for r in page.get("ResourceRecordSets", []) if r.get("Name") == name and r.get("Type") == "A"),
        None,
    )
    alias = record.get("AliasTarget") if record else None
    target = (alias.get("DNSName", "") if alias else "").rstrip(".").lower()
    wanted = gateway.api_gateway_domain_name.rstrip(".").lower()
    if target != wanted:
        return [Difference("dns_alias", wanted, target or None, f"the A alias of {name} in the hosted zone")]
    return []


# --------------------------------------------------------------------------- entry point


def check_gateway(
    gateway: ApiGateway, client: ApiGatewayV2Client, route53: Route53Client | None = None
) -> list[Difference]:
    """Every difference between ``gateway`` and what the control plane serves (empty: all match).

    ``client`` is an ``apigatewayv2`` client, ``route53`` a Route 53 client (only consulted when
    the row names a hosted zone). Raises ``ImproperlyConfigured`` without ``GATEWAY_SECRETS``.
    """
    spec.current_secret()  # the integrations are compared with it: fail clearly before any call
    found = compare_with_aws(gateway, client)
    differences = _from_comparison(found)
    if found.api is None:
        # Sync from AWS has nothing to pull for a row that never had an API; a check must say so.
        return differences or [Difference("api_id", "", None, "no API yet: run createApiGateway")]
    if found.api.get("ProtocolType") != "WEBSOCKET":
        differences.append(Difference("protocol", "WEBSOCKET", found.api.get("ProtocolType")))
    try:
        differences += _route_differences(gateway, found, {d.field for d in differences})
    except ProvisioningError as err:  # no target_base_endpoint: nothing to compare the URIs with
        differences.append(Difference("target_base_endpoint", gateway.target_base_endpoint, None, str(err)))
    if gateway.api_id == found.api["ApiId"]:
        differences += _deployment_differences(gateway, client)
    if gateway.domain_name and gateway.certificate_arn:
        differences += _domain_differences(gateway, client, route53)
    return differences
