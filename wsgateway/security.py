"""Checks on the events API Gateway POSTs to Django (docs/architecture.md §4 and §9).

Pure functions over a request or a header value: none touches the database, so the view can
run all of them before it spends a query.

- :func:`secret_is_valid` — the shared secret mapped onto every integration as a static header.
  Constant-time against every accepted secret (rotation). Anyone who can reach Django directly can
  forge every other header; only the secret proves the caller is the gateway.
- :func:`origin_allowed` — the browser's ``Origin`` on ``$connect``, matched exactly
  (scheme, host and port, default ports normalised) against ``WSGATEWAY["ALLOWED_ORIGINS"]``.
- :func:`host_allowed` — the ``Host`` Django received, validated the way Django validates hosts
  (``*``, leading-dot subdomain entries) against ``WSGATEWAY["ALLOWED_HOSTS"]`` or
  ``settings.ALLOWED_HOSTS``.
- :func:`client_ip` — the client's address from ``X-Forwarded-For``, counting
  ``TRUSTED_PROXY_HOPS`` entries from the right (the left-most entries are whatever the client
  sent, so they are never trusted).
- :func:`connection_id_valid` / :func:`channel_name_valid` — strict formats.
"""

from __future__ import annotations

import ipaddress
import re
from urllib.parse import urlsplit

from django.conf import settings
from django.http import HttpRequest
from django.http.request import split_domain_port, validate_host

from wsgateway.conf import wsgateway_settings
from wsgateway.hashing import constant_time_in

__all__ = [
    "CHANNEL_NAME_MAX_LENGTH",
    "ClientIpError",
    "allowed_hosts",
    "channel_name_valid",
    "client_ip",
    "connection_id_valid",
    "host_allowed",
    "normalise_origin",
    "origin_allowed",
    "secret_is_valid",
]

# Matched with fullmatch: '$' would accept a trailing newline.
# AWS connection ids are base64 of a few random bytes (``L0SM9cOFvHcCIhw=``). The charset covers
# standard and URL-safe base64; nothing else (no spaces, no '%', no path separators beyond '/').
_CONNECTION_ID_RE = re.compile(r"[A-Za-z0-9+/=_-]{1,128}")

CHANNEL_NAME_MAX_LENGTH = 128
# Letters, digits and a few separators; inner spaces are allowed ("Shared Channel Name" is the
# reference's own example) but not leading/trailing ones, which would make look-alike channels.
_CHANNEL_NAME_RE = re.compile(r"[A-Za-z0-9_\-.:@/#+=]([A-Za-z0-9 _\-.:@/#+=]{0,126}[A-Za-z0-9_\-.:@/#+=])?")

_DEFAULT_PORTS = {"http": 80, "https": 443, "ws": 80, "wss": 443}

# What Django itself accepts when DEBUG is on and ALLOWED_HOSTS is empty.
_DEBUG_HOSTS = [".localhost", "127.0.0.1", "[::1]"]


def secret_is_valid(request: HttpRequest) -> bool:
    """Whether the request carries one of ``WSGATEWAY["GATEWAY_SECRETS"]`` in ``SECRET_HEADER``.

    With no secret configured, requests pass only when ``DEBUG`` is on (system check
    ``wsgateway.E002`` reports the missing secret outside DEBUG, and here it fails closed).
    """
    accepted = wsgateway_settings.gateway_secrets
    if not accepted:
        return bool(settings.DEBUG)
    candidate = request.headers.get(wsgateway_settings.SECRET_HEADER)
    if not candidate:
        return False
    return constant_time_in(candidate, accepted)


def normalise_origin(origin: str) -> str | None:
    """``scheme://host[:port]`` in canonical form (lower case, default port dropped), or ``None``.

    An origin with a path, query, fragment or credentials, or an unparsable port, is not an
    origin at all and gives ``None``.
    """
    origin = origin.strip()
    if not origin or len(origin) > 2048:
        return None
    try:
        parts = urlsplit(origin)
        port = parts.port
    except ValueError:
        return None
    scheme = parts.scheme.lower()
    host = parts.hostname
    if not scheme or not host or parts.username is not None or parts.password is not None:
        return None
    if parts.path not in ("", "/") or parts.query or parts.fragment or "@" in parts.netloc:
        return None
    if ":" in host:  # IPv6 literal: urlsplit strips the brackets
        host = f"[{host}]"
    if port is not None and port != _DEFAULT_PORTS.get(scheme):
        return f"{scheme}://{host}:{port}"
    return f"{scheme}://{host}"


