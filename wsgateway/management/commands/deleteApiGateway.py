"""``manage.py deleteApiGateway --pk N --from-aws [--delete-row] [--wait] [--here]``."""

from typing import Any

from django.core.management.base import CommandError, CommandParser

from wsgateway.management.commands._provisioning import ProvisioningCommand


class Command(ProvisioningCommand):
    """Delete the gateway's AWS resources (custom domain, mapping, DNS alias, API)."""

    help = (
        "Delete the gateway's resources from AWS (--from-aws, required); --delete-row also deletes the row "
        "once AWS is clean. Deleting a row any other way leaves AWS untouched."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        super().add_arguments(parser)
        parser.add_argument("--from-aws", action="store_true", help="Delete the AWS resources.")
        parser.add_argument("--delete-row", action="store_true", help="Then delete the ApiGateway row too.")

    def operation_for(self, options: dict[str, Any]) -> str:
        if not options["from_aws"]:
            raise CommandError(
                "Say --from-aws: this command deletes AWS resources (add --delete-row for the row)."
            )
        return "delete_gateway" if options["delete_row"] else "delete_from_aws"
