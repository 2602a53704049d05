"""``manage.py createApiGateway --pk N [--wait] [--here]``.

Provision the gateway: API, integrations, routes, stage and deployment. As in the reference, a
gateway whose API is complete is refused; one that stopped part way is resumed.
"""

from django.core.management.base import CommandError

from wsgateway.management.commands._provisioning import ProvisioningCommand
from wsgateway.models import ApiGateway


class Command(ProvisioningCommand):
    """Provision the gateway: API, integrations, routes, stage and deployment."""

    help = "Provision the gateway: API, integrations, routes, stage and deployment."
    operation = "create_gateway"

    def check_gateway(self, gateway: ApiGateway) -> None:
        if not gateway.needs_api_creation:
            raise CommandError(f"{gateway.api_name} is already created")
