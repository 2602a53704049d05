"""Rotating the gateway secret: every integration gets the current first ``GATEWAY_SECRETS``
entry, the fingerprint is recorded, and the chain's deploy step publishes it.

Rotate by putting the new secret first and keeping the old one second (Django accepts both),
running this, then removing the old one.
"""

from __future__ import annotations

from typing import Any

from wsgateway.models import ApiGatewayAdditionalRoute
from wsgateway.payloads import StepResult
from wsgateway.provisioning import spec
from wsgateway.provisioning.calls import call, get_or_none
from wsgateway.provisioning.context import REUSED, UPDATED, StepContext
from wsgateway.provisioning.steps import _require_api


def stale_integrations(ctx: StepContext) -> list[tuple[str, dict[str, Any]]]:
    """The integrations the gateway owns whose RequestParameters do not carry the current secret.

    ``(integration id, wanted RequestParameters)`` pairs; an integration AWS no longer has is
    skipped (the next Provision / Sync to AWS recreates it with the current secret).
    """
    client, api_id = ctx.client, _require_api(ctx)
    ids = [getattr(ctx.gateway, r.integration_field) for r in spec.BUILTIN_ROUTES]
    ids += list(
        ApiGatewayAdditionalRoute.objects.filter(api_gateway=ctx.gateway)
        .exclude(integration_id="")
        .values_list("integration_id", flat=True)
    )
    wanted = spec.request_parameters()
    stale = []
    for integration_id in filter(None, ids):
        actual = get_or_none(client.get_integration, ApiId=api_id, IntegrationId=integration_id)
        if actual is not None and actual.get("RequestParameters") != wanted:
            stale.append((integration_id, wanted))
    return stale


def step_rotate_secret(ctx: StepContext, arg: str = "") -> StepResult:
    """Update the RequestParameters of every integration the gateway owns."""
    client, api_id = ctx.client, _require_api(ctx)
    updated = []
    for integration_id, wanted in stale_integrations(ctx):
        call(
            client.update_integration,
            ApiId=api_id,
            IntegrationId=integration_id,
            RequestParameters=wanted,
        )
        updated.append(integration_id)
    ctx.record(integration_secret_fingerprint=spec.current_fingerprint())
    return {
        "result": UPDATED if updated else REUSED,
        "updated_integrations": len(updated),
        "integration_ids": updated,
    }
