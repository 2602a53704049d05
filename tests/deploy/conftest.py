"""Fixtures of the deployment tests: the provisioning fixtures (emulator control plane, moto for
Route 53 and IAM) and a helper that runs a management command and keeps its output."""

from __future__ import annotations

from io import StringIO

from django.core.management import CommandError, call_command

from tests.provisioning.conftest import (  # noqa: F401  (fixtures)
    CERT_ARN,
    add_chat_route,
    aws,
    gateway,
    hosted_zone,
    moto_server,
    wsgateway_overrides,
)


def run(name: str, *args: str) -> str:
    """Run a management command; return what it printed."""
    out = StringIO()
    call_command(name, *args, stdout=out)
    return out.getvalue()


def run_failing(name: str, *args: str) -> tuple[str, CommandError]:
    """Run a management command that must fail; return its output and the error."""
    out = StringIO()
    try:
        call_command(name, *args, stdout=out)
    except CommandError as err:
        return out.getvalue(), err
    raise AssertionError(f"{name} {' '.join(args)} succeeded:\n{out.getvalue()}")


__all__ = ["CERT_ARN", "add_chat_route", "run", "run_failing", "wsgateway_overrides"]
