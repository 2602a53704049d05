"""The gateway's steps: API, integrations, routes, additional routes, stage, deployment.

Each step is idempotent. When the row records an id, the resource is fetched and brought in line
(updated when fields differ, recreated when AWS says NotFound). When no id is recorded the
resource may still exist (the worker died after AWS created it, before the id was saved), so it
is looked up by its natural key first: the API by name, an integration by URI, a route by route
key, the stage by name, a deployment by the configuration fingerprint in its description.
A ConflictException on create is "already done" only after the existing resource is found and
checked (docs/architecture.md §5).
"""

from __future__ import annotations

import hashlib
import json
import logging
from typing import TYPE_CHECKING, Any

from django.utils import timezone

from wsgateway.exceptions import ConflictError, ProvisioningError
from wsgateway.hashing import secret_fingerprint
from wsgateway.models import ApiGateway, ApiGatewayAdditionalRoute, ProvisioningStatus
from wsgateway.payloads import RouteResult, StepResult
from wsgateway.provisioning import spec
from wsgateway.provisioning.calls import call, get_or_none, items
from wsgateway.provisioning.checkpoints import checkpoint
from wsgateway.provisioning.context import CREATED, REUSED, SKIPPED, UPDATED, StepContext, merge

if TYPE_CHECKING:
    from wsgateway.aws.types import Api, ApiGatewayV2Client, Integration, Route

logger = logging.getLogger("wsgateway.provisioning")

_DEPLOYMENT_PREFIX = "wsgateway config "


# --------------------------------------------------------------------------- API


def _require_api(ctx: StepContext) -> str:
    if not ctx.gateway.api_id:
        raise ProvisioningError(f"Gateway {ctx.gateway.pk} has no API yet: run 'Provision' first.")
    return ctx.gateway.api_id


def _api_changes(gateway: ApiGateway, actual: Api) -> dict[str, Any]:
    changes: dict[str, Any] = {}
    for member, attribute in spec.API_FIELDS.items():
        wanted = getattr(gateway, attribute)
        if (actual.get(member) or "") != (wanted or ""):
            changes[member] = wanted
    return changes


def _clear_api_children(ctx: StepContext) -> None:
    """The API is gone, so are its children: forget their ids before recreating."""
    fields: dict[str, Any] = {"stage_created": False, "deployment_id": "", "deployed_at": None}
    for route in spec.BUILTIN_ROUTES:
        fields[route.integration_field] = ""
        fields[route.route_field] = ""
    ctx.record(**fields)
    ApiGatewayAdditionalRoute.objects.filter(api_gateway=ctx.gateway).update(
        integration_id="", route_id="", deployed=False
    )


def step_create_api(ctx: StepContext, arg: str = "") -> StepResult:
    """The WEBSOCKET API: reuse the recorded one, adopt one of the same name, or create it."""
    gateway, client = ctx.gateway, ctx.client
    actual: Api | None = None
    if gateway.api_id:
        actual = get_or_none(client.get_api, ApiId=gateway.api_id)
        if actual is None:
            logger.warning(
                "wsgateway.provisioning api %s of gateway %s is gone; recreating", gateway.api_id, gateway.pk
            )
            ctx.record(api_id="", api_endpoint="")
            _clear_api_children(ctx)
    if actual is None:
        for candidate in items(client.get_apis):
            if candidate.get("Name") == gateway.api_name and candidate.get("ProtocolType") == "WEBSOCKET":
                actual = candidate
                break
        if actual is not None and actual["ApiId"] != gateway.api_id:
            _clear_api_children(ctx)
    if actual is None:
        created = call(client.create_api, **spec.api_params(gateway))
        checkpoint("create_api:created")
        ctx.record(api_id=created["ApiId"], api_endpoint=created.get("ApiEndpoint", ""))
        checkpoint("create_api:recorded")
        return {"result": CREATED, "api_id": created["ApiId"]}
    result = REUSED
    changes = _api_changes(gateway, actual)
    if changes:
        actual = call(client.update_api, ApiId=actual["ApiId"], **changes)
        result = UPDATED
    if gateway.api_id != actual["ApiId"] or gateway.api_endpoint != actual.get("ApiEndpoint", ""):
        ctx.record(api_id=actual["ApiId"], api_endpoint=actual.get("ApiEndpoint", ""))
        checkpoint("create_api:recorded")
    return {"result": result, "api_id": actual["ApiId"], "changed": sorted(changes)}


