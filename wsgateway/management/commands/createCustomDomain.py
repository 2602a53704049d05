"""``manage.py createCustomDomain --pk N [--wait] [--here]``.

Create the custom domain, its API mapping and (with a hosted zone) the DNS alias. As in the
reference, the API must be deployed and the domain not yet mapped.
"""

from django.core.management.base import CommandError

from wsgateway.management.commands._provisioning import ProvisioningCommand
from wsgateway.models import ApiGateway


class Command(ProvisioningCommand):
    """Create the custom domain, its API mapping and (with a hosted zone) the DNS alias."""

    help = "Create the custom domain, its API mapping and (with a hosted zone) the DNS alias."
    operation = "create_custom_domain"

    def check_gateway(self, gateway: ApiGateway) -> None:
        if not gateway.needs_custom_domain:
            raise CommandError(f"{gateway.api_name} is not ready for a custom domain, or already has one")
