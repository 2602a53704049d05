"""Signals sent by the WebSocket view, and wsgateway's own receivers.

``websocket_connected``     sender=view class, kwargs: request, session
``websocket_message_received``  sender=view class, kwargs: request, session, handler, body
``websocket_disconnected``  sender=view class, kwargs: request, session
"""

from __future__ import annotations

from collections.abc import Callable

from django.dispatch import Signal

websocket_connected = Signal()
websocket_message_received = Signal()
websocket_disconnected = Signal()

# Other modules (e.g. the one closing a user's sockets on logout) add their receivers here, so
# AppConfig.ready() connects everything in one place and nothing connects at import time twice.
_RECEIVER_HOOKS: list[Callable[[], None]] = []


def register_receivers(hook: Callable[[], None]) -> Callable[[], None]:
    """Decorator: ``hook`` connects receivers when the app is ready."""
    _RECEIVER_HOOKS.append(hook)
    return hook


def connect_receivers() -> None:
    """Connect every registered receiver hook (called from ``AppConfig.ready``)."""
    from wsgateway import (
        provisioning,  # noqa: F401  (post_delete of additional routes deletes their AWS route)
        receivers,  # noqa: F401  (registers its hook on import)
        schedule,  # noqa: F401  (post_migrate: the beat schedule)
    )

    for hook in _RECEIVER_HOOKS:
        hook()
