"""The page mixins put the socket's URL, route, channel and token URL in the context."""

from __future__ import annotations

from typing import Any

import pytest
from django.contrib.auth.models import AnonymousUser
from django.test import RequestFactory
from django.views.generic import TemplateView

from wsgateway.mixins import WebSocketLoginRequiredPageMixin, WebSocketPageMixin
from wsgateway.models import ApiGateway

pytestmark = pytest.mark.django_db


class RoomPage(WebSocketPageMixin, TemplateView):
    template_name = "unused.html"
    websocket_route = "chat"

    def get_websocket_channel(self) -> str:
        return f"room-{self.kwargs['slug']}"


def context_of(view: Any, **kwargs: Any) -> dict[str, Any]:
    instance = view()
    instance.setup(RequestFactory().get("/"), **kwargs)
    return dict(instance.get_context_data())


def test_context_has_the_socket_settings(gateway: ApiGateway) -> None:
    context = context_of(RoomPage, slug="42")
    assert context["websocket_url"] == "wss://abc123defg.execute-api.us-east-1.amazonaws.com/production"
    assert context["websocket_route"] == "chat"
    assert context["websocket_channel"] == "room-42"
    assert context["websocket_token_url"] == "/ws-token/"
    assert context["websocket_config"] == {
        "url": context["websocket_url"],
        "route": "chat",
        "channel": "room-42",
        "token_url": "/ws-token/",
        "token_param": "token",
        "channel_param": "channel",
    }


def test_named_gateway_and_default_channel(gateway: ApiGateway) -> None:
    other = ApiGateway.objects.create(api_name="second", api_id="second0001", default_channel_name="hall")

    class Page(WebSocketPageMixin, TemplateView):
        websocket_api_name = "second"

    context = context_of(Page)
    assert context["websocket_gateway"] == other
    assert context["websocket_url"] == ""  # not deployed yet
    assert context["websocket_channel"] == "hall"


def test_login_required_variant_redirects_anonymous(gateway: ApiGateway) -> None:
    class Page(WebSocketLoginRequiredPageMixin, TemplateView):
        template_name = "unused.html"

    request = RequestFactory().get("/room/")
    request.user = AnonymousUser()
    response = Page.as_view()(request)
    assert response.status_code == 302
