"""wsgateway's own signal receivers (docs/architecture.md §9): close a user's sockets and revoke their connect
tokens when their credentials stop being valid, and keep gateway-related rows consistent.

- ``user_logged_out``: every live socket of the user is closed at API Gateway, and the user's
  unused connect tokens are deleted. So is every live socket opened under the Django session that
  logged out (an anonymous one too), whether its session-key hash is wsgateway's or the form a
  session imported from the reference package keeps (:func:`wsgateway.hashing.session_key_hashes`).
- A saved user whose password changed, or who went from active to inactive: the same.
- ``ApiGateway`` deleted: its live sessions are marked disconnected first (their ``api_gateway``
  becomes NULL, and a session without a gateway can never be sent to).
- ``ApiGateway`` saved or deleted: its cached lookup is dropped (:mod:`wsgateway.gateway_cache`).

Closing goes through :func:`wsgateway.sending.disconnect_user`, which enqueues
``DELETE @connections/{id}`` after the transaction commits; nothing here calls AWS.

Changes that bypass model signals (``QuerySet.update(is_active=False)``, raw SQL) are caught on
the user's next message instead: the view re-checks ``is_active`` and the session auth hash on
every event and disconnects a socket whose user no longer passes. A token records the auth hash
it was issued under and is refused once it no longer matches, so a token issued before a
password change never opens a socket, signals or not.

The receivers are connected by :func:`connect`, which ``AppConfig.ready()`` calls.
"""

from __future__ import annotations

from typing import Any

from django.contrib.auth import get_user_model
from django.contrib.auth.signals import user_logged_out
from django.db.models.signals import post_init, post_save, pre_delete
from django.http import HttpRequest

from wsgateway import sending
from wsgateway.hashing import session_key_hashes
from wsgateway.models import WebSocketSession, WebSocketToken

__all__ = [
    "close_sockets_on_credential_change",
    "close_sockets_on_logout",
    "disconnect_sessions_of_deleted_gateway",
]

_TRACKED = "_wsgateway_credentials"
#: At most this many sockets of one Django session are closed by its logout (a browser session
#: opens a handful; the bound keeps a forged flood of rows from turning a logout into a long loop).
MAX_SOCKETS_PER_LOGOUT = 500


def _disconnect_user(user: Any) -> None:
    WebSocketToken.revoke_for_user(user)
    sending.disconnect_user(user)


def _disconnect_django_session(session_key: str, user_pk: Any) -> None:
    """Close the live sockets opened under ``session_key`` that the user's own close does not
    reach (``user_pk``'s are closed by :func:`_disconnect_user`)."""

    sockets = WebSocketSession.objects.filter(
        connected=True, session_key_hash__in=session_key_hashes(session_key)
    )
    if user_pk is not None:
        sockets = sockets.exclude(user_id=user_pk)
    for connection_id in sockets.values_list("connection_id", flat=True)[:MAX_SOCKETS_PER_LOGOUT]:
        sending.disconnect_connection(connection_id)


def close_sockets_on_logout(
    sender: Any, request: HttpRequest | None = None, user: Any = None, **kwargs: Any
) -> None:
    """``user_logged_out``: close the user's sockets and revoke their tokens (``user`` is None
    for an anonymous logout), and close the sockets opened under the session that logged out."""
    user_pk = getattr(user, "pk", None) if user is not None else None
    if user_pk is not None:
        _disconnect_user(user)
    # Django sends the signal before it flushes the session: the key is still the one that ends.
    session_key = getattr(getattr(request, "session", None), "session_key", None)
    if session_key:
        _disconnect_django_session(session_key, user_pk)


def _remember_credentials(sender: Any, instance: Any, **kwargs: Any) -> None:
    # Only fields already loaded are read: touching a deferred field would cost a query per user.
    loaded = instance.__dict__
    if "password" in loaded and "is_active" in loaded:
        setattr(instance, _TRACKED, (loaded["password"], loaded["is_active"]))


def close_sockets_on_credential_change(
    sender: Any, instance: Any, created: bool = False, **kwargs: Any
) -> None:
    """``post_save`` of the user model: a new password or a deactivation closes the sockets and
    revokes the tokens."""
    before = getattr(instance, _TRACKED, None)
    loaded = instance.__dict__
    if "password" in loaded and "is_active" in loaded:
        setattr(instance, _TRACKED, (loaded["password"], loaded["is_active"]))
    if created or before is None or "password" not in loaded or "is_active" not in loaded:
        return
    old_password, was_active = before
    password_changed = loaded["password"] != old_password
    deactivated = bool(was_active) and not loaded["is_active"]
    if password_changed or deactivated:
        _disconnect_user(instance)


def disconnect_sessions_of_deleted_gateway(sender: Any, instance: Any, **kwargs: Any) -> None:
    """``pre_delete`` of ``ApiGateway``: mark its live sessions disconnected, in one UPDATE."""
    WebSocketSession.objects.filter(api_gateway=instance).mark_disconnected()


def connect() -> None:
    """Connect the receivers above (idempotent: each has a ``dispatch_uid``; called from
    ``AppConfig.ready()``)."""
    user_model = get_user_model()
    user_logged_out.connect(close_sockets_on_logout, dispatch_uid="wsgateway.receivers.logout")
    post_init.connect(_remember_credentials, sender=user_model, dispatch_uid="wsgateway.receivers.user_init")
    post_save.connect(
        close_sockets_on_credential_change, sender=user_model, dispatch_uid="wsgateway.receivers.user_save"
    )
    pre_delete.connect(
        disconnect_sessions_of_deleted_gateway,
        sender="wsgateway.ApiGateway",
        dispatch_uid="wsgateway.receivers.gateway_delete",
    )
