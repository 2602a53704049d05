"""Identifiers shaped like the ones AWS hands out."""

from __future__ import annotations

import base64
import os
import secrets
import string
import time

_LOWER_ALNUM = string.ascii_lowercase + string.digits


def api_id() -> str:
    """An API id: 10 lowercase alphanumerics (``a1b2c3d4e5``)."""
    return "".join(secrets.choice(_LOWER_ALNUM) for _ in range(10))


def short_id() -> str:
    """An integration / route / deployment / mapping id: 7 lowercase alphanumerics."""
    return "".join(secrets.choice(_LOWER_ALNUM) for _ in range(7))


def domain_target_id() -> str:
    """The ``d-xxxxxxxxxx`` part of an ``ApiGatewayDomainName``."""
    return "d-" + "".join(secrets.choice(_LOWER_ALNUM) for _ in range(10))


def connection_id() -> str:
    """A connection id like AWS's ``L0SM9cOFvHcCIhw=``: base64 of 11 random bytes (16 chars).

    AWS ids are standard base64, so the trailing ``=`` already forces clients to URL-encode the
    id in ``@connections/{id}``. We redraw ids containing ``+`` or ``/`` because those would
    only ever appear in real ids by chance and make ad-hoc curl/debug URLs confusing.
    """
    while True:
        value = base64.b64encode(os.urandom(11)).decode()
        if "+" not in value and "/" not in value:
            return value


def request_id() -> str:
    """A request id (AWS uses base64-ish ids for WebSocket requests; any unique string works)."""
    return base64.b64encode(os.urandom(11)).decode().replace("+", "-").replace("/", "_")


def trace_id() -> str:
    """An X-Ray trace header value: ``Root=1-<8 hex epoch seconds>-<24 hex random>``."""
    return f"Root=1-{int(time.time()):08x}-{secrets.token_hex(12)}"
