"""``manage.py redeployApiGateway --pk N [--wait] [--here]``.

Create a new deployment of the gateway's stage.
"""

from wsgateway.management.commands._provisioning import ProvisioningCommand


class Command(ProvisioningCommand):
    """Create a new deployment of the gateway's stage."""

    help = "Create a new deployment of the gateway's stage."
    operation = "redeploy"
