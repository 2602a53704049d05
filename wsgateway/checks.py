"""System checks with stable ids.

- ``wsgateway.E001`` no AWS region configured.
- ``wsgateway.E002`` no gateway secret outside DEBUG (anyone reaching Django could forge events).
- ``wsgateway.E003`` malformed ``WSGATEWAY`` settings (unknown key, wrong type, out of range).
- ``wsgateway.E004`` half-configured AWS credentials.
- ``wsgateway.W001`` no allowed origins outside DEBUG (browsers cannot connect).
- ``wsgateway.W002`` the broker's visibility timeout is shorter than the longest task countdown.
- ``wsgateway.W003`` tokens are deleted before they expire.
- ``wsgateway.W004`` (deploy) a routed ``WebSocketView`` lets anyone join channels without a rule.
- ``wsgateway.W005`` (deploy) a routed view without ``ALLOWED_HANDLERS`` exposes its methods.
- ``wsgateway.E005`` a gateway secret or ``WEBSOCKETS`` value wsgateway cannot use.
- ``wsgateway.W006`` a setting is in both ``WSGATEWAY`` and the reference's ``WEBSOCKETS``.
- ``wsgateway.W007`` an unknown ``WEBSOCKETS`` key (it is ignored).
- ``wsgateway.W008`` a routed view lists handler names no message can ever run.

The reference package's checks map onto these (its ids -> ours; docs/migrating.md):
E001 -> E005, W001 -> E002 (an error outside DEBUG here), E002 -> E005, W002 -> W007,
W003 -> E001 (an error here), W004 -> W004, W005 -> W005. Its check functions keep their names:
``check_gateway_secret_format``, ``check_gateway_secret_is_set``, ``check_websockets_setting``,
``check_aws_region_is_set``, ``check_unlisted_channels_are_refused``, ``check_handlers_are_listed``.
"""

from __future__ import annotations

from typing import Any

from django.conf import settings
from django.core import checks
from django.urls import URLPattern, URLResolver, get_resolver

from wsgateway.conf import (
    GATEWAY_SECRET_PATTERN,
    KNOWN_KEYS,
    SETTINGS,
    aws_setting,
    settings_set_in_both,
    validate_settings,
    websockets_value_problem,
    wsgateway_settings,
)


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
    if not settings.DEBUG and not problems and not wsgateway_settings.gateway_secrets:
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


def check_websockets_setting(app_configs: Any = None, **kwargs: Any) -> list[checks.CheckMessage]:
    """The reference's ``WEBSOCKETS`` dict: E005 for a value that falls back, W005 for a typo, W004 for
    a setting ``WSGATEWAY`` overrides.  Messages name keys, never values (one may be a secret)."""
    configured = getattr(settings, "WEBSOCKETS", None)
    if configured is None:
        return []
    if not isinstance(configured, dict):
        return [checks.Error("WEBSOCKETS must be a dictionary.", id="wsgateway.E005")]
    messages: list[checks.CheckMessage] = []
    for name in sorted(configured.keys() & (KNOWN_KEYS - {"gateway_secret"})):  # the secret: below
        problem = websockets_value_problem(name, configured[name])
        if problem:
            messages.append(
                checks.Error(problem, hint="The default is used until it is fixed.", id="wsgateway.E005")
            )
    for name in sorted(set(configured) - KNOWN_KEYS, key=str):
        messages.append(
            checks.Warning(
                f'WEBSOCKETS has an unknown key "{name}", which is ignored.',
                hint="Known keys: " + ", ".join(sorted(KNOWN_KEYS)),
                id="wsgateway.W007",
            )
        )
    for name in settings_set_in_both():
        messages.append(
            checks.Warning(
                f'WEBSOCKETS["{name}"] is ignored: WSGATEWAY sets the same setting.',
                hint="Keep one of the two; WSGATEWAY wins.",
                id="wsgateway.W006",
            )
        )
    return messages


def check_gateway_secret_format(app_configs: Any = None, **kwargs: Any) -> list[checks.CheckMessage]:
    """E005: a gateway secret that cannot be written into the integrations' static mapping.

    ``WEBSOCKETS["gateway_secret"]`` must match the reference's rule (32+ characters of
    ``A-Z a-z 0-9 . _ ~ + / = -``); a ``WSGATEWAY["GATEWAY_SECRETS"]`` entry must not contain a quote
    or whitespace, which would change the mapping expression. Messages never show a secret.
    """
    messages: list[checks.CheckMessage] = []
    websockets = getattr(settings, "WEBSOCKETS", None)
    if isinstance(websockets, dict) and "gateway_secret" in websockets:
        problem = websockets_value_problem("gateway_secret", websockets["gateway_secret"])
        if problem:
            messages.append(
                checks.Error(
                    problem,
                    hint="Strip the newline from a secret read from a file.",
                    id="wsgateway.E005",
                )
            )
    raw = getattr(settings, "WSGATEWAY", None)
    secrets = raw.get("GATEWAY_SECRETS") if isinstance(raw, dict) else None
    if isinstance(secrets, list | tuple) and any(
        isinstance(secret, str) and any(c in secret for c in "'\" \t\r\n") for secret in secrets
    ):
        messages.append(
            checks.Error(
                "A WSGATEWAY['GATEWAY_SECRETS'] entry contains a quote or whitespace.",
                hint=f"Use characters matching {GATEWAY_SECRET_PATTERN.pattern}; strip trailing newlines.",
                id="wsgateway.E005",
            )
        )
    return messages


