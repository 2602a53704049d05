"""System checks against secrets everyone knows.

- ``wsgateway.E010`` ``SECRET_KEY`` (or one of ``SECRET_KEY_FALLBACKS``), a gateway secret or
  ``AWS_SECRET_ACCESS_KEY`` is a value this project ships (:mod:`wsgateway.shipped_secrets`):
  anyone could forge sessions, signed cookies or WebSocket events with it.
- ``wsgateway.W010`` the same, in an explicit demo mode (``settings.WSGATEWAY_DEMO = True``, set
  by the demo project when ``WSGATEWAY_DEMO=1``): allowed, and said on every command.
- ``wsgateway.E011`` (``check --deploy`` only) demo mode is on: a deployment never runs in it;
  under ``--deploy`` a shipped secret is ``E010`` even in demo mode.

Registered by :mod:`wsgateway.apps` next to the checks of :mod:`wsgateway.checks`.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from typing import Any

from django.conf import settings
from django.core import checks

from wsgateway.shipped_secrets import is_shipped


def _configured_secrets() -> Iterator[str]:
    """The names of the configured settings whose value is a shipped secret."""
    if is_shipped(getattr(settings, "SECRET_KEY", "")):
        yield "SECRET_KEY"
    for fallback in getattr(settings, "SECRET_KEY_FALLBACKS", None) or ():
        if is_shipped(fallback):
            yield "SECRET_KEY_FALLBACKS"
            break
    raw = getattr(settings, "WSGATEWAY", None)
    gateway_secrets = raw.get("GATEWAY_SECRETS") if isinstance(raw, dict) else None
    if isinstance(gateway_secrets, list | tuple) and any(is_shipped(s) for s in gateway_secrets):
        yield "WSGATEWAY['GATEWAY_SECRETS']"
    # boto3 reads the environment when settings name no credentials; the emulator off loopback
    # verifies signatures with exactly these, so a public one lets anyone drive it.
    aws_secret = getattr(settings, "AWS_SECRET_ACCESS_KEY", None) or os.environ.get("AWS_SECRET_ACCESS_KEY")
    if is_shipped(aws_secret):
        yield "AWS_SECRET_ACCESS_KEY"


def _demo_mode() -> bool:
    return getattr(settings, "WSGATEWAY_DEMO", False) is True


def _shipped_error(names: list[str]) -> checks.CheckMessage:
    return checks.Error(
        f"{', '.join(names)} {'is' if len(names) == 1 else 'are'} set to a value this project publishes "
        "(demo, docker-compose or documentation defaults): anyone can forge what it protects.",
        hint='Generate each with: python -c "import secrets; print(secrets.token_urlsafe(50))" '
        "(re-provision the API after changing a gateway secret). See docs/security.md.",
        id="wsgateway.E010",
    )


def check_shipped_secrets(app_configs: Any = None, **kwargs: Any) -> list[checks.CheckMessage]:
    """E010 for a shipped secret; only W010 in the explicit demo mode."""
    names = list(_configured_secrets())
    if not names:
        return []
    if _demo_mode():
        return [
            checks.Warning(
                f"DEMO MODE: {', '.join(names)} use public demo values. Never expose this instance.",
                hint="Unset WSGATEWAY_DEMO and set your own secrets for anything but a local demo.",
                id="wsgateway.W010",
            )
        ]
    return [_shipped_error(names)]


def check_deploy_safety(app_configs: Any = None, **kwargs: Any) -> list[checks.CheckMessage]:
    """``check --deploy``: E011 in demo mode, E010 for a shipped secret whatever the mode."""
    messages: list[checks.CheckMessage] = []
    if _demo_mode():
        messages.append(
            checks.Error(
                "Demo mode (WSGATEWAY_DEMO) is on: it allows public secrets and is for a local demo only.",
                hint="Unset WSGATEWAY_DEMO and configure SECRET_KEY and the gateway secrets.",
                id="wsgateway.E011",
            )
        )
        names = list(_configured_secrets())
        if names:  # outside demo mode check_shipped_secrets already reports them
            messages.append(_shipped_error(names))
    return messages


def register() -> None:
    """Register the checks (called from ``AppConfig.ready``)."""
    checks.register(check_shipped_secrets, "wsgateway", checks.Tags.security)
    checks.register(check_deploy_safety, "wsgateway", checks.Tags.security, deploy=True)
