"""Runtime configuration of the emulator.

One mutable :class:`EmulatorConfig` object is shared by every request handler and read at
request time, so a change through ``/_emulator/config``, :meth:`EmulatorServer.configure` or a
test that assigns an attribute takes effect on the next request without a restart.
"""

from __future__ import annotations

import dataclasses
import math
from dataclasses import dataclass, field
from typing import Any

#: AWS quotas (https://docs.aws.amazon.com/apigateway/latest/developerguide/limits.html).
AWS_IDLE_TIMEOUT_S = 600.0
AWS_MAX_LIFETIME_S = 7200.0
AWS_FRAME_LIMIT = 32 * 1024
AWS_MESSAGE_LIMIT = 128 * 1024

# Keys that may be changed at runtime through /_emulator/config. The socket address, the state
# file and every security setting (credentials, admin token, allowed hosts, TLS) are fixed once
# the server is listening: whoever can reach the admin API must not be able to turn checks off.
RUNTIME_KEYS = frozenset(
    {
        "idle_timeout",
        "max_lifetime",
        "frame_limit",
        "message_limit",
        "fail_429",
        "fail_500",
        "latency_ms",
        "latency_max_ms",
        "control_plane_fail",
        "throttle_control_plane",
        "seed",
        "send_buffer_limit",
        "virtual_keep_messages",
    }
)


@dataclass
class EmulatorConfig:
    """Every knob of the emulator, with AWS's values as defaults.

    Times are in seconds (floats, so tests can use 0.5 s), sizes in bytes, fractions in 0..1.
    """

    host: str = "127.0.0.1"
    #: 0 picks a free port; the bound port is reported by the server object / the CLI banner.
    port: int = 4510
    #: Default region when a request carries no SigV4 credential scope.
    region: str = "us-east-1"
    idle_timeout: float = AWS_IDLE_TIMEOUT_S
    max_lifetime: float = AWS_MAX_LIFETIME_S
    frame_limit: int = AWS_FRAME_LIMIT
    message_limit: int = AWS_MESSAGE_LIMIT
    #: Fraction of @connections requests answered 429 LimitExceededException (not delivered).
    fail_429: float = 0.0
    #: Fraction of @connections requests answered 500 InternalServerErrorException (not delivered).
    fail_500: float = 0.0
    #: Added latency on @connections requests: fixed ``latency_ms`` or uniform in
    #: [latency_ms, latency_max_ms] when ``latency_max_ms`` is larger.
    latency_ms: float = 0.0
    latency_max_ms: float | None = None
    #: Fraction of control-plane calls answered 429 TooManyRequestsException.
    control_plane_fail: float = 0.0
    #: Emulate AWS's control-plane rate limits (CreateDeployment 1/5 s, domain names 1/30 s).
    throttle_control_plane: bool = False
    #: Seed of the fault-injection random generator; None = nondeterministic.
    seed: int | None = None
    #: When both are set, SigV4 signatures of the control plane and of @connections are verified
    #: (key id, signature, 5 minutes of clock skew). Without them (loopback only, see
    #: :mod:`wsgateway.emulator.security`) any well-formed signature is accepted, but an unsigned
    #: request is still refused, as AWS refuses it.
    access_key: str | None = None
    secret_key: str | None = None
    #: The token ``/_emulator/*`` (except ``health``) requires in ``X-Emulator-Admin-Token``.
    #: None: a random one is generated at start (read it from the server object).
    admin_token: str | None = None
    #: False turns the admin API off (every ``/_emulator/*`` path but ``health`` answers 404).
    admin_enabled: bool = True
    #: Host names (without port) accepted in the Host header besides the loopback names and the
    #: listening address; custom domain names created through the control plane are accepted on
    #: the data plane and @connections only.
    allowed_hosts: tuple[str, ...] = ()
    #: PEM certificate chain and key: serve HTTPS/WSS instead of HTTP/WS on the same port.
    tls_cert: str | None = None
    tls_key: str | None = None
    #: A socket whose unsent bytes exceed this answers @connections POSTs with 429, like AWS
    #: does when "the WebSocket client side buffer is full".
    send_buffer_limit: int = 4 * 1024 * 1024
    #: How many of the last messages a virtual connection keeps (all are counted).
    virtual_keep_messages: int = 100
    #: JSON file the control-plane state is loaded from at start and saved to on every change.
    state_file: str | None = None
    extra: dict[str, Any] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        """Return the configuration as JSON-serialisable data (secrets masked)."""
        data = dataclasses.asdict(self)
        for secret in ("secret_key", "admin_token"):
            if data.get(secret):
                data[secret] = "***"  # a mask, not a password
        return data

    def update(self, changes: dict[str, Any]) -> None:
        """Apply runtime changes, validating names and types; raise ``ValueError`` on bad input.

        All changes are validated before any is applied: a refused request changes nothing.
        """
        unknown = set(changes) - RUNTIME_KEYS
        if unknown:
            raise ValueError(f"unknown or read-only config keys: {sorted(unknown)}")
        validated = {key: self._validate(key, value) for key, value in changes.items()}
        for key, value in validated.items():
            setattr(self, key, value)

    def _validate(self, key: str, value: Any) -> Any:
        if key in {"fail_429", "fail_500", "control_plane_fail"}:
            value = _finite(key, value)
            if not 0.0 <= value <= 1.0:
                raise ValueError(f"{key} must be within 0..1")
        elif key in {"idle_timeout", "max_lifetime"}:
            # NaN or infinity would stop the timeout sweeper (it sleeps a fraction of these).
            value = _finite(key, value)
            if value < 0:
                raise ValueError(f"{key} must be >= 0")
        elif key == "latency_ms":
            value = _latency(key, value)
        elif key in {"frame_limit", "message_limit", "send_buffer_limit", "virtual_keep_messages"}:
            value = _positive_int(key, value)
        elif key == "latency_max_ms":
            if value is not None:
                value = _latency(key, value)
        elif key == "seed":
            if value is not None:
                if isinstance(value, bool) or not isinstance(value, int | str):
                    raise ValueError(f"{key} must be an integer")
                try:
                    value = int(value)
                except ValueError:
                    raise ValueError(f"{key} must be an integer") from None
        elif key == "throttle_control_plane" and not isinstance(value, bool):
            raise ValueError(f"{key} must be a boolean")
        return value


