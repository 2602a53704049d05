"""``manage.py createCustomDomain --pk N [--wait] [--here]``.

Create the custom domain, its API mapping and (with a hosted zone) the DNS alias. As in the
reference, the API must be deployed and the domain not yet mapped.
"""

from django.core.management.base import CommandError

from wsgateway.management.commands._provisioning import ProvisioningCommand
from wsgateway.models import ApiGateway
from wsgateway.provisioning import ProvisioningHandle


class Command(ProvisioningCommand):
    """Create the custom domain, its API mapping and (with a hosted zone) the DNS alias."""

    help = "Create the custom domain, its API mapping and (with a hosted zone) the DNS alias."
    operation = "create_custom_domain"

    def check_gateway(self, gateway: ApiGateway) -> None:
        if not gateway.needs_custom_domain:
            raise CommandError(f"{gateway.api_name} is not ready for a custom domain, or already has one")

    def get_gateway(self, pk: int) -> ApiGateway:
        return ApiGateway.objects.get(pk=pk)

    def enqueue(self, operation: str, gateway: ApiGateway) -> ProvisioningHandle:
        # The model's entry point, as the reference's command called it: it checks and enqueues.
        handle = gateway.create_custom_domain()
        if not handle:  # completed since check_gateway looked
            raise CommandError(f"{gateway.api_name} is not ready for a custom domain, or already has one")
        return handle
