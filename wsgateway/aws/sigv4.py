"""A fast AWS Signature Version 4 signer for the management API (``execute-api``).

botocore re-derives the signing key (four HMACs) and rebuilds every canonical string for each
request; a broadcast signs thousands of requests that differ only in the connection id. Here
the signing key is derived once per (secret, day, region, service), the payload hash once per
message, and the per-request work is one SHA-256 of the canonical request and one HMAC.

The output is checked in tests against botocore's ``SigV4Auth`` for the same request and time
(identical ``Authorization``, ``X-Amz-Date`` and ``X-Amz-Security-Token``).

Only the headers this module adds are signed: ``host``, ``x-amz-date`` and, with temporary
credentials, ``x-amz-security-token``.
"""

from __future__ import annotations

import hashlib
import hmac
import time
from dataclasses import dataclass
from urllib.parse import quote

ALGORITHM = "AWS4-HMAC-SHA256"
SERVICE = "execute-api"
EMPTY_SHA256 = hashlib.sha256(b"").hexdigest()


@dataclass(frozen=True)
class Credentials:
    """A frozen set of AWS credentials (``token`` for temporary credentials)."""

    access_key: str
    secret_key: str
    token: str | None = None


def _hmac(key: bytes, msg: str) -> bytes:
    return hmac.new(key, msg.encode(), hashlib.sha256).digest()


def derive_signing_key(secret_key: str, day: str, region: str, service: str) -> bytes:
    """The SigV4 signing key of ``day`` (``YYYYMMDD``), ``region`` and ``service``."""
    k_date = _hmac(f"AWS4{secret_key}".encode(), day)
    return _hmac(_hmac(_hmac(k_date, region), service), "aws4_request")


def canonical_path(path: str) -> str:
    """The canonical URI of an (already URL-encoded) request path, as botocore builds it.

    Empty and ``.`` segments are dropped, ``..`` pops a segment, and the result is encoded once
    more (so ``%3D`` in a connection id becomes ``%253D``: non-S3 services double-encode).
    """
    if not path:
        return "/"
    out: list[str] = []
    for part in path.split("/"):
        if not part or part == ".":
            continue
        if part == "..":
            if out:
                out.pop()
        else:
            out.append(part)
    normalized = "/" + "/".join(out) if path.startswith("/") else "/".join(out)
    if path.endswith("/") and out:
        normalized += "/"
    return quote(normalized, safe="/~")


def amz_date(epoch: float | None = None) -> str:
    """``YYYYMMDDTHHMMSSZ`` for ``epoch`` (now by default), UTC."""
    return time.strftime("%Y%m%dT%H%M%SZ", time.gmtime(time.time() if epoch is None else epoch))


class Signer:
    """Signs requests to one host for one region; caches the day's signing key.

    ``sign()`` returns the headers to send (``X-Amz-Date``, ``Authorization`` and with temporary
    credentials ``X-Amz-Security-Token``); the caller sends ``Host: host`` itself.
    :meth:`header_lines` gives the same headers as HTTP header lines (the fan-out client's form).
    """

    __slots__ = (
        "_key_day",
        "_key_hmac",
        "_scope_tail",
        "_signed_headers",
        "_stamp",
        "_stamp_parts",
        "credentials",
        "host",
        "region",
    )

    def __init__(self, credentials: Credentials, region: str, host: str, service: str = SERVICE) -> None:
        self.credentials = credentials
        self.region = region
        self.host = host
        self._scope_tail = f"/{region}/{service}/aws4_request"
        self._signed_headers = (
            "host;x-amz-date;x-amz-security-token" if credentials.token else "host;x-amz-date"
        )
        self._key_day = ""
        self._key_hmac = hmac.new(b"", digestmod=hashlib.sha256)
        self._stamp = ""
        self._stamp_parts: tuple[str, str, str, hmac.HMAC] = ("", "", "", self._key_hmac)

    def _signing_hmac(self, day: str) -> hmac.HMAC:
        """An HMAC-SHA256 keyed with ``day``'s signing key, derived once per day: each signature
        copies it (cheaper than keying one per request)."""
        if day != self._key_day:
            service = self._scope_tail.split("/")[2]
            key = derive_signing_key(self.credentials.secret_key, day, self.region, service)
            self._key_hmac = hmac.new(key, digestmod=hashlib.sha256)
            self._key_day = day
        return self._key_hmac

    def _parts(self, timestamp: str) -> tuple[str, str, str, hmac.HMAC]:
        """What every request signed at ``timestamp`` shares (a broadcast signs thousands in the
        same second): the canonical headers block, the string-to-sign's prefix, the credential
        scope and the HMAC keyed with the day's signing key."""
        if timestamp != self._stamp:
            token = self.credentials.token
            headers = f"host:{self.host}\nx-amz-date:{timestamp}\n"
            if token:
                headers += f"x-amz-security-token:{' '.join(token.split())}\n"
            day = timestamp[:8]
            scope = day + self._scope_tail
            self._stamp_parts = (
                f"\n\n{headers}\n{self._signed_headers}\n",
                f"{ALGORITHM}\n{timestamp}\n{scope}\n",
                scope,
                self._signing_hmac(day),
            )
            self._stamp = timestamp
        return self._stamp_parts

    def _signature(
        self, method: str, path: str, payload_hash: str, timestamp: str, canonical: str | None
    ) -> tuple[str, str]:
        headers_block, sts_prefix, scope, keyed = self._parts(timestamp)
        uri = canonical_path(path) if canonical is None else canonical
        request_hash = hashlib.sha256(f"{method}\n{uri}{headers_block}{payload_hash}".encode()).hexdigest()
        mac = keyed.copy()
        mac.update((sts_prefix + request_hash).encode())
        return scope, mac.hexdigest()

    def sign(
        self, method: str, path: str, payload_hash: str, timestamp: str, *, canonical: str | None = None
    ) -> list[tuple[str, str]]:
        """Headers for ``method path`` (path already URL-encoded, no query string).

        ``payload_hash`` is the hex SHA-256 of the body (:data:`EMPTY_SHA256` without one);
        ``timestamp`` comes from :func:`amz_date` (one value can serve many requests);
        ``canonical``, when given, is :func:`canonical_path` of ``path`` computed by the caller.
        """
        scope, signature = self._signature(method, path, payload_hash, timestamp, canonical)
        out = [
            ("X-Amz-Date", timestamp),
            (
                "Authorization",
                f"{ALGORITHM} Credential={self.credentials.access_key}/{scope}, "
                f"SignedHeaders={self._signed_headers}, Signature={signature}",
            ),
        ]
        token = self.credentials.token
        if token:
            out.append(("X-Amz-Security-Token", token))
        return out

    def header_lines(
        self, method: str, path: str, payload_hash: str, timestamp: str, *, canonical: str | None = None
    ) -> str:
        """:meth:`sign`'s headers as ``Name: value\\r\\n`` lines, in the same order."""
        scope, signature = self._signature(method, path, payload_hash, timestamp, canonical)
        lines = (
            f"X-Amz-Date: {timestamp}\r\nAuthorization: {ALGORITHM} Credential="
            f"{self.credentials.access_key}/{scope}, SignedHeaders={self._signed_headers}, "
            f"Signature={signature}\r\n"
        )
        token = self.credentials.token
        return lines + f"X-Amz-Security-Token: {token}\r\n" if token else lines


def payload_hash(body: bytes) -> str:
    """Hex SHA-256 of a request body."""
    return hashlib.sha256(body).hexdigest() if body else EMPTY_SHA256