# --------------------------------------------------------------------------- integrations


def ensure_integration(
    ctx: StepContext, recorded_id: str, uri: str, label: str, exclude: set[str]
) -> tuple[str, str]:
    """Make sure an HTTP_PROXY integration to ``uri`` exists; return ``(id, result)``.

    ``exclude`` holds integration ids other rows own, so a URI shared by two routes never makes
    them share (and later delete) one integration.
    """
    client, api_id = ctx.client, _require_api(ctx)
    desired = spec.integration_params(uri)
    actual: Integration | None = None
    if recorded_id:
        actual = get_or_none(client.get_integration, ApiId=api_id, IntegrationId=recorded_id)
    if actual is None:
        for candidate in items(client.get_integrations, ApiId=api_id):
            if (
                candidate.get("IntegrationUri") == uri
                and candidate.get("IntegrationType") == "HTTP_PROXY"
                and candidate["IntegrationId"] not in exclude
            ):
                actual = candidate
                break
    if actual is None:
        created = call(client.create_integration, ApiId=api_id, **desired)
        checkpoint(f"{label}:created")
        return created["IntegrationId"], CREATED
    differences = spec.integration_differences(actual, desired)
    if differences:
        call(client.update_integration, ApiId=api_id, IntegrationId=actual["IntegrationId"], **differences)
        return actual["IntegrationId"], UPDATED
    return actual["IntegrationId"], REUSED


def _owned_integration_ids(gateway: ApiGateway) -> set[str]:
    ids = {getattr(gateway, r.integration_field) for r in spec.BUILTIN_ROUTES}
    ids.update(
        ApiGatewayAdditionalRoute.objects.filter(api_gateway=gateway).values_list("integration_id", flat=True)
    )
    ids.discard("")
    return ids


def step_integrations(ctx: StepContext, arg: str = "") -> StepResult:
    """One integration per built-in route: ``{target_base_endpoint}connect|disconnect|default``."""
    base = spec.base_endpoint(ctx.gateway)
    results: dict[str, str] = {}
    for route in spec.BUILTIN_ROUTES:
        recorded = getattr(ctx.gateway, route.integration_field)
        exclude = _owned_integration_ids(ctx.gateway) - {recorded}
        label = f"integration:{route.route_key}"
        integration_id, result = ensure_integration(ctx, recorded, base + route.suffix, label, exclude)
        if integration_id != recorded:
            ctx.record(**{route.integration_field: integration_id})
            checkpoint(f"{label}:recorded")
        results[route.route_key] = result
    ctx.record(integration_secret_fingerprint=spec.current_fingerprint())
    return {"result": merge(list(results.values())), "integrations": results}


# --------------------------------------------------------------------------- routes


def ensure_route(
    ctx: StepContext, recorded_id: str, route_key: str, integration_id: str, label: str
) -> tuple[str, str]:
    """Make sure route ``route_key`` targets ``integration_id``; return ``(route id, result)``."""
    client, api_id = ctx.client, _require_api(ctx)
    target = f"integrations/{integration_id}"
    actual: Route | None = None
    if recorded_id:
        actual = get_or_none(client.get_route, ApiId=api_id, RouteId=recorded_id)
    if actual is None:
        actual = _route_by_key(ctx, route_key)
    if actual is None:
        try:
            created = call(client.create_route, ApiId=api_id, RouteKey=route_key, Target=target)
        except ConflictError:
            # Someone created it between our lookup and our call: adopt it only once it is found.
            actual = _route_by_key(ctx, route_key)
            if actual is None:
                raise
        else:
            checkpoint(f"{label}:created")
            return created["RouteId"], CREATED
    changes: dict[str, Any] = {}
    if actual.get("RouteKey") != route_key:
        changes["RouteKey"] = route_key
    if actual.get("Target") != target:
        changes["Target"] = target
    if changes:
        call(client.update_route, ApiId=api_id, RouteId=actual["RouteId"], **changes)
        return actual["RouteId"], UPDATED
    return actual["RouteId"], REUSED


def _route_by_key(ctx: StepContext, route_key: str) -> Route | None:
    for candidate in items(ctx.client.get_routes, ApiId=ctx.gateway.api_id):
        if candidate.get("RouteKey") == route_key:
            return candidate
    return None


