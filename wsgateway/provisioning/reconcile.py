""" "Sync to AWS" and "Sync from AWS" (docs/architecture.md §7).

Sync to AWS is the provisioning chain itself (every step brings AWS in line with the row, field
by field) plus :func:`step_prune_routes`, which deletes AWS routes no row describes any more.
Sync from AWS (:func:`step_sync_from_aws`) pulls AWS's values into the row and reports every
difference as ``{"field", "row", "aws"}``; its comparison, :func:`compare_with_aws`, only reads
(``checkApiGateway`` reports the same differences without pulling them).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from django.utils import timezone

from wsgateway.exceptions import ConflictError
from wsgateway.models import ApiGateway, ApiGatewayAdditionalRoute
from wsgateway.provisioning import spec
from wsgateway.provisioning.calls import call, get_or_none, items
from wsgateway.provisioning.context import DELETED, REUSED, UPDATED, StepContext
from wsgateway.provisioning.steps import _require_api


def delete_route_and_integration(ctx: StepContext, route_id: str, integration_id: str) -> str:
    """Delete a route and then its integration (when no other route still targets it)."""
    client, api_id = ctx.client, _require_api(ctx)
    result = REUSED
    if route_id and get_or_none(client, "get_route", ApiId=api_id, RouteId=route_id):
        call(client, "delete_route", ApiId=api_id, RouteId=route_id)
        result = DELETED
    if integration_id and get_or_none(client, "get_integration", ApiId=api_id, IntegrationId=integration_id):
        still_used = any(
            r.get("Target") == f"integrations/{integration_id}"
            for r in items(client, "get_routes", ApiId=api_id)
        )
        if not still_used:
            try:
                call(client, "delete_integration", ApiId=api_id, IntegrationId=integration_id)
                result = DELETED
            except ConflictError:
                pass  # a route was pointed at it meanwhile: keeping it is the safe answer
    return result


def step_prune_routes(ctx: StepContext, arg: str = "") -> dict[str, Any]:
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
    deleted = []
    for route in list(items(client, "get_routes", ApiId=api_id)):
        if route.get("RouteKey") not in wanted:
            integration_id = str(route.get("Target", "")).removeprefix("integrations/")
            delete_route_and_integration(ctx, route["RouteId"], integration_id)
            deleted.append(route.get("RouteKey"))
    return {"result": DELETED if deleted else REUSED, "deleted_routes": deleted}


def step_delete_route(ctx: StepContext, arg: str) -> dict[str, Any]:
    """Delete one route that lost its row; ``arg`` is ``"<route id>,<integration id>"``."""
    route_id, _, integration_id = arg.partition(",")
    if not ctx.gateway.api_id:
        return {"result": REUSED, "reason": "the gateway has no API"}
    return {"result": delete_route_and_integration(ctx, route_id, integration_id), "route_id": route_id}


def _difference(differences: list[dict[str, Any]], field: str, row: Any, aws: Any) -> None:
    if (row or "") != (aws or ""):
        differences.append({"field": field, "row": row, "aws": aws})


@dataclass
class Comparison:
    """What :func:`compare_with_aws` found: AWS's API (None: none), its routes and integrations,
    the differences, and the values Sync from AWS would pull into the row."""

    api: dict[str, Any] | None
    differences: list[dict[str, Any]] = field(default_factory=list)
    pulled: dict[str, Any] = field(default_factory=dict)
    route_updates: dict[int, dict[str, Any]] = field(default_factory=dict)
    routes: dict[Any, dict[str, Any]] = field(default_factory=dict)
    integrations: dict[str, dict[str, Any]] = field(default_factory=dict)


def compare_with_aws(gateway: ApiGateway, client: Any) -> Comparison:
    """Compare the row with AWS field by field, reading only (Sync from AWS and checkApiGateway)."""
    api = get_or_none(client, "get_api", ApiId=gateway.api_id) if gateway.api_id else None
    if api is None:
        for candidate in items(client, "get_apis"):
            if candidate.get("Name") == gateway.api_name and candidate.get("ProtocolType") == "WEBSOCKET":
                api = candidate
                break
    found = Comparison(api)
    differences, pulled = found.differences, found.pulled
    if api is None:
        _difference(differences, "api_id", gateway.api_id, None)
        return found
    fields = {"api_id": api["ApiId"], "api_endpoint": api.get("ApiEndpoint", "")}
    fields.update({attr: api.get(member) or "" for member, attr in spec.API_FIELDS.items()})
    for attr, aws_value in fields.items():
        row_value = getattr(gateway, attr)
        if (row_value or "") != (aws_value or ""):
            differences.append({"field": attr, "row": row_value, "aws": aws_value})
            pulled[attr] = aws_value
    api_id = api["ApiId"]
    integrations = found.integrations = {
        i["IntegrationId"]: i for i in items(client, "get_integrations", ApiId=api_id)
    }
    routes = found.routes = {r.get("RouteKey"): r for r in items(client, "get_routes", ApiId=api_id)}
    for builtin in spec.BUILTIN_ROUTES:
        route = routes.get(builtin.route_key) or {}
        integration_id = str(route.get("Target", "")).removeprefix("integrations/")
        for attr, aws_value in (
            (builtin.route_field, route.get("RouteId", "")),
            (builtin.integration_field, integration_id),
        ):
            if getattr(gateway, attr) != aws_value:
                differences.append({"field": attr, "row": getattr(gateway, attr), "aws": aws_value})
                pulled[attr] = aws_value
    for row in ApiGatewayAdditionalRoute.objects.filter(api_gateway=gateway).order_by("pk"):
        route = routes.get(row.route_key) or {}
        integration_id = str(route.get("Target", "")).removeprefix("integrations/")
        uri = (integrations.get(integration_id) or {}).get("IntegrationUri", "")
        updates: dict[str, Any] = {}
        for attr, aws_value in (
            ("route_id", route.get("RouteId", "")),
            ("integration_id", integration_id),
            ("integration_url", uri),
        ):
            if getattr(row, attr) != aws_value:
                differences.append(
                    {"field": f"route[{row.route_key}].{attr}", "row": getattr(row, attr), "aws": aws_value}
                )
                if aws_value or attr != "integration_url":
                    updates[attr] = aws_value
        if updates:
            found.route_updates[row.pk] = updates
    known = {
        r.route_key for r in ApiGatewayAdditionalRoute.objects.filter(api_gateway=gateway)
    } | spec.BUILTIN_KEYS
    for key, route in routes.items():
        if key not in known:
            integration_id = str(route.get("Target", "")).removeprefix("integrations/")
            uri = (integrations.get(integration_id) or {}).get("IntegrationUri")
            differences.append({"field": f"route[{key}]", "row": None, "aws": uri})
    stage = get_or_none(client, "get_stage", ApiId=api_id, StageName=gateway.stage_name)
    stage_fields = {
        "stage_created": stage is not None,
        "stage_description": (stage or {}).get("Description", "") if stage else gateway.stage_description,
        "deployment_id": (stage or {}).get("DeploymentId", ""),
    }
    for attr, aws_value in stage_fields.items():
        if getattr(gateway, attr) != aws_value:
            differences.append({"field": attr, "row": getattr(gateway, attr), "aws": aws_value})
            pulled[attr] = aws_value
    return found


def sync_report(differences: list[dict[str, Any]]) -> str:
    """The text kept on the row (``last_sync_report``): one line per difference, or "in sync"."""
    when = timezone.now().strftime("%Y-%m-%d %H:%M:%S UTC")
    if not differences:
        return f"in sync at {when}"
    lines = [f"{d['field']}: row={d['row']!r} aws={d['aws']!r}" for d in differences]
    return "\n".join([f"{len(differences)} difference(s) at {when}:", *lines])


def step_sync_from_aws(ctx: StepContext, arg: str = "") -> dict[str, Any]:
    """Pull AWS's values into the row; return the differences field by field and keep them on
    the row (``last_sync_report``) for the admin."""
    gateway = ctx.gateway
    found = compare_with_aws(gateway, ctx.client)
    differences, pulled = found.differences, found.pulled
    report = sync_report(differences)
    if found.api is None:
        cleared: dict[str, Any] = {}
        if gateway.api_id:
            cleared = {"api_id": "", "api_endpoint": "", "api_created": False, "stage_created": False}
            cleared["deployment_id"] = ""
        ctx.record(**cleared, last_sync_report=report)
        return {"result": UPDATED if differences else REUSED, "differences": differences}
    if (
        "api_name" in pulled
        and ApiGateway.objects.filter(api_name=pulled["api_name"]).exclude(pk=gateway.pk).exists()
    ):
        pulled.pop("api_name")  # another row owns that name: report it, do not break uniqueness
    for pk, updates in found.route_updates.items():
        ApiGatewayAdditionalRoute.objects.filter(pk=pk).update(**updates)  # no save(): no re-sync
    ctx.record(**pulled, last_sync_report=report)
    return {"result": UPDATED if differences else REUSED, "differences": differences}
