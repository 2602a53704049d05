"""URLs with a project's subclass of the WebSocket view, as the ingestion tests use it."""

from __future__ import annotations

from typing import Any

from django.db import OperationalError
from django.http import HttpRequest
from django.urls import include, path

from wsgateway.models import WebSocketSession
from wsgateway.views import EventRefused, WebSocketView, requires_permissions


class ProjectView(WebSocketView):
    """A project's view: extra handlers, permissions, a custom route and a connect hook."""

    allowed_handlers = (
        "change_channel",
        "whoami",
        "moderate",
        "publish",
        "chat",
        "echo",
        "_secret",
        "dispatch",
    )
    handler_permissions = {"moderate": {"any_of": ["auth.change_user", "auth.delete_user"]}}
    custom_routes = ("chat",)
    welcomed: list[str] = []

    def check_connect(self, request: HttpRequest, user: Any, channel_name: str) -> None:
        if channel_name == "closed":
            raise EventRefused(403, "room_closed", "This room is closed.")
        if channel_name == "db-down":
            raise OperationalError("server closed the connection unexpectedly")

    def connected(self, session: WebSocketSession) -> None:
        if session.channel_name == "welcome":
            self.reply({"type": "welcome", "channel": session.channel_name})

    def whoami(self, body: dict[str, Any]) -> dict[str, Any]:
        user = self.request.user
        return {"username": user.get_username() if user.is_authenticated else None}

    def moderate(self, body: dict[str, Any]) -> dict[str, Any]:
        return {"moderated": True}

    @requires_permissions(all_of=["auth.view_user", "auth.add_user"])
    def publish(self, body: dict[str, Any]) -> None:
        self.send_to_channel({"type": "post", "text": body.get("text", "")})

    def chat(self, body: dict[str, Any]) -> dict[str, Any]:
        return {"route": self.route}

    def echo(self, body: dict[str, Any]) -> None:
        self.reply({"type": "echo", "body": body})

    def _secret(self, body: dict[str, Any]) -> dict[str, Any]:  # listed, but '_' names never run
        return {"leaked": True}


urlpatterns = [
    path("custom/ws/<slug:route>", ProjectView.as_view(), name="project-websocket"),
    path("", include("wsgateway.urls")),
]
