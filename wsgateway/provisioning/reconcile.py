""" "Sync to AWS" and "Sync from AWS" (docs/architecture.md §7).

Sync to AWS is the provisioning chain itself (every step brings AWS in line with the row, field
by field) plus :func:`step_prune_routes`, which deletes AWS routes no row describes any more.
Sync from AWS (:func:`step_sync_from_aws`) pulls AWS's values into the row and reports every
difference as ``{"field", "row", "aws"}``; its comparison, :func:`compare_with_aws`, only reads
(``checkApiGateway`` reports the same differences without pulling them).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from django.utils import timezone

from wsgateway.exceptions import ConflictError
from wsgateway.models import ApiGateway, ApiGatewayAdditionalRoute
from wsgateway.payloads import Difference, FieldValue, StepResult
from wsgateway.provisioning import spec
from wsgateway.provisioning.calls import call, get_or_none, items
from wsgateway.provisioning.context import DELETED, REUSED, UPDATED, StepContext
from wsgateway.provisioning.steps import _require_api

if TYPE_CHECKING:
    from wsgateway.aws.types import Api, ApiGatewayV2Client, IntegrationTypeDef, RouteTypeDef


def delete_route_and_integration(ctx: StepContext, route_id: str, integration_id: str) -> str:
    """Delete a route and then its integration (when no other route still targets it)."""
    client, api_id = ctx.client, _require_api(ctx)
    result = REUSED
    if route_id and get_or_none(client.get_route, ApiId=api_id, RouteId=route_id) is not None:
        call(client.delete_route, ApiId=api_id, RouteId=route_id)
        result = DELETED
    if (
        integration_id
        and get_or_none(client.get_integration, ApiId=api_id, IntegrationId=integration_id) is not None
    ):
        still_used = any(
            r.get("Target") == f"integrations/{integration_id}"
            for r in items(client.get_routes, ApiId=api_id)
        )
        if not still_used:
            try:
                call(client.delete_integration, ApiId=api_id, IntegrationId=integration_id)
                result = DELETED
            except ConflictError:
                pass  # a route was pointed at it meanwhile: keeping it is the safe answer
    return result


def step_prune_routes(ctx: StepContext, arg: str = "") -> StepResult:
    """Delete AWS routes (and their integrations) that are neither built in nor a row's."""
    client, api_id = ctx.client, _require_api(ctx)
    wanted = (
        set(
            ApiGatewayAdditionalRoute.objects.filter(api_gateway=ctx.gateway).values_list(
                "route_key", flat=True
            )
        )
        | spec.BUILTIN_KEYS
    )
    deleted: list[str] = []
    for route in list(items(client.get_routes, ApiId=api_id)):
        if route.get("RouteKey") not in wanted:
            integration_id = str(route.get("Target", "")).removeprefix("integrations/")
            delete_route_and_integration(ctx, route["RouteId"], integration_id)
            deleted.append(route["RouteKey"])
    return {"result": DELETED if deleted else REUSED, "deleted_routes": deleted}


def step_delete_route(ctx: StepContext, arg: str) -> StepResult:
    """Delete one route that lost its row; ``arg`` is ``"<route id>,<integration id>"``."""
    route_id, _, integration_id = arg.partition(",")
    if not ctx.gateway.api_id:
        return {"result": REUSED, "reason": "the gateway has no API"}
    return {"result": delete_route_and_integration(ctx, route_id, integration_id), "route_id": route_id}


def _difference(differences: list[Difference], field: str, row: FieldValue, aws: FieldValue) -> None:
    if (row or "") != (aws or ""):
        differences.append({"field": field, "row": row, "aws": aws})


#: A route AWS does not have, compared like one that has no id and no target.
_NO_ROUTE: RouteTypeDef = {"RouteKey": ""}


@dataclass
class Comparison:
    """What :func:`compare_with_aws` found: AWS's API (None: none), its routes and integrations,
    the differences, and the values Sync from AWS would pull into the row."""

    api: Api | None
    differences: list[Difference] = field(default_factory=list)
    pulled: dict[str, Any] = field(default_factory=dict)
    route_updates: dict[int, dict[str, Any]] = field(default_factory=dict)
    routes: dict[str, RouteTypeDef] = field(default_factory=dict)
    integrations: dict[str, IntegrationTypeDef] = field(default_factory=dict)


def _find_api(gateway: ApiGateway, client: ApiGatewayV2Client) -> Api | None:
    """The row's API by its recorded id, else by its name (the natural key)."""
    api: Api | None = get_or_none(client.get_api, ApiId=gateway.api_id) if gateway.api_id else None
    if api is None:
        for candidate in items(client.get_apis):
            if candidate.get("Name") == gateway.api_name and candidate.get("ProtocolType") == "WEBSOCKET":
                return candidate
    return api


def _compare_fields(found: Comparison, owner: object, aws_values: dict[str, FieldValue]) -> None:
    """Report (and pull) each of the row's fields that AWS holds differently."""
    for attr, aws_value in aws_values.items():
        row_value = getattr(owner, attr)
        if row_value != aws_value:
            found.differences.append({"field": attr, "row": row_value, "aws": aws_value})
            found.pulled[attr] = aws_value


def _compare_api(gateway: ApiGateway, api: Api, found: Comparison) -> None:
    fields: dict[str, FieldValue] = {"api_id": api["ApiId"], "api_endpoint": api.get("ApiEndpoint", "")}
    fields.update({attr: str(api.get(member) or "") for member, attr in spec.API_FIELDS.items()})
    for attr, aws_value in fields.items():
        row_value = getattr(gateway, attr)
        if (row_value or "") != (aws_value or ""):  # None and "" are the same empty value here
            found.differences.append({"field": attr, "row": row_value, "aws": aws_value})
            found.pulled[attr] = aws_value


