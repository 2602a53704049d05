"""The demo chat: rooms are channels, messages and presence are fanned out by the worker.

- :class:`ChatSocketView` receives API Gateway's events (mounted at ``ws/<slug:route>``) and adds
  two handlers to :class:`~wsgateway.views.WebSocketView`: ``send_message`` and ``heartbeat`` (the
  JS client's keep-alive; the view has already refreshed ``last_seen_at``).
- Presence is wsgateway's (:mod:`wsgateway.presence`): the rooms are presence channels
  (``WSGATEWAY["PRESENCE_CHANNELS"] = ["room-*"]`` in ``worker/settings.py``), so a user's first
  tab in a room announces ``member_added`` to the room and their last tab leaving
  ``member_removed``; the page asks for the member list with the built-in ``presence`` message
  when its socket opens, and the JS client keeps the list (``WsGateway.members``).
- :class:`RoomView` renders a room page with the socket configuration of
  :class:`~wsgateway.mixins.WebSocketLoginRequiredPageMixin`.
"""

from __future__ import annotations

from typing import Any
from urllib.parse import urlsplit, urlunsplit

from django.conf import settings
from django.http import HttpRequest
from django.utils import timezone
from django.utils.decorators import method_decorator
from django.views.decorators.csrf import ensure_csrf_cookie
from django.views.generic import TemplateView

from wsgateway.mixins import WebSocketLoginRequiredPageMixin
from wsgateway.views import EventRefused, WebSocketView

__all__ = ["DEMO_API_NAME", "ROOMS", "ChatSocketView", "IndexView", "RoomView", "room_channel"]

#: ``ApiGateway.api_name`` of the gateway the demo provisions and its pages connect to.
DEMO_API_NAME = "wsgateway-demo"
#: The rooms listed on the index page (any slug works: /rooms/<slug>/).
ROOMS = ("lobby", "random", "support")
#: Longest chat message accepted, in characters.
MAX_TEXT_LENGTH = 2000
#: The channels of rooms: presence channels in worker/settings.py (WSGATEWAY["PRESENCE_CHANNELS"]).
ROOM_CHANNELS = "room-*"


def room_channel(room: str) -> str:
    """The channel name of a room."""
    return f"room-{room}"


class ChatSocketView(WebSocketView):
    """The demo's event endpoint: chat messages and heartbeats (presence is the built-in
    ``presence`` message and the member events of :mod:`wsgateway.presence`)."""

    allowed_handlers = ("send_message", "heartbeat")
    #: Only the demo's rooms (any logged-in user) and channels with a ChannelPermission row: a
    #: mistyped channel name is refused, not silently open (system check wsgateway.W004).
    ALLOW_UNLISTED_CHANNELS = False

    def can_join_channel(self, request: HttpRequest, channel_name: str) -> bool:
        """A room channel is open to every logged-in user; anything else follows its row."""
        user = getattr(request, "user", None)
        if channel_name.startswith("room-") and user is not None and user.is_authenticated:
            return True
        return super().can_join_channel(request, channel_name)

    def send_message(self, body: dict[str, Any]) -> dict[str, Any]:
        """``{"action": "send_message", "text": "..."}``: fan the text out to the whole room."""
        text = body.get("text")
        if not isinstance(text, str) or not text.strip():
            raise EventRefused(400, "invalid_text", "'text' must be a non-empty string.")
        if len(text) > MAX_TEXT_LENGTH:
            raise EventRefused(400, "text_too_long", f"'text' is longer than {MAX_TEXT_LENGTH} characters.")
        session = self.session
        assert session is not None
        user = self.request.user
        handle = self.send_to_channel(
            {
                "type": "message",
                "channel": session.channel_name,
                "user": user.get_username() if user.is_authenticated else "anonymous",
                "text": text.strip(),
                "sent_at": timezone.now().isoformat(),
            },
            include_self=True,  # the sender's page renders its own message when it comes back
        )
        return {"status": "queued", "message_id": handle.message_id}

    def heartbeat(self, body: dict[str, Any]) -> dict[str, Any]:
        """Keep-alive from the JS client: the view already recorded the activity."""
        return {"status": "ok"}


def public_socket_url(url: str) -> str:
    """``url`` with the emulator's address replaced by ``settings.DEMO_PUBLIC_EMULATOR_URL``.

    In docker-compose the worker provisions through ``http://emulator:4510``, so the emulator
    reports ``ws://emulator:4510/<api>`` as the endpoint, a name only containers resolve.
    """
    public = getattr(settings, "DEMO_PUBLIC_EMULATOR_URL", "")
    if not public or not url.startswith(("ws://", "wss://")):
        return url
    parts = urlsplit(url)
    base = urlsplit(public)
    return urlunsplit((base.scheme, base.netloc, parts.path, parts.query, ""))


class DemoPageMixin(WebSocketLoginRequiredPageMixin):
    """The demo gateway, reachable from the browser."""

    websocket_api_name = DEMO_API_NAME

    def get_context_data(self, **kwargs: Any) -> dict[str, Any]:
        """The mixin's context with the socket URL as the browser must use it."""
        context = super().get_context_data(**kwargs)
        url = public_socket_url(context["websocket_url"])
        context["websocket_url"] = context["websocket_config"]["url"] = url
        return context


class IndexView(DemoPageMixin, TemplateView):
    """The list of rooms."""

    template_name = "chat/index.html"

    def get_context_data(self, **kwargs: Any) -> dict[str, Any]:
        """The rooms, plus the gateway's state (the page says when it is not provisioned yet)."""
        context = super().get_context_data(**kwargs)
        context["rooms"] = ROOMS
        return context


@method_decorator(ensure_csrf_cookie, name="dispatch")
class RoomView(DemoPageMixin, TemplateView):
    """One room: a socket joined to the room's channel (the CSRF cookie is set for the token POST)."""

    template_name = "chat/room.html"

    def get_websocket_channel(self) -> str:
        """``room-<slug>``."""
        return room_channel(self.kwargs["room"])

    def get_context_data(self, **kwargs: Any) -> dict[str, Any]:
        """The room's name and the other rooms."""
        context = super().get_context_data(**kwargs)
        context.update(room=self.kwargs["room"], rooms=ROOMS)
        return context
