"""Signals sent by the WebSocket view.

``websocket_connected``     sender=view class, kwargs: request, session
``websocket_message_received``  sender=view class, kwargs: request, session, handler, body
``websocket_disconnected``  sender=view class, kwargs: request, session

wsgateway's own receivers (of Django's and these signals) are connected in one place,
:meth:`wsgateway.apps.WsGatewayConfig.ready`; nothing connects at import time.
"""

from __future__ import annotations

from django.dispatch import Signal

websocket_connected = Signal()
websocket_message_received = Signal()
websocket_disconnected = Signal()
