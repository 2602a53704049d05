"""``manage.py checkApiGateway --pk N [--round-trip --user NAME]``: is the gateway deployed as the
row says, and does a message make it through?

Prints one line per difference between the row and what AWS (or the emulator) serves (see
:mod:`wsgateway.provisioning.check`; nothing is written), then, with ``--round-trip``, the time of
each stage of a real round trip (see :mod:`wsgateway.roundtrip`). Exits non-zero when anything
differs or a stage fails.
"""

from __future__ import annotations

from typing import Any

from django.contrib.auth import get_user_model
from django.core.exceptions import ImproperlyConfigured
from django.core.management.base import BaseCommand, CommandError, CommandParser

from wsgateway.aws import apigatewayv2_client, route53_client
from wsgateway.exceptions import AwsError
from wsgateway.models import ApiGateway
from wsgateway.provisioning.check import check_gateway
from wsgateway.provisioning.errors import QuotaWait
from wsgateway.roundtrip import RoundTripFailed, Stage, round_trip


class Command(BaseCommand):
    """Compare a gateway row with AWS; optionally run a timed connect/message/broadcast round trip."""

    help = "Report every difference between a gateway row and AWS; --round-trip sends a message through it."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--pk", type=int, required=True, help="Primary key of the ApiGateway row.")
        parser.add_argument(
            "--round-trip",
            action="store_true",
            help="Also connect to the stage URL, send a message and receive a broadcast (needs --user).",
        )
        parser.add_argument("--user", help="Username the round trip connects as (a token is issued to it).")
        parser.add_argument("--origin", help="Origin header of the handshake (default: ALLOWED_ORIGINS[0]).")
        parser.add_argument(
            "--no-cookie",
            action="store_true",
            help="Send no session cookie, as a browser on the default execute-api host does.",
        )
        parser.add_argument(
            "--timeout", type=float, default=10.0, help="Seconds each stage may take (default 10)."
        )

    def handle(self, *args: Any, **options: Any) -> None:
        try:
            gateway = ApiGateway.objects.get(pk=options["pk"])
        except ApiGateway.DoesNotExist:
            raise CommandError(f"No ApiGateway with pk {options['pk']}.") from None
        user = self._user(options) if options["round_trip"] else None
        problems = self.compare(gateway)
        if user is not None:
            problems += self.travel(gateway, user, options)
        if problems:
            raise CommandError(f"gateway {gateway.pk}: {problems} problem(s), listed above.")
        self.stdout.write(self.style.SUCCESS(f"Gateway {gateway.pk} matches AWS."))

    def _user(self, options: dict[str, Any]) -> Any:
        if not options["user"]:
            raise CommandError("--round-trip needs --user NAME: the connection is opened as that user.")
        model = get_user_model()
        try:
            return model._default_manager.get_by_natural_key(options["user"])
        except model.DoesNotExist:
            raise CommandError(f"No user {options['user']!r}.") from None

    def compare(self, gateway: ApiGateway) -> int:
        """Print the differences; return how many there are."""
        self.stdout.write(f"Checking gateway {gateway.pk} ({gateway}) against AWS")
        try:
            route53 = route53_client() if gateway.hosted_zone_id else None
            differences = check_gateway(gateway, apigatewayv2_client(), route53)
        except (AwsError, ImproperlyConfigured) as err:
            raise CommandError(f"Could not read the gateway from AWS: {err}") from err
        except QuotaWait as err:
            raise CommandError(f"The control-plane quota is busy ({err}); try again shortly.") from err
        for difference in differences:
            self.stdout.write(f"  differs: {difference.line()}")
        if not differences:
            self.stdout.write("  API, routes, integrations, stage, deployment and domain match the row.")
        return len(differences)

    def travel(self, gateway: ApiGateway, user: Any, options: dict[str, Any]) -> int:
        """Run the round trip, printing each stage's time; return 1 if a stage failed."""
        self.stdout.write(f"Round trip through {gateway.websocket_url or '(no endpoint)'} as {user}")
        try:
            stages = round_trip(
                gateway,
                user,
                origin=options["origin"],
                send_cookie=not options["no_cookie"],
                timeout=options["timeout"],
            )
        except RoundTripFailed as failed:
            self._print(failed.stages)
            self.stdout.write(f"  {failed.stage}: FAILED: {failed.reason}")
            return 1
        self._print(stages)
        total = sum(stage.seconds for stage in stages)
        self.stdout.write(f"  total: {total:.3f}s")
        return 0

    def _print(self, stages: list[Stage]) -> None:
        for stage in stages:
            detail = f"  {stage.detail}" if stage.detail else ""
            self.stdout.write(f"  {stage.name}: {stage.seconds:.3f}s{detail}")
