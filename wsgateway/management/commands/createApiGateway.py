"""``manage.py createApiGateway --pk N [--wait] [--here]``.

Provision the gateway: API, integrations, routes, stage and deployment.
"""

from wsgateway.management.commands._provisioning import ProvisioningCommand


class Command(ProvisioningCommand):
    """Provision the gateway: API, integrations, routes, stage and deployment."""

    help = "Provision the gateway: API, integrations, routes, stage and deployment."
    operation = "create_gateway"