def step_routes(ctx: StepContext, arg: str = "") -> StepResult:
    """``$connect``, ``$disconnect``, ``$default``, each targeting its integration."""
    results: dict[str, str] = {}
    for route in spec.BUILTIN_ROUTES:
        integration_id = getattr(ctx.gateway, route.integration_field)
        if not integration_id:
            raise ProvisioningError(
                f"Route {route.route_key} has no integration yet: run the integrations step."
            )
        recorded = getattr(ctx.gateway, route.route_field)
        label = f"route:{route.route_key}"
        route_id, result = ensure_route(ctx, recorded, route.route_key, integration_id, label)
        if route_id != recorded:
            ctx.record(**{route.route_field: route_id})
            checkpoint(f"{label}:recorded")
        results[route.route_key] = result
    return {"result": merge(list(results.values())), "routes": results}


# --------------------------------------------------------------------------- additional routes


def sync_additional_route(ctx: StepContext, route: ApiGatewayAdditionalRoute) -> str:
    """Create or update one additional route's integration and route; record both ids.

    Rows are written with ``QuerySet.update()``: ``save()`` would enqueue another sync.
    """
    rows = ApiGatewayAdditionalRoute.objects.filter(pk=route.pk)
    try:
        exclude = _owned_integration_ids(ctx.gateway) - {route.integration_id}
        label = f"additional:{route.route_key}"
        integration_id, integration_result = ensure_integration(
            ctx, route.integration_id, route.integration_url, f"{label}:integration", exclude
        )
        # Only an id AWS gave as a string is recorded (as the reference did): a caller's client
        # that answers something else leaves the id to be found by key on the next run.
        if isinstance(integration_id, str) and integration_id != route.integration_id:
            rows.update(integration_id=integration_id, updated_on=timezone.now())
            route.integration_id = integration_id
            checkpoint(f"{label}:integration:recorded")
        route_id, route_result = ensure_route(
            ctx, route.route_id, route.route_key, integration_id, f"{label}:route"
        )
        if isinstance(route_id, str) and route_id != route.route_id:
            rows.update(route_id=route_id, updated_on=timezone.now())
            route.route_id = route_id
            checkpoint(f"{label}:route:recorded")
    except Exception as err:
        rows.update(
            provisioning_status=ProvisioningStatus.FAILED,
            last_error=str(err)[:2000],
            updated_on=timezone.now(),
        )
        raise
    result = merge([integration_result, route_result])
    if result != REUSED:
        rows.update(
            deployed=False,
            provisioning_status=ProvisioningStatus.CREATING,
            last_error="",
            updated_on=timezone.now(),
        )
    return result


def step_additional_routes(ctx: StepContext, arg: str = "") -> StepResult:
    """Every additional route of the gateway (``arg``: one route's pk, or all when empty)."""
    routes = ApiGatewayAdditionalRoute.objects.filter(api_gateway=ctx.gateway).order_by("pk")
    if arg:
        routes = routes.filter(pk=int(arg))
    results = {route.route_key: sync_additional_route(ctx, route) for route in routes}
    return {"result": merge(list(results.values())) if results else SKIPPED, "routes": results}


# --------------------------------------------------------------------------- stage


def step_stage(ctx: StepContext, arg: str = "") -> StepResult:
    """The stage, by name (its natural key); its description follows the row."""
    gateway, client = ctx.gateway, ctx.client
    api_id = _require_api(ctx)
    actual = get_or_none(client.get_stage, ApiId=api_id, StageName=gateway.stage_name)
    if actual is None:
        params: dict[str, Any] = {"ApiId": api_id, "StageName": gateway.stage_name}
        if gateway.stage_description:
            params["Description"] = gateway.stage_description
        try:
            call(client.create_stage, **params)
        except ConflictError:
            actual = get_or_none(client.get_stage, ApiId=api_id, StageName=gateway.stage_name)
            if actual is None:
                raise
        else:
            checkpoint("stage:created")
            ctx.record(stage_created=True)
            checkpoint("stage:recorded")
            return {"result": CREATED, "stage": gateway.stage_name}
    result = REUSED
    if (actual.get("Description") or "") != gateway.stage_description:
        call(
            client.update_stage,
            ApiId=api_id,
            StageName=gateway.stage_name,
            Description=gateway.stage_description,
        )
        result = UPDATED
    if not gateway.stage_created:
        ctx.record(stage_created=True)
        checkpoint("stage:recorded")
    return {"result": result, "stage": gateway.stage_name}


