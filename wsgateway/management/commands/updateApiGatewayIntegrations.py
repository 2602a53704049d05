"""``manage.py updateApiGatewayIntegrations [--pk N] [--dry-run] [--wait] [--here]``.

The reference command: brings the integrations of deployed gateways in line with the gateway
secret, then deploys the stage. Here that is the ``rotate_secret`` run (every integration the
gateway owns gets the first of ``GATEWAY_SECRETS``, then a deployment), enqueued per gateway —
every gateway whose API was created, or the one ``--pk`` names. ``--dry-run`` reads AWS and
prints which integrations would change, changing nothing.
"""

from __future__ import annotations

from typing import Any

from django.core.exceptions import ImproperlyConfigured
from django.core.management.base import CommandError, CommandParser

from wsgateway.exceptions import WsGatewayError
from wsgateway.management.commands._provisioning import ProvisioningCommand
from wsgateway.models import ApiGateway, get_gateway_secrets, integration_request_parameters
from wsgateway.provisioning.context import StepContext
from wsgateway.provisioning.secrets import stale_integrations
from wsgateway.sync import describe_error


class Command(ProvisioningCommand):
    """Put the current gateway secret on the integrations of deployed gateways, then deploy."""

    help = (
        "Put the current gateway secret on the integrations of deployed API Gateways, then deploy "
        "the stage (every gateway whose API was created, or --pk). --dry-run only reports."
    )
    operation = "rotate_secret"
    pk_required = False

    def add_arguments(self, parser: CommandParser) -> None:
        super().add_arguments(parser)
        parser.add_argument(
            "--dry-run", action="store_true", help="Show what would change without changing AWS."
        )

    def default_gateways(self) -> list[ApiGateway]:
        return list(ApiGateway.objects.filter(api_created=True).order_by("pk"))

    def handle(self, *args: Any, **options: Any) -> None:
        # A secret that cannot be written into a mapping expression stops everything before AWS.
        try:
            integration_request_parameters()
        except ValueError as err:
            raise CommandError(str(err)) from err
        if not get_gateway_secrets():
            # The reference then removed the secret header; wsgateway requires one (see conf).
            raise CommandError("WSGATEWAY['GATEWAY_SECRETS'] is empty: integrations must carry a secret.")
        if options["pk"] is None:
            gateways = self.default_gateways()
        else:
            gateways = list(ApiGateway.objects.filter(api_created=True, pk=options["pk"]))
            if not gateways:
                raise CommandError(f"No ApiGateway with pk {options['pk']} whose API was created.")
        failed = []
        for gateway in gateways:
            try:
                if options["dry_run"]:
                    self.report(gateway)
                else:
                    self.handle_gateway(gateway, options)
            except (CommandError, WsGatewayError, ImproperlyConfigured) as err:
                # One gateway's failure is reported; the others still run.
                self.stderr.write(f"{gateway.api_name}: {err}")
                failed.append(gateway.api_name)
        if failed:
            raise CommandError(f"Failed for: {', '.join(failed)}")

    def report(self, gateway: ApiGateway) -> None:
        """Print, per integration the gateway owns, whether it would be updated (the secret never)."""
        try:
            stale = stale_integrations(StepContext(gateway=gateway, run_id=""))
        except WsGatewayError as err:
            raise CommandError(describe_error(err)) from err
        if not stale:
            self.stdout.write(f"{gateway.api_name}: every integration is up to date")
        for integration_id, _ in stale:
            self.stdout.write(f"{gateway.api_name}: would update {integration_id}")
