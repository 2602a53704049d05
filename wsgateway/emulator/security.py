"""Who may talk to the emulator: listening address, Host header, admin token, admin bodies.

The emulator holds secrets (each integration's mapped gateway secret) and can impersonate
API Gateway towards the backend, so it is locked wherever it listens:

- **Listening address.** On a loopback address it may start without credentials (any
  well-formed SigV4 signature is then accepted, an unsigned request never is). On any other
  address it refuses to start unless SigV4 credentials *and* an admin token are configured (or
  the admin API is turned off): :func:`check_listen_address`.
- **Host header** (DNS rebinding: a page on ``evil.example`` whose name resolves to 127.0.0.1
  talks to us same-origin). Only loopback names, the listening address and
  ``allowed_hosts`` are accepted; custom domain names created through the control plane are
  accepted on the data plane and ``@connections`` only, never on ``/v2`` or ``/_emulator``.
- **Admin API** (``/_emulator/*`` except ``health``): the ``X-Emulator-Admin-Token`` header
  (or ``Authorization: Bearer``) must carry the admin token; bodies of POST/PUT/PATCH must be
  ``application/json`` (a cross-site HTML form can only send ``text/plain``, urlencoded or
  multipart bodies, and those never reach a handler).
- Security settings are not runtime keys (:data:`wsgateway.emulator.config.RUNTIME_KEYS`).
"""

from __future__ import annotations

import hmac
import ipaddress
import secrets
from collections.abc import Awaitable, Callable

from aiohttp import web
from aiohttp.typedefs import Middleware

from .config import EmulatorConfig
from .errors import error_response

ADMIN_PREFIX = "/_emulator"
ADMIN_TOKEN_HEADER = "X-Emulator-Admin-Token"  # noqa: S105 - a header name
#: The admin path that needs no token: a liveness probe reveals nothing.
PUBLIC_ADMIN_PATHS = frozenset({"/_emulator/health"})
LOOPBACK_NAMES = frozenset({"localhost", "127.0.0.1", "::1", "[::1]"})
_WILDCARD = frozenset({"", "0.0.0.0", "::", "[::]"})  # noqa: S104 - names to recognise, not to bind
_BODY_METHODS = frozenset({"POST", "PUT", "PATCH"})

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


class InsecureConfigurationError(ValueError):
    """The emulator was asked to listen somewhere it cannot be kept safe."""


def is_loopback(host: str) -> bool:
    """Whether ``host`` (a name or an address, IPv6 with or without brackets) is loopback-only."""
    name = host.strip().lower().strip("[]")
    if name == "localhost" or name.endswith(".localhost"):
        return True
    try:
        return ipaddress.ip_address(name).is_loopback
    except ValueError:
        return False


def check_listen_address(config: EmulatorConfig) -> None:
    """Raise :class:`InsecureConfigurationError` unless ``config`` is safe on its address."""
    if is_loopback(config.host):
        return
    missing = []
    if not (config.access_key and config.secret_key):
        missing.append("SigV4 credentials (--access-key and --secret-key)")
    if config.admin_enabled and not config.admin_token:
        missing.append("an admin token (WSGATEWAY_EMULATOR_ADMIN_TOKEN) or --no-admin")
    if missing:
        raise InsecureConfigurationError(
            f"refusing to listen on non-loopback address {config.host!r} without " + " and ".join(missing)
        )


def ensure_admin_token(config: EmulatorConfig) -> str:
    """The configured admin token, generating a random one when none is set."""
    if not config.admin_token:
        config.admin_token = secrets.token_urlsafe(24)
    return config.admin_token


def host_name(host_header: str) -> str:
    """Host header without port, lower-case, IPv6 kept in brackets (``[::1]:80`` → ``[::1]``)."""
    if host_header.startswith("["):
        return host_header.partition("]")[0].lower() + "]"
    return host_header.rpartition(":")[0].lower() if ":" in host_header else host_header.lower()


def static_allowed_hosts(config: EmulatorConfig) -> frozenset[str]:
    """Host names the control plane and admin API accept (lower-case, no port)."""
    names = set(LOOPBACK_NAMES)
    bound = config.host.strip().lower()
    if bound not in _WILDCARD:
        names.add(f"[{bound}]" if ":" in bound and not bound.startswith("[") else bound)
    names.update(h.strip().lower() for h in config.allowed_hosts if h.strip())
    return frozenset(names)


def _admin_token_ok(request: web.Request, token: str) -> bool:
    given = request.headers.get(ADMIN_TOKEN_HEADER)
    if given is None:
        scheme, _, value = request.headers.get("Authorization", "").partition(" ")
        given = value.strip() if scheme.lower() == "bearer" else ""
    return hmac.compare_digest(given.encode(), token.encode())


def _admin_error(status: int, message: str) -> web.Response:
    return web.json_response({"message": message}, status=status)


def guard_middleware(config: EmulatorConfig, is_custom_domain: Callable[[str], bool]) -> Middleware:
    """The aiohttp middleware enforcing the Host, admin-token and admin-body rules.

    ``is_custom_domain(host)`` tells whether a domain name was created through the control
    plane: those are valid Hosts for sockets and ``@connections`` only.
    """
    allowed = static_allowed_hosts(config)

    @web.middleware
    async def guard(request: web.Request, handler: Handler) -> web.StreamResponse:
        path = request.path
        admin = path == ADMIN_PREFIX or path.startswith(ADMIN_PREFIX + "/")
        raw_host = request.headers.get("Host")
        host = host_name(raw_host) if raw_host else ""
        if host not in allowed and (admin or path.startswith("/v2") or not is_custom_domain(host)):
            # AWS answers an unknown Host with 403 as well; a rebinding page learns nothing.
            return error_response(403, "ForbiddenException", "Forbidden")
        if admin and path not in PUBLIC_ADMIN_PATHS:
            if not config.admin_enabled:
                return _admin_error(404, "the admin API is turned off")
            token = config.admin_token
            if not token or not _admin_token_ok(request, token):
                return _admin_error(401, f"the admin API needs the {ADMIN_TOKEN_HEADER} header")
            if request.method in _BODY_METHODS and request.content_type != "application/json":
                return _admin_error(415, "admin request bodies must be application/json")
        return await handler(request)

    return guard
