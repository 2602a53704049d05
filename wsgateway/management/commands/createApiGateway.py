"""``manage.py createApiGateway --pk N [--wait] [--here]``.

Provision the gateway: API, integrations, routes, stage and deployment. As in the reference, a
gateway whose API is complete is refused; one that stopped part way is resumed.
"""

from typing import cast

from django.core.management.base import CommandError

from wsgateway.management.commands._provisioning import ProvisioningCommand
from wsgateway.models import ApiGateway
from wsgateway.provisioning import ProvisioningHandle


class Command(ProvisioningCommand):
    """Provision the gateway: API, integrations, routes, stage and deployment."""

    help = "Provision the gateway: API, integrations, routes, stage and deployment."
    operation = "create_gateway"

    def check_gateway(self, gateway: ApiGateway) -> None:
        if not gateway.needs_api_creation:
            raise CommandError(f"{gateway.api_name} is already created")

    def get_gateway(self, pk: int) -> ApiGateway:
        return ApiGateway.objects.get(pk=pk)

    def enqueue(self, operation: str, gateway: ApiGateway) -> ProvisioningHandle:
        # The model's entry point, as the reference's command called it: it checks and enqueues.
        handle = gateway.create_gateway()
        if not handle:  # completed since check_gateway looked
            raise CommandError(f"{gateway.api_name} is already created")
        return cast(ProvisioningHandle, handle)  # create_gateway() returns a handle or False
