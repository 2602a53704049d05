"""Provisioning: resumable chains of idempotent steps on the ``provisioning`` queue.

See docs/architecture.md §4 and §7.

Entry points called by the models (reference names):

- :func:`enqueue_create_gateway` — ``ApiGateway.create_gateway()``: API, integrations, routes,
  additional routes, stage, deployment.
- :func:`enqueue_create_custom_domain` — ``ApiGateway.create_custom_domain()``: domain name, API
  mapping, Route 53 alias.
- :func:`deploy_api` — ``ApiGateway.deploy_api(client)`` (runs on the worker).
- :func:`create_route` — ``ApiGatewayAdditionalRoute.create_route(client, deploy)`` (worker).
- :func:`enqueue_sync_route` — ``ApiGatewayAdditionalRoute.save()`` of a deployed gateway.

More operations: :func:`enqueue_redeploy`, :func:`enqueue_sync_to_aws`,
:func:`enqueue_sync_from_aws`, :func:`enqueue_delete_from_aws`, :func:`enqueue_rotate_secret`,
:func:`enqueue_delete_route`. Each returns a :class:`ProvisioningHandle`; :func:`run_inline`
runs an operation in-process instead.
"""

from __future__ import annotations

from wsgateway.models import ApiGateway, ApiGatewayAdditionalRoute, ProvisioningStatus
from wsgateway.provisioning.chains import ProvisioningHandle, enqueue
from wsgateway.provisioning.runner import OPERATIONS, run_inline
from wsgateway.provisioning.steps import create_route, deploy_api

__all__ = [
    "OPERATIONS",
    "ProvisioningHandle",
    "create_route",
    "deploy_api",
    "enqueue",
    "enqueue_create_custom_domain",
    "enqueue_create_gateway",
    "enqueue_delete_from_aws",
    "enqueue_delete_route",
    "enqueue_redeploy",
    "enqueue_rotate_secret",
    "enqueue_sync_from_aws",
    "enqueue_sync_route",
    "enqueue_sync_to_aws",
    "run_inline",
]


def _pk(gateway: ApiGateway | int) -> int:
    return gateway if isinstance(gateway, int) else int(gateway.pk)


def enqueue_create_gateway(gateway: ApiGateway | int) -> ProvisioningHandle:
    """Enqueue the provisioning chain of ``gateway`` (a row or its pk)."""
    return enqueue("create_gateway", _pk(gateway))


def enqueue_create_custom_domain(gateway: ApiGateway | int) -> ProvisioningHandle:
    """Enqueue the custom-domain chain (domain name, API mapping, DNS alias)."""
    return enqueue("create_custom_domain", _pk(gateway))


def enqueue_redeploy(gateway: ApiGateway | int) -> ProvisioningHandle:
    """Enqueue a new deployment of the stage."""
    return enqueue("redeploy", _pk(gateway))


def enqueue_sync_to_aws(gateway: ApiGateway | int) -> ProvisioningHandle:
    """Enqueue "Sync to AWS": push every row field that differs, prune routes, redeploy if needed."""
    return enqueue("sync_to_aws", _pk(gateway))


def enqueue_sync_from_aws(gateway: ApiGateway | int) -> ProvisioningHandle:
    """Enqueue "Sync from AWS": pull AWS's values; the run's result lists the differences."""
    return enqueue("sync_from_aws", _pk(gateway))


def enqueue_rotate_secret(gateway: ApiGateway | int) -> ProvisioningHandle:
    """Enqueue the secret rotation: every integration gets the current secret, then a deployment."""
    return enqueue("rotate_secret", _pk(gateway))


def enqueue_delete_from_aws(gateway: ApiGateway | int, *, delete_row: bool = False) -> ProvisioningHandle:
    """Enqueue deleting the gateway's AWS resources (and then the row with ``delete_row``)."""
    return enqueue("delete_gateway" if delete_row else "delete_from_aws", _pk(gateway))


def enqueue_sync_route(route_pk: int) -> ProvisioningHandle | None:
    """Enqueue the create/update of one additional route and a deployment (None: row gone)."""
    gateway_pk = (
        ApiGatewayAdditionalRoute.objects.filter(pk=route_pk).values_list("api_gateway_id", flat=True).first()
    )
    if gateway_pk is None:
        return None
    ApiGatewayAdditionalRoute.objects.filter(pk=route_pk).update(
        provisioning_status=ProvisioningStatus.QUEUED
    )
    return enqueue("sync_route", gateway_pk, arg=str(route_pk), mark_queued=False)


def enqueue_delete_route(gateway_pk: int, route_id: str, integration_id: str) -> ProvisioningHandle | None:
    """Enqueue deleting an additional route's AWS route and integration (None: gateway gone)."""
    if not ApiGateway.objects.filter(pk=gateway_pk).exclude(api_id="").exists():
        return None
    return enqueue("delete_route", gateway_pk, arg=f"{route_id},{integration_id}", mark_queued=False)
