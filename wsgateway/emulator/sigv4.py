"""SigV4 checks for the management API and the control plane.

Every request must carry an ``AWS4-HMAC-SHA256`` Authorization header scoped to the service
and an ``X-Amz-Date`` within 5 minutes of now (AWS answers an unsigned request 403
``MissingAuthenticationTokenException`` and an old one 403 ``InvalidSignatureException``
"Signature expired"). When the emulator knows the credentials (``--access-key`` /
``--secret-key``; required off loopback) the signature is recomputed the way botocore
computes it and compared; without them any key is accepted, which keeps local set-ups simple.
"""

from __future__ import annotations

import hashlib
import hmac
import time
from collections.abc import Mapping
from urllib.parse import parse_qsl, quote

from .errors import AwsError

ALGORITHM = "AWS4-HMAC-SHA256"
#: AWS accepts a request whose X-Amz-Date is at most this far from its clock, either way.
MAX_SKEW_S = 300
_AMZ_DATE = "%Y%m%dT%H%M%SZ"


def missing_token() -> AwsError:
    """AWS's answer to an unsigned request."""
    return AwsError(403, "MissingAuthenticationTokenException", "Missing Authentication Token")


class _SkewWindow:
    """The accepted X-Amz-Date range as strings, recomputed at most once a second.

    ``YYYYMMDDTHHMMSSZ`` sorts like the time it names, so the per-request check on the
    @connections hot path is two string comparisons.
    """

    def __init__(self) -> None:
        self._second = -1
        self.now = self.earliest = self.latest = ""

    def refresh(self) -> None:
        second = int(time.time())
        if second != self._second:
            self._second = second
            self.now = time.strftime(_AMZ_DATE, time.gmtime(second))
            self.earliest = time.strftime(_AMZ_DATE, time.gmtime(second - MAX_SKEW_S))
            self.latest = time.strftime(_AMZ_DATE, time.gmtime(second + MAX_SKEW_S))


_window = _SkewWindow()


def check_date(amz_date: str | None) -> None:
    """Raise AWS's 403 unless ``amz_date`` is a valid X-Amz-Date within 5 minutes of now."""
    if not amz_date or len(amz_date) != 16 or amz_date[8] != "T" or amz_date[15] != "Z":
        raise AwsError(
            403,
            "IncompleteSignatureException",
            "Authorization header requires existence of either a 'X-Amz-Date' or a 'Date' header.",
        )
    window = _window
    window.refresh()
    if amz_date < window.earliest:
        raise AwsError(
            403,
            "InvalidSignatureException",
            f"Signature expired: {amz_date} is now earlier than {window.earliest} ({window.now} - 5 min.)",
        )
    if amz_date > window.latest:
        raise AwsError(
            403,
            "InvalidSignatureException",
            f"Signature not yet current: {amz_date} is still later than {window.latest} "
            f"({window.now} + 5 min.)",
        )


def authenticate(
    *,
    service: str,
    method: str,
    raw_path: str,
    query: str,
    headers: Mapping[str, str],
    body: bytes,
    access_key: str | None,
    secret_key: str | None,
) -> None:
    """The whole check of one request (presence, scope, date, then the signature if known).

    ``headers`` is looked up case-insensitively (aiohttp's ``CIMultiDictProxy``).
    """
    check_presence(headers.get("Authorization"), service)
    check_date(headers.get("X-Amz-Date"))
    if access_key and secret_key:
        verify(
            method=method,
            raw_path=raw_path,
            query=query,
            headers={k.lower(): v for k, v in headers.items()},
            body=body,
            access_key=access_key,
            secret_key=secret_key,
        )


def credential_scope(authorization: str) -> list[str] | None:
    """``[access_key, date, region, service, "aws4_request"]`` from an Authorization header."""
    start = authorization.find("Credential=")
    if start < 0:
        return None
    end = authorization.find(",", start)
    value = authorization[start + len("Credential=") : end if end >= 0 else None].strip()
    parts = value.split("/")
    if len(parts) != 5 or parts[4] != "aws4_request":
        return None
    return parts


def region_of(authorization: str | None, default: str) -> str:
    """The region of the credential scope, or ``default``."""
    if not authorization:
        return default
    scope = credential_scope(authorization)
    return scope[2] if scope else default


def check_presence(authorization: str | None, service: str) -> None:
    """Raise 403 unless the header looks like a SigV4 signature for ``service``."""
    if not authorization or not authorization.startswith(ALGORITHM):
        raise missing_token()
    if f"/{service}/aws4_request" not in authorization:
        raise AwsError(
            403, "InvalidSignatureException", f"Credential should be scoped to correct service: '{service}'. "
        )


def _parse_fields(authorization: str) -> dict[str, str]:
    fields: dict[str, str] = {}
    for part in authorization[len(ALGORITHM) :].split(","):
        key, _, value = part.strip().partition("=")
        fields[key] = value
    return fields


def _canonical_query(query: str) -> str:
    pairs = parse_qsl(query, keep_blank_values=True)
    encoded = sorted((quote(k, safe="-_.~"), quote(v, safe="-_.~")) for k, v in pairs)
    return "&".join(f"{k}={v}" for k, v in encoded)


def verify(
    *,
    method: str,
    raw_path: str,
    query: str,
    headers: dict[str, str],
    body: bytes,
    access_key: str,
    secret_key: str,
) -> None:
    """Recompute the signature of a request and raise 403 if it does not match.

    ``raw_path`` is the path exactly as sent (still percent-encoded): botocore signs the
    encoded path encoded once more (``quote(path, safe="/~")``) for every service except S3.
    ``headers`` must have lower-case names.
    """
    authorization = headers.get("authorization", "")
    fields = _parse_fields(authorization)
    scope = credential_scope(authorization)
    if scope is None or "SignedHeaders" not in fields or "Signature" not in fields:
        raise AwsError(
            403,
            "IncompleteSignatureException",
            "Authorization header requires Credential, SignedHeaders and Signature.",
        )
    if scope[0] != access_key:
        raise AwsError(
            403, "UnrecognizedClientException", "The security token included in the request is invalid."
        )
    amz_date = headers.get("x-amz-date", "")
    signed = fields["SignedHeaders"].split(";")
    canonical_headers = "".join(f"{name}:{' '.join(headers.get(name, '').split())}\n" for name in signed)
    # Always the hash of the body received: trusting X-Amz-Content-Sha256 would let a signature
    # made for one body authorise any other body sent with the same headers.
    payload_hash = hashlib.sha256(body).hexdigest()
    canonical_request = "\n".join(
        [
            method,
            quote(raw_path, safe="/~"),
            _canonical_query(query),
            canonical_headers,
            ";".join(signed),
            payload_hash,
        ]
    )
    string_to_sign = "\n".join(
        [ALGORITHM, amz_date, "/".join(scope[1:]), hashlib.sha256(canonical_request.encode()).hexdigest()]
    )
    key = ("AWS4" + secret_key).encode()
    for part in scope[1:]:
        key = hmac.new(key, part.encode(), hashlib.sha256).digest()
    expected = hmac.new(key, string_to_sign.encode(), hashlib.sha256).hexdigest()
    # As bytes: compare_digest refuses str with non-ASCII characters (a TypeError, then a 500).
    given = fields["Signature"].encode("utf-8", "surrogateescape")
    if not hmac.compare_digest(expected.encode(), given):
        raise AwsError(
            403,
            "InvalidSignatureException",
            "The request signature we calculated does not match the signature you provided.",
        )