def _integration_id(route: RouteTypeDef) -> str:
    return str(route.get("Target", "")).removeprefix("integrations/")


def _compare_builtin_routes(gateway: ApiGateway, found: Comparison) -> None:
    for builtin in spec.BUILTIN_ROUTES:
        route = found.routes.get(builtin.route_key, _NO_ROUTE)
        _compare_fields(
            found,
            gateway,
            {
                builtin.route_field: route.get("RouteId", ""),
                builtin.integration_field: _integration_id(route),
            },
        )


def _compare_additional_routes(gateway: ApiGateway, found: Comparison) -> None:
    for row in ApiGatewayAdditionalRoute.objects.filter(api_gateway=gateway).order_by("pk"):
        route = found.routes.get(row.route_key, _NO_ROUTE)
        integration_id = _integration_id(route)
        integration = found.integrations.get(integration_id)
        uri = integration.get("IntegrationUri", "") if integration else ""
        updates: dict[str, Any] = {}
        for attr, aws_value in (
            ("route_id", route.get("RouteId", "")),
            ("integration_id", integration_id),
            ("integration_url", uri),
        ):
            if getattr(row, attr) != aws_value:
                found.differences.append(
                    {"field": f"route[{row.route_key}].{attr}", "row": getattr(row, attr), "aws": aws_value}
                )
                if aws_value or attr != "integration_url":
                    updates[attr] = aws_value
        if updates:
            found.route_updates[row.pk] = updates


def _report_unknown_routes(gateway: ApiGateway, found: Comparison) -> None:
    """Routes only AWS has: reported, never pulled (no row describes them)."""
    known = {
        r.route_key for r in ApiGatewayAdditionalRoute.objects.filter(api_gateway=gateway)
    } | spec.BUILTIN_KEYS
    for key, route in found.routes.items():
        if key not in known:
            integration = found.integrations.get(_integration_id(route))
            uri = integration.get("IntegrationUri") if integration else None
            found.differences.append({"field": f"route[{key}]", "row": None, "aws": uri})


def _compare_stage(gateway: ApiGateway, client: ApiGatewayV2Client, api_id: str, found: Comparison) -> None:
    stage = get_or_none(client.get_stage, ApiId=api_id, StageName=gateway.stage_name)
    _compare_fields(
        found,
        gateway,
        {
            "stage_created": stage is not None,
            "stage_description": stage.get("Description", "") if stage else gateway.stage_description,
            "deployment_id": stage.get("DeploymentId", "") if stage else "",
        },
    )


def compare_with_aws(gateway: ApiGateway, client: ApiGatewayV2Client) -> Comparison:
    """Compare the row with AWS field by field, reading only (Sync from AWS and checkApiGateway)."""
    api = _find_api(gateway, client)
    found = Comparison(api)
    if api is None:
        _difference(found.differences, "api_id", gateway.api_id, None)
        return found
    _compare_api(gateway, api, found)
    api_id = api["ApiId"]
    found.integrations = {i["IntegrationId"]: i for i in items(client.get_integrations, ApiId=api_id)}
    found.routes = {r["RouteKey"]: r for r in items(client.get_routes, ApiId=api_id)}
    _compare_builtin_routes(gateway, found)
    _compare_additional_routes(gateway, found)
    _report_unknown_routes(gateway, found)
    _compare_stage(gateway, client, api_id, found)
    return found


def sync_report(differences: list[Difference]) -> str:
    """The text kept on the row (``last_sync_report``): one line per difference, or "in sync"."""
    when = timezone.now().strftime("%Y-%m-%d %H:%M:%S UTC")
    if not differences:
        return f"in sync at {when}"
    lines = [f"{d['field']}: row={d['row']!r} aws={d['aws']!r}" for d in differences]
    return "\n".join([f"{len(differences)} difference(s) at {when}:", *lines])


def _forget_api(ctx: StepContext, report: str) -> None:
    """AWS has no such API: the row's ids of it (if any) are cleared."""
    cleared: dict[str, Any] = {}
    if ctx.gateway.api_id:
        cleared = {"api_id": "", "api_endpoint": "", "api_created": False, "stage_created": False}
        cleared["deployment_id"] = ""
    ctx.record(**cleared, last_sync_report=report)


def _pull(ctx: StepContext, found: Comparison, report: str) -> None:
    """Write AWS's values into the gateway row and its route rows."""
    pulled = found.pulled
    if (
        "api_name" in pulled
        and ApiGateway.objects.filter(api_name=pulled["api_name"]).exclude(pk=ctx.gateway.pk).exists()
    ):
        pulled.pop("api_name")  # another row owns that name: report it, do not break uniqueness
    for pk, updates in found.route_updates.items():
        ApiGatewayAdditionalRoute.objects.filter(pk=pk).update(**updates)  # no save(): no re-sync
    ctx.record(**pulled, last_sync_report=report)


def step_sync_from_aws(ctx: StepContext, arg: str = "") -> StepResult:
    """Pull AWS's values into the row; return the differences field by field and keep them on
    the row (``last_sync_report``) for the admin."""
    found = compare_with_aws(ctx.gateway, ctx.client)
    report = sync_report(found.differences)
    if found.api is None:
        _forget_api(ctx, report)
    else:
        _pull(ctx, found, report)
    return {"result": UPDATED if found.differences else REUSED, "differences": found.differences}