# --------------------------------------------------------------------------- deployment


def _masked(parameters: dict[str, str] | None) -> dict[str, str]:
    # The fingerprint goes into a deployment description: never hash a secret in the clear.
    out = {}
    for key, value in (parameters or {}).items():
        if len(value) >= 2 and value[0] == value[-1] == "'":
            value = "secret:" + secret_fingerprint(value[1:-1])
        out[key] = value
    return out


def config_fingerprint(ctx: StepContext) -> str:
    """A digest of what AWS holds now (routes, their integrations, the selection expression).

    A deployment is a snapshot of exactly this, so a stage whose deployment carries the same
    digest serves the current configuration and needs no new deployment.
    """
    client, api_id = ctx.client, _require_api(ctx)
    api = call(client.get_api, ApiId=api_id)
    integrations = {
        i["IntegrationId"]: [
            i.get("IntegrationType"),
            i.get("IntegrationMethod"),
            i.get("IntegrationUri"),
            i.get("TimeoutInMillis"),
            _masked(i.get("RequestParameters")),
        ]
        for i in items(client.get_integrations, ApiId=api_id)
    }
    routes = sorted(
        [r.get("RouteKey"), integrations.get(str(r.get("Target", "")).removeprefix("integrations/"))]
        for r in items(client.get_routes, ApiId=api_id)
    )
    document = json.dumps([api.get("RouteSelectionExpression"), routes], sort_keys=True, default=str)
    return hashlib.sha256(document.encode()).hexdigest()[:32]


def deploy_api(
    gateway: ApiGateway, client: ApiGatewayV2Client, *, force: bool = False, run_id: str = ""
) -> StepResult:
    """Deploy the stage unless its current deployment already serves this configuration.

    The reference's ``ApiGateway.deploy_api(client)``. Records ``deployment_id`` and
    ``deployed_at``; marks the additional routes deployed. ``force`` always creates one.
    """
    ctx = StepContext(gateway=gateway, run_id=run_id, client=client)
    api_id = _require_api(ctx)
    fingerprint = config_fingerprint(ctx)
    description = f"{_DEPLOYMENT_PREFIX}{fingerprint}"
    deployment_id = ""
    result = REUSED
    if not force:
        stage = get_or_none(client.get_stage, ApiId=api_id, StageName=gateway.stage_name)
        current = stage.get("DeploymentId") if stage else None
        if current:
            deployment = get_or_none(client.get_deployment, ApiId=api_id, DeploymentId=current)
            if deployment and deployment.get("Description") == description:
                deployment_id = current
    if not deployment_id:
        created = call(
            client.create_deployment, ApiId=api_id, StageName=gateway.stage_name, Description=description
        )
        checkpoint("deployment:created")
        deployment_id, result = created["DeploymentId"], CREATED
    if deployment_id != gateway.deployment_id or gateway.deployed_at is None or result == CREATED:
        ctx.record(deployment_id=deployment_id, deployed_at=timezone.now())
        checkpoint("deployment:recorded")
    ApiGatewayAdditionalRoute.objects.filter(api_gateway=gateway).exclude(route_id="").update(
        deployed=True,
        provisioning_status=ProvisioningStatus.DEPLOYED,
        last_error="",
        updated_on=timezone.now(),
    )
    return {"result": result, "deployment_id": deployment_id}


def step_deploy(ctx: StepContext, arg: str = "") -> StepResult:
    """Deploy when needed (``arg == "force"``: always); skipped while the stage does not exist."""
    if not ctx.gateway.stage_created:
        return {"result": SKIPPED, "reason": "no stage yet"}
    return deploy_api(ctx.gateway, ctx.client, force=arg == "force", run_id=ctx.run_id)


def create_route(
    route: ApiGatewayAdditionalRoute, client: ApiGatewayV2Client, deploy: bool = True
) -> RouteResult:
    """The reference's ``ApiGatewayAdditionalRoute.create_route(client, deploy)``: integration,
    route and (when ``deploy`` and the stage exists) a deployment, synchronously on the worker."""
    gateway = ApiGateway.objects.get(pk=route.api_gateway_id)
    ctx = StepContext(gateway=gateway, run_id="", client=client)
    result: RouteResult = {"result": sync_additional_route(ctx, route)}
    if deploy and gateway.stage_created:
        result["deployment"] = deploy_api(gateway, client)
    return result
