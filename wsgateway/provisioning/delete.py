"""Deleting a gateway's AWS resources ("Delete from AWS").

Order matters: the alias record, the API mapping and the domain name first (AWS refuses to delete
an API that a mapping still points at), then the API, which takes its integrations, routes,
stages and deployments with it. Resources already gone count as deleted.

Deleting an ``ApiGateway`` *row* does not touch AWS; use the "Delete from AWS" admin action,
``deleteApiGateway --pk N --from-aws`` or :func:`wsgateway.provisioning.enqueue_delete_from_aws`
(``delete_row=True`` removes the row once AWS is clean).
"""

from __future__ import annotations

from typing import Any

from wsgateway.models import ApiGateway, ApiGatewayAdditionalRoute, ProvisioningStatus
from wsgateway.payloads import StepResult
from wsgateway.provisioning import spec
from wsgateway.provisioning.calls import call, get_or_none
from wsgateway.provisioning.context import DELETED, SKIPPED, StepContext
from wsgateway.provisioning.domain import delete_domain


def step_delete_from_aws(ctx: StepContext, arg: str = "") -> StepResult:
    """Delete the custom domain (if we made it) and the API; clear the recorded ids."""
    gateway, client = ctx.gateway, ctx.client
    results: dict[str, str] = dict(delete_domain(ctx))
    results["api"] = SKIPPED
    if gateway.api_id and get_or_none(client.get_api, ApiId=gateway.api_id) is not None:
        call(client.delete_api, ApiId=gateway.api_id)
        results["api"] = DELETED
    fields: dict[str, Any] = {
        "api_id": "",
        "api_endpoint": "",
        "api_created": False,
        "stage_created": False,
        "deployment_id": "",
        "deployed_at": None,
        "integration_secret_fingerprint": "",
    }
    for route in spec.BUILTIN_ROUTES:
        fields[route.integration_field] = ""
        fields[route.route_field] = ""
    ctx.record(**fields)
    ApiGatewayAdditionalRoute.objects.filter(api_gateway=gateway).update(
        integration_id="", route_id="", deployed=False, provisioning_status=ProvisioningStatus.DELETED
    )
    return {"result": DELETED if DELETED in results.values() else SKIPPED, "deleted": results}


def step_delete_row(ctx: StepContext, arg: str = "") -> StepResult:
    """Delete the gateway row itself (the opt-in last step of "delete from AWS and the row")."""
    ApiGateway.objects.filter(pk=ctx.gateway.pk).delete()
    return {"result": DELETED, "row": ctx.gateway.pk}
