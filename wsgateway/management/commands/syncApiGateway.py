"""``manage.py syncApiGateway --pk N [--from-aws] [--wait] [--here]``: reconcile row and AWS."""

from typing import Any

from django.core.management.base import CommandParser

from wsgateway.management.commands._provisioning import ProvisioningCommand


class Command(ProvisioningCommand):
    """Push the row's values to AWS (default) or pull AWS's into the row (``--from-aws``)."""

    help = "Sync a gateway to AWS (default) or from AWS (--from-aws, prints the differences)."

    def add_arguments(self, parser: CommandParser) -> None:
        super().add_arguments(parser)
        parser.add_argument("--from-aws", action="store_true", help="Pull AWS's values into the row.")

    def operation_for(self, options: dict[str, Any]) -> str:
        return "sync_from_aws" if options["from_aws"] else "sync_to_aws"