def check_gateway_secret_is_set(app_configs: Any = None, **kwargs: Any) -> list[checks.CheckMessage]:
    """The reference's name for the missing-secret check: ``wsgateway.E002`` of :func:`check_settings`."""
    return [message for message in check_settings(app_configs) if message.id == "wsgateway.E002"]


#: The reference's name for :func:`check_region` (``wsgateway.E001``).
check_aws_region_is_set = check_region


def _url_patterns() -> list[URLPattern]:
    """Every URL pattern of the project, through nested includes."""
    found: list[URLPattern] = []
    pending: list[Any] = list(get_resolver().url_patterns)
    while pending:
        pattern = pending.pop(0)
        if isinstance(pattern, URLResolver):
            pending.extend(pattern.url_patterns)
        elif isinstance(pattern, URLPattern):
            found.append(pattern)
    return found


def _routed_view_classes() -> list[type]:
    """The ``WebSocketView`` classes the project routes, each once."""
    from wsgateway.views import WebSocketView

    views: list[type] = []
    for pattern in _url_patterns():
        view_class = getattr(pattern.callback, "view_class", None)
        if isinstance(view_class, type) and issubclass(view_class, WebSocketView) and view_class not in views:
            views.append(view_class)
    return views


def _routed_views_allowing_unlisted_channels() -> list[type]:
    return [view for view in _routed_view_classes() if getattr(view, "ALLOW_UNLISTED_CHANNELS", False)]


def check_unlisted_channels_are_refused(app_configs: Any = None, **kwargs: Any) -> list[checks.CheckMessage]:
    """W004 (deploy): a routed view lets anyone who can connect join a channel that has no rule."""
    return [
        checks.Warning(
            f"{view.__module__}.{view.__qualname__} allows channels that have no ChannelPermission row.",
            hint=(
                "A mistyped or forgotten channel name is open to everyone who can connect. Set "
                "ALLOW_UNLISTED_CHANNELS = False on the view and add an 'Allow all' row for each "
                "public channel."
            ),
            id="wsgateway.W004",
        )
        for view in _routed_views_allowing_unlisted_channels()
    ]


def check_handlers_are_listed(app_configs: Any = None, **kwargs: Any) -> list[checks.CheckMessage]:
    """W005 (deploy): a routed view without ``ALLOWED_HANDLERS`` exposes its own request-style methods."""
    from wsgateway.views import WebSocketView
    from wsgateway.views.handlers import automatic_handlers

    messages: list[checks.CheckMessage] = []
    for view in _routed_view_classes():
        exposed = sorted(automatic_handlers(view, WebSocketView))
        if getattr(view, "ALLOWED_HANDLERS", None) or not exposed:
            continue
        messages.append(
            checks.Warning(
                f"{view.__module__}.{view.__qualname__} has no ALLOWED_HANDLERS, so clients can call "
                f"{', '.join(exposed)}.",
                hint=(
                    "Set ALLOWED_HANDLERS (or allowed_handlers) to the names clients may call, or register "
                    "handlers with @handler: every (self, request, ...) method added later becomes callable."
                ),
                id="wsgateway.W005",
            )
        )
    return messages


def check_handler_names(app_configs: Any = None, **kwargs: Any) -> list[checks.CheckMessage]:
    """W008: a routed view lists handler names that are part of the view or private (never run)."""
    from wsgateway.views import WebSocketView
    from wsgateway.views.handlers import unusable_listed_names

    messages: list[checks.CheckMessage] = []
    for view in _routed_view_classes():
        names = unusable_listed_names(view, WebSocketView)
        if names:
            messages.append(
                checks.Warning(
                    f"{view.__module__}.{view.__qualname__} lists {', '.join(names)} as handlers; no "
                    "message can run them (they start with '_' or are part of the view).",
                    hint="Name the methods differently and register the message names with @handler('name').",
                    id="wsgateway.W008",
                )
            )
    return messages


def check_token_retention(app_configs: Any = None, **kwargs: Any) -> list[checks.CheckMessage]:
    """W003: the token cleanup must not delete tokens that are still valid."""
    if validate_settings():
        return []  # E003 reports the settings first
    retention = wsgateway_settings.TOKEN_RETENTION_SECONDS
    max_age = wsgateway_settings.TOKEN_MAX_AGE_SECONDS  # WEBSOCKETS["token_expiry_seconds"] counts too
    if retention < max_age:
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
        check_websockets_setting,
        check_gateway_secret_format,
        check_credentials,
        check_visibility_timeout,
        check_token_retention,
        check_handler_names,
    ):
        checks.register(check, "wsgateway")
    for check in (check_unlisted_channels_are_refused, check_handlers_are_listed):
        checks.register(check, "wsgateway", deploy=True)
