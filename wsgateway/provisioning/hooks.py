"""Additional routes follow their rows: a deleted row deletes its AWS route and integration.

(Creation and updates are enqueued by ``ApiGatewayAdditionalRoute.save``.) Connected by
:func:`connect_route_deletion`, which ``AppConfig.ready()`` calls.
"""

from __future__ import annotations

from typing import Any

from django.db import transaction
from django.db.models.signals import post_delete

from wsgateway.conf import wsgateway_settings
from wsgateway.models import ApiGatewayAdditionalRoute
from wsgateway.provisioning import enqueue_delete_route


def _route_deleted(sender: Any, instance: ApiGatewayAdditionalRoute, **kwargs: Any) -> None:
    if not (instance.route_id or instance.integration_id):
        return  # never reached AWS
    # delete(push_to_aws=...) decides; a queryset delete follows the setting.
    push = getattr(instance, "_push_delete", None)
    if not (wsgateway_settings.PUSH_CHANGES_TO_AWS if push is None else push):
        return
    gateway_pk, route_id, integration_id = instance.api_gateway_id, instance.route_id, instance.integration_id
    transaction.on_commit(lambda: enqueue_delete_route(gateway_pk, route_id, integration_id))


def connect_route_deletion() -> None:
    """Connect the ``post_delete`` receiver of additional routes."""
    post_delete.connect(
        _route_deleted, sender=ApiGatewayAdditionalRoute, dispatch_uid="wsgateway.provisioning.route_deleted"
    )
