"""``manage.py demo_setup``: the demo's users and gateway, and its provisioning.

::

    manage.py demo_setup --target-url http://127.0.0.1:8000/ws/ --password s3cret
    manage.py demo_setup --provision --timeout 60

The first form (run before the web server starts) creates or updates the users ``alice`` and
``bob`` (staff superusers, so the admin shows sessions and gateways) with ``--password``, and the
demo's ``ApiGateway`` row pointing at ``--target-url``. The emulator starts empty on every demo
run, so a row left by an earlier run has its AWS ids cleared (and its sessions closed) here:
provisioning then creates a fresh API instead of resuming one that no longer exists.

The second form (run once a worker consumes the ``provisioning`` queue) calls
``ApiGateway.create_gateway()``, which enqueues the real provisioning chain, and waits until the
row says ``provisioned`` (exit 0) or ``failed`` / the timeout (exit 1, with the row's last error).
"""

from __future__ import annotations

import time
from typing import Any

from django.contrib.auth import get_user_model
from django.core.management.base import BaseCommand, CommandError, CommandParser
from django.db import transaction
from django.utils import timezone

from worker.chat import DEMO_API_NAME
from wsgateway.models import ApiGateway, ProvisioningStatus, WebSocketSession

DEMO_USERS = ("alice", "bob")
# Fields the provisioning chain fills in from AWS; everything after api_id in the model.
_USER_FIELDS = frozenset({"id", "created_on", "updated_on"})


def _aws_state_fields() -> list[Any]:
    fields = list(ApiGateway._meta.concrete_fields)
    start = next(i for i, field in enumerate(fields) if field.name == "api_id")
    return [f for f in fields[start:] if f.name not in _USER_FIELDS]


class Command(BaseCommand):
    """Create the demo's users and gateway row, or provision the gateway and wait."""

    help = "Create the demo users and ApiGateway row (--target-url), or provision it (--provision)."

    def add_arguments(self, parser: CommandParser) -> None:
        """Command-line options."""
        parser.add_argument(
            "--target-url", help="base URL of the socket view, e.g. http://127.0.0.1:8000/ws/"
        )
        parser.add_argument("--password", help="password of the demo users (required with --target-url)")
        parser.add_argument("--provision", action="store_true", help="enqueue provisioning and wait")
        parser.add_argument("--timeout", type=float, default=60.0, help="seconds to wait for provisioning")

    def handle(self, *args: Any, **options: Any) -> None:
        """Run the requested steps."""
        if not options["target_url"] and not options["provision"]:
            raise CommandError("Pass --target-url (set up) and/or --provision.")
        if options["target_url"]:
            if not options["password"]:
                raise CommandError("--password is required with --target-url.")
            self.set_up(options["target_url"], options["password"])
        if options["provision"]:
            self.provision(options["timeout"])

    def set_up(self, target_url: str, password: str) -> None:
        """Users and the gateway row (fresh AWS state)."""
        user_model = get_user_model()
        with transaction.atomic():
            for name in DEMO_USERS:
                user, _ = user_model.objects.get_or_create(username=name)
                user.is_staff = user.is_superuser = user.is_active = True
                user.set_password(password)
                user.save()
            gateway = ApiGateway.objects.filter(api_name=DEMO_API_NAME).first()
            if gateway is None:
                gateway = ApiGateway(
                    api_name=DEMO_API_NAME,
                    api_description="The wsgateway demo chat",
                    default_channel_name="room-lobby",
                    stage_name="production",
                )
            for field in _aws_state_fields():
                setattr(gateway, field.attname, field.get_default())
            gateway.target_base_endpoint = target_url
            gateway.full_clean()
            gateway.save()
            now = timezone.now()
            closed = WebSocketSession.objects.filter(api_gateway=gateway, connected=True).update(
                connected=False, disconnected_at=now, updated_on=now
            )
        self.stdout.write(
            f"demo users {', '.join(DEMO_USERS)} ready; gateway {gateway.api_name!r} -> {target_url}"
            + (f" ({closed} stale sessions closed)" if closed else "")
        )

    def provision(self, timeout: float) -> None:
        """Enqueue the provisioning chain and wait for its outcome."""
        gateway = ApiGateway.objects.filter(api_name=DEMO_API_NAME).first()
        if gateway is None:
            raise CommandError("No demo gateway: run demo_setup --target-url first.")
        gateway.create_gateway()
        self.stdout.write(f"provisioning {gateway.api_name!r} on the worker…")
        deadline = time.monotonic() + timeout
        step = ""
        while time.monotonic() < deadline:
            gateway.refresh_from_db()
            if gateway.provisioning_step != step:
                step = gateway.provisioning_step
                if step:
                    self.stdout.write(f"  step: {step}")
            if gateway.provisioning_status == ProvisioningStatus.DEPLOYED and gateway.websocket_url:
                self.stdout.write(f"provisioned: api {gateway.api_id}, socket URL {gateway.websocket_url}")
                return
            if gateway.provisioning_status == ProvisioningStatus.FAILED:
                raise CommandError(f"provisioning failed: {gateway.last_error}")
            time.sleep(0.25)
        raise CommandError(
            f"provisioning did not finish in {timeout:.0f} s (status {gateway.provisioning_status!r}, "
            f"step {gateway.provisioning_step!r}, last error {gateway.last_error!r})"
        )