def origin_allowed(origin: str | None) -> bool:
    """Whether a ``$connect`` with this ``Origin`` header may proceed.

    - No ``Origin`` header: allowed. Browsers always send one on a WebSocket handshake, so its
      absence means a non-browser client, which cross-site WebSocket hijacking cannot involve
      (such clients still need a token when ``REQUIRE_TOKEN`` is on).
    - ``Origin: null`` (sandboxed frames, ``file:``): refused.
    - Otherwise exact match of the normalised origin against ``ALLOWED_ORIGINS`` — never a
      substring or suffix match.
    - ``ALLOWED_ORIGINS`` empty and ``DEBUG`` on: every origin is allowed (the documented
      development convenience; outside DEBUG an empty list allows no browser at all and system
      check ``wsgateway.W001`` warns).
    """
    if origin is None:
        return True
    allowed = wsgateway_settings.ALLOWED_ORIGINS
    if not allowed:
        return bool(settings.DEBUG)
    normalised = normalise_origin(origin)
    if normalised is None:
        return False
    return normalised in {n for n in (normalise_origin(a) for a in allowed) if n}


def allowed_hosts() -> list[str]:
    """The host patterns events must be addressed to."""
    hosts = wsgateway_settings.ALLOWED_HOSTS
    if hosts is None:
        hosts = settings.ALLOWED_HOSTS
    hosts = list(hosts)
    if settings.DEBUG and not hosts:
        return list(_DEBUG_HOSTS)
    return hosts


def _raw_host(request: HttpRequest) -> str:
    # Same precedence as HttpRequest.get_host(), without raising DisallowedHost.
    meta = request.META
    if settings.USE_X_FORWARDED_HOST and "HTTP_X_FORWARDED_HOST" in meta:
        return str(meta["HTTP_X_FORWARDED_HOST"])
    if "HTTP_HOST" in meta:
        return str(meta["HTTP_HOST"])
    host = str(meta.get("SERVER_NAME", ""))
    port = str(meta.get("SERVER_PORT", ""))
    if port and port != ("443" if request.is_secure() else "80"):
        host = f"{host}:{port}"
    return host


def host_allowed(request: HttpRequest) -> bool:
    """Whether the request's ``Host`` matches :func:`allowed_hosts` (Django's own matching:
    ``*``, ``.example.com`` for the domain and its subdomains, exact names, IPv6 literals)."""
    domain, _port = split_domain_port(_raw_host(request))
    return bool(domain) and validate_host(domain, allowed_hosts())


class ClientIpError(ValueError):
    """``X-Forwarded-For`` cannot yield a client address with the configured trusted hops."""


def client_ip(request: HttpRequest, trusted_hops: int | None = None) -> str:
    """The client's IP address, for rate limiting and the session row.

    Each proxy appends the address it received the connection from, so the right-most
    ``trusted_hops`` entries were written by proxies we trust and the ``trusted_hops``-th entry
    from the right is the address the outermost trusted proxy saw: the client. API Gateway
    reaching Django directly is one hop (its entry is the client's address). With 0 hops the TCP
    peer (``REMOTE_ADDR``) is the client. Entries further left are client-controlled and ignored.

    Raises :class:`ClientIpError` when the header has fewer entries than hops or the chosen
    entry is not an IP address.
    """
    hops = wsgateway_settings.TRUSTED_PROXY_HOPS if trusted_hops is None else trusted_hops
    if hops <= 0:
        candidate = str(request.META.get("REMOTE_ADDR", ""))
    else:
        header = request.headers.get("X-Forwarded-For", "")
        entries = [e.strip() for e in header.split(",")] if header.strip() else []
        if len(entries) < hops:
            raise ClientIpError(
                f"X-Forwarded-For has {len(entries)} entries; {hops} trusted proxy hops expected."
            )
        candidate = entries[-hops]
    try:
        return str(ipaddress.ip_address(candidate))
    except ValueError:
        raise ClientIpError(f"{candidate[:64]!r} is not an IP address.") from None


def connection_id_valid(connection_id: str | None) -> bool:
    """Whether ``connection_id`` has the shape of an API Gateway connection id."""
    return bool(connection_id) and _CONNECTION_ID_RE.fullmatch(connection_id or "") is not None


def channel_name_valid(channel_name: str) -> bool:
    """Whether ``channel_name`` is a usable channel name (the empty name means "no channel")."""
    if channel_name == "":
        return True
    return (
        len(channel_name) <= CHANNEL_NAME_MAX_LENGTH and _CHANNEL_NAME_RE.fullmatch(channel_name) is not None
    )
