"""``manage.py createCustomDomain --pk N [--wait] [--here]``.

Create the custom domain, its API mapping and (with a hosted zone) the DNS alias.
"""

from wsgateway.management.commands._provisioning import ProvisioningCommand


class Command(ProvisioningCommand):
    """Create the custom domain, its API mapping and (with a hosted zone) the DNS alias."""

    help = "Create the custom domain, its API mapping and (with a hosted zone) the DNS alias."
    operation = "create_custom_domain"
