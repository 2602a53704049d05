"""``manage.py printIamPolicy --pk N [--role provisioning|worker|all] [--account ID]``.

Prints the least-privilege IAM policy documents of one gateway as JSON (see
:mod:`wsgateway.provisioning.iam`): one policy document for ``--role provisioning`` or
``--role worker``, an object ``{"provisioning": …, "worker": …}`` for ``--role all``.
"""

from __future__ import annotations

import json
from typing import Any

from django.core.exceptions import ImproperlyConfigured
from django.core.management.base import BaseCommand, CommandError, CommandParser

from wsgateway.aws import get_region_name
from wsgateway.models import ApiGateway
from wsgateway.provisioning import iam


class Command(BaseCommand):
    """Print the IAM policies a gateway's provisioning worker and fan-out workers need."""

    help = "Print the least-privilege IAM policy documents (JSON) of a gateway."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--pk", type=int, required=True, help="Primary key of the ApiGateway row.")
        parser.add_argument(
            "--role",
            choices=[*iam.ROLES, "all"],
            default="all",
            help="provisioning (control plane), worker (@connections) or all (default).",
        )
        parser.add_argument(
            "--account",
            default="*",
            help="AWS account id for the execute-api ARNs (default '*': any account).",
        )

    def handle(self, *args: Any, **options: Any) -> None:
        try:
            gateway = ApiGateway.objects.get(pk=options["pk"])
        except ApiGateway.DoesNotExist:
            raise CommandError(f"No ApiGateway with pk {options['pk']}.") from None
        account = options["account"]
        if account != "*" and not (account.isdigit() and len(account) == 12):
            raise CommandError(f"--account must be a 12-digit AWS account id, not {account!r}.")
        try:
            documents = iam.policies(gateway, options["role"], get_region_name(), account)
        except (ValueError, ImproperlyConfigured) as err:
            raise CommandError(str(err)) from err
        output: dict[str, Any] = documents.get(options["role"], documents)  # "all": every document by role
        self.stdout.write(json.dumps(output, indent=2))
