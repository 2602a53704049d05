"""Keyed hashes for secrets wsgateway must be able to compare but never store.

Tokens and Django session keys are stored as HMAC-SHA256 under ``SECRET_KEY``: a leaked
database alone reveals neither.
"""

from __future__ import annotations

import hmac

from django.utils.crypto import salted_hmac

_SALT = "wsgateway.hashing"
#: The salt under which django-aws-api-gateway-websockets 4.x keyed a session key. Sessions that
#: ``importReferenceData`` copies keep that form (a keyed hash cannot be re-keyed without the key).
REFERENCE_SESSION_KEY_SALT = "django_aws_api_gateway_websockets.WebSocketToken.session_key"


def keyed_hash(value: str, purpose: str) -> str:
    """Hex HMAC-SHA256 of ``value``; ``purpose`` separates token hashes from session-key hashes."""
    return salted_hmac(f"{_SALT}.{purpose}", value, algorithm="sha256").hexdigest()


def token_hash(token: str) -> str:
    """The stored form of a one-time connect token."""
    return keyed_hash(token, "token")


def session_key_hash(session_key: str) -> str:
    """The stored form of a Django session key."""
    return keyed_hash(session_key, "session")


def session_key_hashes(session_key: str) -> tuple[str, str]:
    """Every form a socket's stored session key may have: wsgateway's, then the reference's (rows
    imported from the reference, docs/migrating.md "Importing an installation")."""
    reference = salted_hmac(REFERENCE_SESSION_KEY_SALT, session_key, algorithm="sha256").hexdigest()
    return session_key_hash(session_key), reference


def user_auth_hash(user: object) -> str:
    """A keyed hash of ``user.get_session_auth_hash()``, which changes with the password.

    Empty for a user model without ``get_session_auth_hash``.
    """
    get_auth_hash = getattr(user, "get_session_auth_hash", None)
    if get_auth_hash is None:
        return ""
    return keyed_hash(get_auth_hash(), "user-auth")


def secret_fingerprint(secret: str) -> str:
    """A short fingerprint of a gateway secret, to tell which one an integration carries."""
    return keyed_hash(secret, "gateway-secret")[:16]


def constant_time_in(candidate: str, accepted: list[str]) -> bool:
    """Whether ``candidate`` equals one of ``accepted``, comparing every one in constant time."""
    found = False
    encoded = candidate.encode()
    for secret in accepted:
        # No early exit: the time taken must not reveal which secret (or how much of it) matched.
        found |= hmac.compare_digest(encoded, secret.encode())
    return found
