"""The one settings accessor for wsgateway.

Project settings live in a ``WSGATEWAY`` dict in Django settings.  Every key has a documented
default below; unknown keys are rejected (system check ``wsgateway.E003`` and an
``ImproperlyConfigured`` on access) so a typo never silently falls back to a default.

The reference package's ``WEBSOCKETS`` dict is honoured too, with its own key names (see
``WEBSOCKETS_KEYS``) and its own leniency: a value it cannot use falls back to the default and is
reported by the system check ``wsgateway.E005``.  Where both dicts set a setting, ``WSGATEWAY``
wins (warning ``wsgateway.W006``).  The reference's functions ``get_websockets_config``,
``get_setting``, ``get_boolean_setting`` and ``get_allowed_integration_hosts`` return the values
wsgateway actually uses, whichever dict they came from.

Values are read at call time, not import time, so ``override_settings`` works in tests.

The AWS credential settings keep the top-level names the reference package uses:
``AWS_GATEWAY_REGION_NAME``, ``AWS_REGION_NAME``, ``AWS_IAM_PROFILE``, ``AWS_ACCESS_KEY_ID``,
``AWS_SECRET_ACCESS_KEY``.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass
from typing import Any

from django.conf import settings
from django.core.exceptions import ImproperlyConfigured


@dataclass(frozen=True)
class Setting:
    """A documented ``WSGATEWAY`` key: its default, accepted types and meaning."""

    default: Any
    types: tuple[type, ...]
    doc: str
    minimum: float | None = None
    nullable: bool = False


_NUMBER = (int, float)

SETTINGS: dict[str, Setting] = {
    # --- gateway → Django security (docs/architecture.md §9) ---
    "GATEWAY_SECRETS": Setting(
        [],
        (list, tuple),
        "Shared secrets API Gateway sends in SECRET_HEADER. The first is put on new integrations; "
        "all are accepted, so a secret can be rotated without downtime. Required outside DEBUG.",
    ),
    "SECRET_HEADER": Setting(
        "X-Ws-Gateway-Secret", (str,), "Header carrying the shared secret (mapped as a static value)."
    ),
    "ALLOWED_ORIGINS": Setting(
        [],
        (list, tuple),
        "Exact origins (scheme://host[:port]) allowed to open a socket. Empty: only requests "
        "without an Origin header (non-browser clients) pass, unless DEBUG is on.",
    ),
    "ALLOWED_HOSTS": Setting(
        None,
        (list, tuple),
        "Host patterns the $connect Host header must match, Django-style (wildcards, leading "
        "dots). None: use settings.ALLOWED_HOSTS.",
        nullable=True,
    ),
    "TRUSTED_PROXY_HOPS": Setting(
        1,
        (int,),
        "How many proxies you trust append to X-Forwarded-For (API Gateway appends one). The "
        "N-th entry from the right is the address the outermost trusted proxy saw: the client. "
        "0 means REMOTE_ADDR.",
        minimum=0,
    ),
    "REQUIRE_TOKEN": Setting(
        True, (bool,), "Require a one-time WebSocketToken in the $connect query string."
    ),
    "TOKEN_QUERY_PARAM": Setting("token", (str,), "Query-string parameter carrying the token."),
    "CHANNEL_QUERY_PARAM": Setting("channel", (str,), "Query-string parameter naming the channel."),
    "MAX_SUBSCRIPTIONS_PER_CONNECTION": Setting(
        100,
        (int,),
        "Channels one connection may subscribe to besides its own (the subscribe message); "
        "0 turns subscribing off.",
        minimum=0,
    ),
    "SUBSCRIPTION_CHANGES_PER_MINUTE": Setting(
        60,
        (int,),
        "subscribe/unsubscribe messages one connection may send per minute (each may broadcast a "
        "member event to a whole presence channel); more are refused with 429.",
        minimum=1,
    ),
    "PRESENCE_CHANNELS": Setting(
        [],
        (list, tuple),
        "Channel name patterns (fnmatch, e.g. 'room-*') whose members receive member_added / "
        "member_removed events. presence() answers for every channel either way.",
    ),
    "TOKEN_MAX_AGE_SECONDS": Setting(60, (int,), "Lifetime of a connect token.", minimum=1),
    "TOKEN_RATE_LIMIT_PER_MINUTE": Setting(20, (int,), "Tokens one user may obtain per minute.", minimum=1),
    "CONNECT_RATE_LIMIT_ATTEMPTS": Setting(
        20, (int,), "$connect attempts allowed per IP and per user in the window.", minimum=1
    ),
    "CONNECT_RATE_LIMIT_WINDOW_MINUTES": Setting(
        1, (int,), "Window of the $connect rate limit, in minutes.", minimum=1
    ),
    "MAX_MESSAGE_BYTES": Setting(
        128 * 1024, (int,), "Largest message body accepted and sent (API Gateway: 128 KiB).", minimum=1
    ),
    "GATEWAY_CACHE_SECONDS": Setting(
        30, _NUMBER, "How long the view caches an ApiGateway lookup by API id.", minimum=0
    ),
    # --- what saving a row does in AWS ---
    "PUSH_CHANGES_TO_AWS": Setting(
        True,
        (bool,),
        "Saving or deleting a provisioned gateway or route enqueues the matching change in AWS. "
        "False: only the rows change (push_to_aws= on save()/delete() still wins).",
    ),
    "ALLOWED_INTEGRATION_HOSTS": Setting(
        [],
        (list, tuple),
        "Host names a gateway's target endpoint may point at ('*.example.com' matches the "
        "sub-domains only). Empty: any host.",
    ),
    # --- AWS endpoints ---
    "ENDPOINT_URLS": Setting(
        {},
        (dict,),
        "Endpoint URL per boto3 service name, e.g. {'apigatewayv2': 'http://127.0.0.1:4510'} to "
        "point everything at the local emulator.",
    ),
    "MANAGEMENT_ENDPOINT_OVERRIDES": Setting(
        {},
        (dict,),
        "Custom-domain host -> base URL to connect to instead (the Host header keeps the domain); "
        "for running custom domains against a local emulator.",
    ),
    # --- fan-out and retries (docs/architecture.md §5, §6) ---
    "GONE_GRACE_SECONDS": Setting(
        10,
        _NUMBER,
        "A 410 for a session younger than this is retried (its $connect may be in flight).",
        minimum=0,
    ),
    "FANOUT_CHUNK_SIZE": Setting(
        250,
        (int,),
        "Connections per fan-out chunk task for a plan's first FANOUT_LARGE_CHUNK_SIZE recipients.",
        minimum=1,
    ),
    "FANOUT_LARGE_CHUNK_SIZE": Setting(
        1000,
        (int,),
        "Connections per chunk task once a plan has cut this many recipients into chunks of "
        "FANOUT_CHUNK_SIZE: fewer tasks per recipient for large broadcasts (each task costs the "
        "worker a fixed amount), small ones keep their small chunks. 0: every chunk FANOUT_CHUNK_SIZE.",
        minimum=0,
    ),
    "FANOUT_CONCURRENCY": Setting(
        64, (int,), "Requests in flight per chunk to the management API.", minimum=1
    ),
    "FANOUT_MAX_RETRIES": Setting(
        5, (int,), "Retries of a connection after 429/5xx/timeouts before it counts as failed.", minimum=0
    ),
    "FANOUT_RETRY_BACKOFF_SECONDS": Setting(
        1.0, _NUMBER, "First retry delay; doubles each attempt, with full jitter.", minimum=0
    ),
    "FANOUT_RETRY_BACKOFF_MAX_SECONDS": Setting(
        60.0, _NUMBER, "Cap on one retry delay (below the broker's visibility timeout).", minimum=0
    ),
    "FANOUT_REQUEST_TIMEOUT_SECONDS": Setting(
        10.0, _NUMBER, "Timeout of one @connections request.", minimum=0.001
    ),
    "ACCOUNT_REQUESTS_PER_SECOND": Setting(
        10000,
        _NUMBER,
        "Account-wide API Gateway request budget shared by all workers (Redis token bucket).",
        minimum=1,
    ),
    "ACCOUNT_BURST": Setting(5000, _NUMBER, "Burst size of the shared token bucket.", minimum=1),
    "REDIS_URL": Setting(
        None,
        (str,),
        "Redis used by the shared rate limiter. None: CELERY_BROKER_URL when it is a redis URL, "
        "else redis://127.0.0.1:6379/0.",
        nullable=True,
    ),
    # --- recovery across reconnects (docs/recovery.md) ---
    "RECOVERY_WINDOW_SECONDS": Setting(
        120,
        _NUMBER,
        "How long each channel keeps its messages for clients that reconnect (a Redis stream per "
        "channel). 0 turns recovery off: channel messages are neither kept nor stamped.",
        minimum=0,
    ),
    "RECOVERY_MAX_MESSAGES": Setting(
        5000, (int,), "Most messages one channel keeps, whatever their age (oldest dropped first).", minimum=1
    ),
    "RECOVERY_MAX_BYTES": Setting(
        4 * 1024 * 1024,
        (int,),
        "Most bytes of messages one channel keeps (oldest dropped first; the newest is always kept).",
        minimum=1,
    ),
    # --- provisioning (docs/architecture.md §7) ---
    "CONTROL_PLANE_CALLS_PER_SECOND": Setting(
        10, _NUMBER, "Control-plane calls per second (AWS: 10/s, burst 40).", minimum=0.01
    ),
    "DEPLOYMENT_INTERVAL_SECONDS": Setting(
        5, _NUMBER, "Minimum spacing of CreateDeployment calls (AWS: 1 per 5 s).", minimum=0
    ),
    "DOMAIN_NAME_INTERVAL_SECONDS": Setting(
        30, _NUMBER, "Minimum spacing of domain-name calls (AWS: 1 per 30 s).", minimum=0
    ),
    "PROVISIONING_LOCK_SECONDS": Setting(
        900, _NUMBER, "After this long a provisioning lock is considered abandoned.", minimum=1
    ),
    # --- maintenance (beat) ---
    "IDLE_TIMEOUT_SECONDS": Setting(600, _NUMBER, "API Gateway's idle timeout.", minimum=1),
    "CONNECTION_LIFETIME_SECONDS": Setting(
        7200, _NUMBER, "API Gateway's maximum connection lifetime.", minimum=1
    ),
    "DISCONNECTED_RETENTION_DAYS": Setting(
        7, _NUMBER, "Disconnected session rows older than this are purged.", minimum=0
    ),
    "RATE_LIMIT_RETENTION_DAYS": Setting(
        7, _NUMBER, "ConnectionRateLimit rows older than this are deleted.", minimum=0
    ),
    "TOKEN_RETENTION_SECONDS": Setting(
        300, _NUMBER, "Tokens older than this (or used) are deleted.", minimum=0
    ),
    "MAINTENANCE_INTERVALS": Setting(
        {
            "cleanup_tokens": 300,
            "cleanup_rate_limits": 3600,
            "sweep_stale_sessions": 60,
            "purge_disconnected_sessions": 3600,
        },
        (dict,),
        "Seconds between runs of each beat task (keys: cleanup_tokens, cleanup_rate_limits, "
        "sweep_stale_sessions, purge_disconnected_sessions; a missing key keeps its default, None "
        "disables that task). Applied to django-celery-beat's tables after every migrate.",
    ),
}


def _user_settings() -> dict[str, Any]:
    value = getattr(settings, "WSGATEWAY", None)
    if value is None:
        return {}
    if not isinstance(value, dict):
        raise ImproperlyConfigured(f"settings.WSGATEWAY must be a dict, not {type(value).__name__}.")
    return value


def validate_settings() -> list[str]:
    """Every problem with the ``WSGATEWAY`` dict, as readable sentences (empty when valid)."""
    return _problems_in(getattr(settings, "WSGATEWAY", None))


def _problems_in(raw: Any) -> list[str]:
    """Every problem with ``raw`` taken as a ``WSGATEWAY`` dict."""
    if raw is None:
        return []
    if not isinstance(raw, dict):
        return [f"settings.WSGATEWAY must be a dict, not {type(raw).__name__}."]
    problems: list[str] = []
    for key in sorted(set(raw) - set(SETTINGS)):
        problems.append(f"Unknown key WSGATEWAY[{key!r}].")
    for key, spec in SETTINGS.items():
        if key not in raw:
            continue
        value: Any = raw[key]
        if value is None and spec.nullable:
            continue
        # bool is an int subclass; a True where a number belongs is a mistake.
        if not isinstance(value, spec.types) or (isinstance(value, bool) and bool not in spec.types):
            expected = " or ".join(t.__name__ for t in spec.types)
            problems.append(f"WSGATEWAY[{key!r}] must be {expected}, not {type(value).__name__}.")
            continue
        if isinstance(value, float) and not math.isfinite(value):
            problems.append(f"WSGATEWAY[{key!r}] must be a finite number, not {value!r}.")
        elif spec.minimum is not None and isinstance(value, int | float) and value < spec.minimum:
            problems.append(f"WSGATEWAY[{key!r}] must be at least {spec.minimum}, not {value!r}.")
    secrets = raw.get("GATEWAY_SECRETS")
    if isinstance(secrets, list | tuple) and not all(isinstance(s, str) and s for s in secrets):
        problems.append("WSGATEWAY['GATEWAY_SECRETS'] must contain non-empty strings only.")
    for key in ("ENDPOINT_URLS", "MANAGEMENT_ENDPOINT_OVERRIDES"):
        mapping = raw.get(key)
        if isinstance(mapping, dict):
            for name, url in mapping.items():
                if not isinstance(url, str) or not url.startswith(("http://", "https://")):
                    problems.append(f"WSGATEWAY[{key!r}][{name!r}] must be an http(s) URL, not {url!r}.")
    hosts = raw.get("ALLOWED_INTEGRATION_HOSTS")
    if isinstance(hosts, list | tuple) and not all(isinstance(h, str) and h.strip() for h in hosts):
        problems.append("WSGATEWAY['ALLOWED_INTEGRATION_HOSTS'] must contain host names only.")
    problems.extend(_maintenance_interval_problems(raw.get("MAINTENANCE_INTERVALS")))
    return problems


def _maintenance_interval_problems(intervals: Any) -> list[str]:
    """Each entry names a known beat task and is a positive number of seconds (or None: disabled)."""
    if not isinstance(intervals, dict):
        return []
    known = SETTINGS["MAINTENANCE_INTERVALS"].default
    problems = [
        f"WSGATEWAY['MAINTENANCE_INTERVALS'] has an unknown task {key!r}; known: {sorted(known)}."
        for key in sorted(set(intervals) - set(known))
    ]
    for key, value in intervals.items():
        numeric = isinstance(value, int | float) and not isinstance(value, bool)
        if key in known and value is not None and not (numeric and value >= 1):
            problems.append(
                f"WSGATEWAY['MAINTENANCE_INTERVALS'][{key!r}] must be seconds >= 1 or None, not {value!r}."
            )
    return problems


# Validating on every read would cost a loop over every key, so the verdict on the current
# WSGATEWAY dict is kept until Django says the setting changed: ``override_settings`` (and the
# test ``settings`` fixture) send ``setting_changed``, and :func:`reload_settings` (connected in
# ``AppConfig.ready()``) drops the verdict. None: not validated since the last change.
_problems: list[str] | None = None


def _problems_of(raw: dict[str, Any]) -> list[str]:
    global _problems
    if _problems is None:
        _problems = _problems_in(raw)
    return _problems


def reload_settings(*, setting: str, **kwargs: Any) -> None:
    """``setting_changed`` receiver: forget the validation of ``WSGATEWAY`` when it changes."""
    global _problems
    if setting == "WSGATEWAY":
        _problems = None


class WsGatewaySettings:
    """Attribute access to ``WSGATEWAY`` keys with their defaults, read at call time."""

    def __getattr__(self, name: str) -> Any:
        spec = SETTINGS.get(name)
        if spec is None:
            raise AttributeError(f"wsgateway has no setting {name!r}.")
        user = _user_settings()
        # Web and worker processes never run system checks: a bad value must still be a clear
        # configuration error where it is read, not a TypeError deep inside a request.
        problems = _problems_of(user) if user else []
        if problems:
            raise ImproperlyConfigured("Invalid WSGATEWAY settings: " + " ".join(problems))
        value = user[name] if name in user else _websockets_value(name, spec.default)
        # Hand out copies of dicts and lists so callers cannot change the settings for everyone.
        if isinstance(value, dict | list):
            return type(value)(value)
        return value

    @property
    def gateway_secrets(self) -> list[str]:
        """The accepted gateway secrets, current first."""
        return list(self.GATEWAY_SECRETS)


wsgateway_settings = WsGatewaySettings()


def aws_setting(name: str) -> str | None:
    """A top-level AWS setting (the reference package's names), ``None`` when unset or empty."""
    value = getattr(settings, name, None)
    return value or None


# --- the reference package's ``WEBSOCKETS`` dict ---------------------------------------------

#: Each ``WEBSOCKETS`` key and the ``WSGATEWAY`` key that holds the same setting.
WEBSOCKETS_KEYS: dict[str, str] = {
    "token_rate_limit_per_minute": "TOKEN_RATE_LIMIT_PER_MINUTE",
    "token_expiry_seconds": "TOKEN_MAX_AGE_SECONDS",
    "rate_limit_max_attempts": "CONNECT_RATE_LIMIT_ATTEMPTS",
    "rate_limit_window_minutes": "CONNECT_RATE_LIMIT_WINDOW_MINUTES",
    "push_changes_to_aws": "PUSH_CHANGES_TO_AWS",
    "gateway_secret": "GATEWAY_SECRETS",
    "allowed_integration_hosts": "ALLOWED_INTEGRATION_HOSTS",
}
_WSGATEWAY_TO_WEBSOCKETS = {key: name for name, key in WEBSOCKETS_KEYS.items()}

#: The whole-number ``WEBSOCKETS`` settings and their defaults (the same as ``WSGATEWAY``'s).
DEFAULTS: dict[str, int] = {
    name: SETTINGS[WEBSOCKETS_KEYS[name]].default
    for name in (
        "token_rate_limit_per_minute",
        "token_expiry_seconds",
        "rate_limit_max_attempts",
        "rate_limit_window_minutes",
    )
}
#: The true/false ``WEBSOCKETS`` settings and their defaults.
BOOLEAN_DEFAULTS: dict[str, bool] = {"push_changes_to_aws": SETTINGS["PUSH_CHANGES_TO_AWS"].default}
#: ``WEBSOCKETS`` keys without a default.
OPTIONAL_KEYS = frozenset({"gateway_secret", "allowed_integration_hosts"})
#: Every key a ``WEBSOCKETS`` dict may have.
KNOWN_KEYS = frozenset(DEFAULTS) | frozenset(BOOLEAN_DEFAULTS) | OPTIONAL_KEYS


def get_websockets_config() -> dict[str, Any]:
    """The ``WEBSOCKETS`` dict, or an empty dict when it is unset or not a dict."""
    configured = getattr(settings, "WEBSOCKETS", None)
    return configured if isinstance(configured, dict) else {}


def _host_names(value: Any) -> list[str] | None:
    """A host name or a list of them, stripped and lower-cased; ``None`` when unusable."""
    if isinstance(value, str):
        value = [value]
    if not isinstance(value, list | tuple):
        return None
    return [host.strip().lower() for host in value if isinstance(host, str) and host.strip()]


def _secrets(value: Any) -> list[str] | None:
    """A secret or a list of them; ``None`` when unusable."""
    if isinstance(value, str):
        value = [value]
    if not isinstance(value, list | tuple):
        return None
    return [secret for secret in value if isinstance(secret, str) and secret]


def _is_host_list(value: Any) -> bool:
    """``None``, a host name, or a list of host names (the shapes the reference accepts)."""
    if value is None or (isinstance(value, str) and value.strip()):
        return True
    return isinstance(value, list | tuple) and all(isinstance(h, str) and h.strip() for h in value)


#: What the reference accepts as a gateway secret: it goes into a static mapping expression
#: ('value'), so a quote or whitespace would change the expression, and it should be long.
GATEWAY_SECRET_PATTERN = re.compile(r"[A-Za-z0-9._~+/=-]{32,}")


def _is_usable_secret_setting(value: Any) -> bool:
    """Unset/empty, or a secret (or a list of them) matching ``GATEWAY_SECRET_PATTERN``."""
    if value in (None, ""):
        return True
    values = value if isinstance(value, list | tuple) else [value]
    return all(
        secret in (None, "") or (isinstance(secret, str) and GATEWAY_SECRET_PATTERN.fullmatch(secret))
        for secret in values
    )


def websockets_value_problem(name: str, value: Any) -> str | None:
    """Why ``WEBSOCKETS[name] = value`` cannot be used (it then falls back), or ``None``."""
    if name in DEFAULTS:
        if isinstance(value, bool) or not isinstance(value, int) or value < 1:
            return f'WEBSOCKETS["{name}"] must be a whole number of 1 or more.'
    elif name in BOOLEAN_DEFAULTS:
        if not isinstance(value, bool):
            return f'WEBSOCKETS["{name}"] must be True or False.'
    elif name == "gateway_secret" and not _is_usable_secret_setting(value):
        return (
            'WEBSOCKETS["gateway_secret"] is not a valid secret: use a string, or a list of strings, of at '
            "least 32 characters from A-Z a-z 0-9 . _ ~ + / = - with no newline or other whitespace."
        )
    elif name == "allowed_integration_hosts" and not _is_host_list(value):
        return 'WEBSOCKETS["allowed_integration_hosts"] must be a host name or a list of host names.'
    return None


def _websockets_value(key: str, default: Any) -> Any:
    """The ``WSGATEWAY``-shaped value of ``key`` taken from ``WEBSOCKETS``, else ``default``."""
    name = _WSGATEWAY_TO_WEBSOCKETS.get(key)
    if name is None:
        return default
    configured = get_websockets_config()
    if name not in configured:
        return default
    value = configured[name]
    if name == "gateway_secret":
        secrets = _secrets(value)
        return default if secrets is None else secrets
    if name == "allowed_integration_hosts":
        hosts = _host_names(value)
        return default if hosts is None else hosts
    # The reference ignores a value it cannot use; the system check reports it.
    return default if websockets_value_problem(name, value) else value


def get_setting(name: str) -> int:
    """A whole-number setting under its ``WEBSOCKETS`` name, e.g. ``"token_expiry_seconds"``.

    :raises KeyError: If ``name`` is not one of ``DEFAULTS``.
    """
    if name not in DEFAULTS:  # a programming error, as in the reference
        raise KeyError(name)
    value: int = getattr(wsgateway_settings, WEBSOCKETS_KEYS[name])
    return value


def get_boolean_setting(name: str) -> bool:
    """A true/false setting under its ``WEBSOCKETS`` name, e.g. ``"push_changes_to_aws"``.

    :raises KeyError: If ``name`` is not one of ``BOOLEAN_DEFAULTS``.
    """
    if name not in BOOLEAN_DEFAULTS:
        raise KeyError(name)
    return bool(getattr(wsgateway_settings, WEBSOCKETS_KEYS[name]))


def get_allowed_integration_hosts() -> list[str]:
    """The hosts a gateway's integrations may point at, in lower case; empty means any host.

    An entry ``*.example.com`` matches the sub-domains of ``example.com``, not the domain itself.
    """
    return _host_names(wsgateway_settings.ALLOWED_INTEGRATION_HOSTS) or []


def settings_set_in_both() -> list[str]:
    """``WEBSOCKETS`` keys that ``WSGATEWAY`` also sets (``WSGATEWAY`` wins)."""
    raw = getattr(settings, "WSGATEWAY", None)
    if not isinstance(raw, dict):
        return []
    return sorted(name for name in get_websockets_config() if WEBSOCKETS_KEYS.get(name) in raw)
