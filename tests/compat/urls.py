"""Views written the way the reference package's users write them, plus the README's ChatView."""

from __future__ import annotations

from typing import Any

from django.http import HttpResponseForbidden, JsonResponse
from django.urls import include, path

from tests.compat.readme import run_block
from wsgateway.views import WebSocketView

ReadmeChatView = run_block("class ChatView")["ChatView"]


class ReferenceChatView(WebSocketView):
    """A reference-style view: an explicit handler list and request-style handlers."""

    ALLOWED_HANDLERS = {"chat", "forbid", "bad"}

    def chat(self, request: Any, *args: Any, **kwargs: Any) -> JsonResponse:
        return JsonResponse(
            {"user": request.user.get_username(), "text": self.body.get("text"), "route": kwargs.get("route")}
        )

    def forbid(self, request: Any, *args: Any, **kwargs: Any) -> Any:
        return self.permission_denied(request, *args, **kwargs)

    def bad(self, request: Any, *args: Any, **kwargs: Any) -> Any:
        return self._return_bad_request("no")

    def helper(self, request: Any) -> JsonResponse:  # not listed: never runs
        return JsonResponse({"leaked": True})


class AutomaticView(WebSocketView):
    """No ALLOWED_HANDLERS: the reference's automatic list of the class's own request-style methods."""

    ADDITIONAL_ALLOWED_HANDLERS = ["heartbeat"]

    def shout(self, request: Any, *args: Any, **kwargs: Any) -> None:
        return None  # the reference answers {} for None

    def compute(self, body: dict[str, Any]) -> dict[str, Any]:  # wsgateway style helper: not exposed
        return {"leaked": True}


class HookedView(WebSocketView):
    """Overrides the reference's hooks and permission lists."""

    ALLOWED_HANDLERS = {"chat"}
    permissions_required = ["auth.add_user", "auth.change_user"]
    calls: list[str] = []

    def chat(self, request: Any, *args: Any, **kwargs: Any) -> JsonResponse:
        return JsonResponse({"ok": True})

    def default(self, request: Any, *args: Any, **kwargs: Any) -> JsonResponse:
        return JsonResponse({"default": self.body.get("handler")})

    def permission_denied(self, request: Any, *args: Any, **kwargs: Any) -> HttpResponseForbidden:
        return HttpResponseForbidden("custom denial")

    def handler_selection_key_missing(self, request: Any, *args: Any, **kwargs: Any) -> JsonResponse:
        return JsonResponse({"missing": self.handler_selection_key}, status=400)

    def can_join_channel(self, request: Any, channel_name: str) -> bool:
        return channel_name != "blocked" and super().can_join_channel(request, channel_name)

    def connect(self, request: Any, *args: Any, **kwargs: Any) -> Any:
        response = super().connect(request, *args, **kwargs)
        self.calls.append(f"connect:{response.status_code}")
        return response

    def disconnect(self, request: Any, *args: Any, **kwargs: Any) -> Any:
        # The reference's contract: None once the session is closed, else the answer to send.
        response = super().disconnect(request, *args, **kwargs)
        self.calls.append("disconnect:closed" if response is None else f"disconnect:{response.status_code}")
        return response


class ClosedChannelsView(WebSocketView):
    ALLOW_UNLISTED_CHANNELS = False


class OpenView(WebSocketView):
    """The reference's per-view switches: no token, no rate limit, permissions on connect."""

    USE_WS_TOKEN = False
    RATE_LIMIT_ENABLED = False
    CHECK_PERMISSIONS_ON_CONNECT = True
    all_permissions_required = ["auth.view_user"]

    def _additional_connection_checks(self, request: Any, *args: Any, **kwargs: Any) -> tuple[bool, str]:
        return request.GET.get("channel") != "vetoed", "vetoed by the project"


class ReplyView(WebSocketView):
    """Handlers whose answers are too large or not JSON."""

    allowed_handlers = ("big_answer", "big_reply", "big_broadcast", "nan_answer")

    def big_answer(self, body: dict[str, Any]) -> dict[str, Any]:
        return {"text": "x" * int(body["size"])}

    def big_reply(self, body: dict[str, Any]) -> None:
        self.reply({"text": "x" * int(body["size"])})

    def big_broadcast(self, body: dict[str, Any]) -> None:
        self.send_to_channel({"text": "x" * int(body["size"])})

    def nan_answer(self, body: dict[str, Any]) -> dict[str, Any]:
        return {"value": float(body["value"]) * 1e308}


urlpatterns = [
    path("readme/ws/<slug:route>", ReadmeChatView.as_view()),
    path("ref/ws/<slug:route>", ReferenceChatView.as_view()),
    path("auto/ws/<slug:route>", AutomaticView.as_view()),
    path("hooked/ws/<slug:route>", HookedView.as_view()),
    path("closed/ws/<slug:route>", ClosedChannelsView.as_view()),
    path("open/ws/<slug:route>", OpenView.as_view()),
    path("reply/ws/<slug:route>", ReplyView.as_view()),
    path("", include("tests.urls")),
]
