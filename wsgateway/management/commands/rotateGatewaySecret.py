"""``manage.py rotateGatewaySecret --pk N [--wait] [--here]``.

Put the current gateway secret on every integration and redeploy.
"""

from wsgateway.management.commands._provisioning import ProvisioningCommand


class Command(ProvisioningCommand):
    """Put the current gateway secret on every integration and redeploy."""

    help = "Put the current gateway secret on every integration and redeploy."
    operation = "rotate_secret"