def _finite(key: str, value: Any) -> float:
    """``value`` as a finite float, or ``ValueError`` (never ``TypeError``)."""
    if isinstance(value, bool) or not isinstance(value, int | float | str):
        raise ValueError(f"{key} must be a number")
    try:
        number = float(value)
    except (ValueError, OverflowError):  # "x", 10**400
        raise ValueError(f"{key} must be a finite number") from None
    if not math.isfinite(number):
        raise ValueError(f"{key} must be a finite number")
    return number


#: Upper bound of the added latency: a @connections call must still answer (AWS's own
#: integration timeout is 29 s; ten minutes is far beyond any useful test).
MAX_LATENCY_MS = 600_000.0


def _latency(key: str, value: Any) -> float:
    number = _finite(key, value)
    if not 0 <= number <= MAX_LATENCY_MS:
        raise ValueError(f"{key} must be within 0..{MAX_LATENCY_MS:.0f}")
    return number


#: Upper bound of the size settings: far above any AWS quota, and an ``int`` that every
#: consumer (aiohttp's ``max_msg_size``, deques) accepts.
MAX_SIZE = 2**40


def _positive_int(key: str, value: Any) -> int:
    """``value`` as an integer in 1..MAX_SIZE, or ``ValueError`` (``1e400``, ``"x"``, ``NaN`` too)."""
    if isinstance(value, bool) or not isinstance(value, int | float | str):
        raise ValueError(f"{key} must be an integer")
    if isinstance(value, str):
        try:
            value = int(value)
        except ValueError:
            raise ValueError(f"{key} must be an integer") from None
    if isinstance(value, float) and (not math.isfinite(value) or value != int(value)):
        raise ValueError(f"{key} must be an integer")
    number = int(value)
    if not 0 < number <= MAX_SIZE:
        raise ValueError(f"{key} must be within 1..{MAX_SIZE}")
    return number
