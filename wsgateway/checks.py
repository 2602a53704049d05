"""System checks with stable ids.

- ``wsgateway.E001`` no AWS region configured.
- ``wsgateway.E002`` no gateway secret outside DEBUG (anyone reaching Django could forge events).
- ``wsgateway.E003`` malformed ``WSGATEWAY`` settings (unknown key, wrong type, out of range).
- ``wsgateway.E004`` half-configured AWS credentials.
- ``wsgateway.W001`` no allowed origins outside DEBUG (browsers cannot connect).
- ``wsgateway.W002`` the broker's visibility timeout is shorter than the longest task countdown.
- ``wsgateway.W003`` tokens are deleted before they expire.
"""

from __future__ import annotations

from typing import Any

from django.conf import settings
from django.core import checks

from wsgateway.conf import SETTINGS, aws_setting, validate_settings


def check_region(app_configs: Any = None, **kwargs: Any) -> list[checks.CheckMessage]:
    """E001: provisioning and fan-out need a region."""
    if aws_setting("AWS_GATEWAY_REGION_NAME") or aws_setting("AWS_REGION_NAME"):
        return []
    return [
        checks.Error(
            "No AWS region is configured for wsgateway.",
            hint="Set AWS_GATEWAY_REGION_NAME (or AWS_REGION_NAME) in settings, e.g. 'eu-west-1'.",
            id="wsgateway.E001",
        )
    ]


def check_settings(app_configs: Any = None, **kwargs: Any) -> list[checks.CheckMessage]:
    """E003 for each problem in ``WSGATEWAY``; E002 for a missing secret outside DEBUG."""
    problems = validate_settings()
    messages: list[checks.CheckMessage] = [
        checks.Error(
            problem, hint="See wsgateway.conf.SETTINGS for the keys and defaults.", id="wsgateway.E003"
        )
        for problem in problems
    ]
    raw = getattr(settings, "WSGATEWAY", None)
    raw = raw if isinstance(raw, dict) else {}
    secrets = raw.get("GATEWAY_SECRETS", SETTINGS["GATEWAY_SECRETS"].default)
    if not settings.DEBUG and not (isinstance(secrets, list | tuple) and secrets):
        messages.append(
            checks.Error(
                "No gateway secret is configured: anyone who can reach Django can forge WebSocket events.",
                hint="Set WSGATEWAY['GATEWAY_SECRETS'] = ['<long random string>'] and re-provision the API.",
                id="wsgateway.E002",
            )
        )
    origins = raw.get("ALLOWED_ORIGINS", [])
    if not settings.DEBUG and isinstance(origins, list | tuple) and not origins:
        messages.append(
            checks.Warning(
                "WSGATEWAY['ALLOWED_ORIGINS'] is empty: browsers will not be able to connect.",
                hint="List the exact origins of your pages, e.g. ['https://www.example.com'].",
                id="wsgateway.W001",
            )
        )
    return messages


def check_token_retention(app_configs: Any = None, **kwargs: Any) -> list[checks.CheckMessage]:
    """W003: the token cleanup must not delete tokens that are still valid."""
    raw = getattr(settings, "WSGATEWAY", None)
    raw = raw if isinstance(raw, dict) else {}
    retention = raw.get("TOKEN_RETENTION_SECONDS", SETTINGS["TOKEN_RETENTION_SECONDS"].default)
    max_age = raw.get("TOKEN_MAX_AGE_SECONDS", SETTINGS["TOKEN_MAX_AGE_SECONDS"].default)
    if isinstance(retention, int | float) and isinstance(max_age, int | float) and retention < max_age:
        return [
            checks.Warning(
                f"TOKEN_RETENTION_SECONDS ({retention}) is shorter than TOKEN_MAX_AGE_SECONDS ({max_age}): "
                "the cleanup deletes tokens that are still valid.",
                hint="Keep tokens at least as long as they are valid.",
                id="wsgateway.W003",
            )
        ]
    return []


def check_credentials(app_configs: Any = None, **kwargs: Any) -> list[checks.CheckMessage]:
    """E004: an access key id without its secret (or the reverse) is a configuration mistake."""
    if bool(aws_setting("AWS_ACCESS_KEY_ID")) == bool(aws_setting("AWS_SECRET_ACCESS_KEY")):
        return []
    return [
        checks.Error(
            "Only one of AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY is set.",
            hint="Set both, or neither to use AWS_IAM_PROFILE or the instance role.",
            id="wsgateway.E004",
        )
    ]


def check_visibility_timeout(app_configs: Any = None, **kwargs: Any) -> list[checks.CheckMessage]:
    """W002: Redis redelivers unacked tasks after the visibility timeout; retries wait longer than that."""
    broker = str(getattr(settings, "CELERY_BROKER_URL", "") or "")
    if not broker.startswith(("redis://", "rediss://", "redis+socket://")):
        return []
    options = getattr(settings, "CELERY_BROKER_TRANSPORT_OPTIONS", {}) or {}
    timeout = options.get("visibility_timeout", 3600)
    raw = getattr(settings, "WSGATEWAY", None)
    raw = raw if isinstance(raw, dict) else {}
    # The longest countdown any task may use: fan-out retries and the control-plane spacing waits.
    countdowns = [
        raw.get(key, SETTINGS[key].default)
        for key in (
            "FANOUT_RETRY_BACKOFF_MAX_SECONDS",
            "DEPLOYMENT_INTERVAL_SECONDS",
            "DOMAIN_NAME_INTERVAL_SECONDS",
        )
    ]
    longest = max((c for c in countdowns if isinstance(c, int | float)), default=0)
    if isinstance(timeout, int | float) and timeout <= longest:
        return [
            checks.Warning(
                f"The broker visibility_timeout ({timeout}s) does not exceed the longest task countdown "
                f"({longest}s).",
                hint="Raise CELERY_BROKER_TRANSPORT_OPTIONS['visibility_timeout'], or tasks run twice.",
                id="wsgateway.W002",
            )
        ]
    return []


def register() -> None:
    """Register the checks (called from ``AppConfig.ready``)."""
    for check in (
        check_region,
        check_settings,
        check_credentials,
        check_visibility_timeout,
        check_token_retention,
    ):
        checks.register(check, "wsgateway")
