"""Shared base of the provisioning commands: ``--pk``, ``--wait`` (follow the chain step by step,
bounded by ``--timeout``) and ``--here`` (run the steps in this process, without a worker)."""

from __future__ import annotations

import json
import time
from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser

from wsgateway import provisioning
from wsgateway.exceptions import ProvisioningError
from wsgateway.models import ApiGateway
from wsgateway.payloads import StepResult
from wsgateway.provisioning.chains import ProvisioningHandle
from wsgateway.provisioning.errors import LockBusy
from wsgateway.provisioning.runner import STOP


class ProvisioningCommand(BaseCommand):
    """Enqueue one operation on one gateway; optionally follow or run it here."""

    operation = ""
    #: Commands for which ``--pk`` is optional run on :meth:`default_gateways` without it.
    pk_required = True

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument(
            "--pk",
            type=int,
            required=self.pk_required,
            help="Primary key of the ApiGateway row"
            + ("." if self.pk_required else " (default: every gateway whose API was created)."),
        )
        parser.add_argument("--wait", action="store_true", help="Follow the chain and print each step.")
        parser.add_argument(
            "--timeout", type=float, default=300.0, help="Seconds --wait follows the chain (default 300)."
        )
        parser.add_argument(
            "--here", action="store_true", help="Run the steps in this process instead of on a worker."
        )

    def operation_for(self, options: dict[str, Any]) -> str:
        """The operation to run (commands with flags choose between several)."""
        return self.operation

    def enqueue(self, operation: str, gateway: ApiGateway) -> ProvisioningHandle:
        """Enqueue ``operation`` (commands override for special entry points)."""
        return provisioning.enqueue(operation, gateway.pk)

    def default_gateways(self) -> list[ApiGateway]:
        """The gateways a command with an optional ``--pk`` runs on when none is given."""
        return list(ApiGateway.objects.filter(api_created=True).order_by("pk"))

    def get_gateway(self, pk: int) -> ApiGateway:
        """The row ``--pk`` names."""
        return ApiGateway.objects.get(pk=pk)

    def handle(self, *args: Any, **options: Any) -> None:
        if options["pk"] is None:
            for gateway in self.default_gateways():
                self.handle_gateway(gateway, options)
            return
        try:
            gateway = self.get_gateway(options["pk"])
        except ApiGateway.DoesNotExist:
            raise CommandError(f"No ApiGateway with pk {options['pk']}.") from None
        self.handle_gateway(gateway, options)

    def check_gateway(self, gateway: ApiGateway) -> None:
        """Raise ``CommandError`` when the operation does not apply to ``gateway`` (nothing is run)."""

    def handle_gateway(self, gateway: ApiGateway, options: dict[str, Any]) -> None:
        """Enqueue (or with ``--here`` run) the operation on one gateway."""
        self.check_gateway(gateway)
        operation = self.operation_for(options)
        if options["here"]:
            self.run_here(operation, gateway, options["timeout"])
            return
        try:
            handle = self.enqueue(operation, gateway)
        except (ValueError, ProvisioningError) as err:
            raise CommandError(str(err)) from err
        self.stdout.write(f"Queued {operation} of gateway {gateway.pk} ({gateway}): run {handle.run_id}")
        if options["wait"]:
            self.follow(handle, options["timeout"])

    def _print(self, result: StepResult) -> None:
        extra = {k: v for k, v in result.items() if k not in ("run_id", "gateway", "step", "result", STOP)}
        details = f" {json.dumps(extra, default=str)}" if extra and extra != {"differences": []} else ""
        self.stdout.write(f"  {result.get('step')}: {result.get('result')}{details}")

    def run_here(self, operation: str, gateway: ApiGateway, timeout: float) -> None:
        """Run the whole operation in this process, printing each step."""
        self.stdout.write(f"Running {operation} of gateway {gateway.pk} ({gateway}) here")
        try:
            results = provisioning.run_inline(operation, gateway.pk, on_step=self._print, max_wait=timeout)
        except LockBusy as err:
            raise CommandError(str(err)) from err
        except Exception as err:
            raise CommandError(f"{operation} failed: {err}") from err
        self._conclude(results[-1])

    def follow(self, handle: ProvisioningHandle, timeout: float) -> None:
        """Print each step's result as the worker finishes it (bounded by ``timeout``)."""
        deadline = time.monotonic() + timeout
        results = handle.step_results()
        index, last = 0, None
        while index < len(results):
            if time.monotonic() > deadline:
                raise CommandError(f"Gave up waiting after {timeout:.0f}s at step {handle.steps[index]}.")
            current = results[index]
            if not current.ready():
                time.sleep(0.1)
                continue
            if current.failed():
                row = (
                    ApiGateway.objects.filter(pk=handle.gateway_pk)
                    .values_list("last_error", flat=True)
                    .first()
                )
                raise CommandError(f"{handle.steps[index]} failed: {row or current.result}")
            last = current.result
            self._print(last)
            if last.get(STOP):
                raise CommandError(f"{handle.operation} did not run: {last.get('message')}")
            index += 1
        if last is not None:
            self._conclude(last)

    def _conclude(self, last: StepResult) -> None:
        if last.get(STOP):
            raise CommandError(str(last.get("message")))
        for difference in last.get("differences", []):
            self.stdout.write(
                f"  differs: {difference['field']}: row={difference['row']!r} aws={difference['aws']!r}"
            )
        self.stdout.write(self.style.SUCCESS("Done."))
