"""Mixins for template views of pages that open a socket.

::

    class RoomView(WebSocketLoginRequiredPageMixin, TemplateView):
        template_name = "room.html"
        websocket_channel = "lobby"

        def get_websocket_channel(self):
            return f"room-{self.kwargs['slug']}"

The context then holds ``websocket_url`` (the gateway's ``wss://`` URL), ``websocket_route``
(the route/``action`` the page's messages select), ``websocket_channel``,
``websocket_token_url`` (where to POST for a one-time token) and ``websocket_config``, the same
values plus the query-parameter names, ready for ``{{ websocket_config|json_script:"ws-config" }}``.
"""

from __future__ import annotations

import sys
from typing import Any

from django.apps import apps
from django.contrib.auth.mixins import LoginRequiredMixin
from django.http import HttpRequest
from django.urls import resolve, reverse
from django.views.generic.base import ContextMixin

from wsgateway.conf import wsgateway_settings
from wsgateway.models import ApiGateway, ApiGatewayAdditionalRoute

__all__ = [
    "AddWebSocketRouteToContextMixin",
    "AppChannelWebSocketMixin",
    "WebSocketLoginRequiredPageMixin",
    "WebSocketPageMixin",
]


class WebSocketPageMixin(ContextMixin):
    """Adds what a page needs to open a socket to the template context."""

    #: ``ApiGateway.api_name`` of the API to connect to; ``None``: the first deployed one.
    websocket_api_name: str | None = None
    #: Channel the page joins ("" for the gateway's default channel).
    websocket_channel: str = ""
    #: Route (the ``action`` value) the page's messages select.
    websocket_route: str = "default"
    #: URL name of the token endpoint.
    websocket_token_url_name: str = "wsgateway:websocket-token"  # noqa: S105 (a URL name)

    def get_websocket_gateway(self) -> ApiGateway | None:
        """The gateway the page connects to (one query)."""
        gateways = ApiGateway.objects.exclude(api_endpoint="")
        if self.websocket_api_name is not None:
            gateways = ApiGateway.objects.filter(api_name=self.websocket_api_name)
        return gateways.order_by("pk").first()

    def get_websocket_channel(self) -> str:
        """The channel to join; override to derive it from the URL or the user."""
        return self.websocket_channel

    def get_websocket_route(self) -> str:
        """The route messages from this page select."""
        return self.websocket_route

    def get_websocket_token_url(self) -> str:
        """Where the page POSTs for a one-time connect token."""
        return reverse(self.websocket_token_url_name)

    def get_context_data(self, **kwargs: Any) -> dict[str, Any]:
        """The view's context plus the ``websocket_*`` keys."""
        context = super().get_context_data(**kwargs)
        gateway = self.get_websocket_gateway()
        channel = self.get_websocket_channel()
        if not channel and gateway is not None:
            channel = gateway.default_channel_name
        config = {
            "url": gateway.websocket_url if gateway is not None else "",
            "route": self.get_websocket_route(),
            "channel": channel,
            "token_url": self.get_websocket_token_url(),
            "token_param": wsgateway_settings.TOKEN_QUERY_PARAM,
            "channel_param": wsgateway_settings.CHANNEL_QUERY_PARAM,
        }
        context.update(
            websocket_gateway=gateway,
            websocket_url=config["url"],
            websocket_route=config["route"],
            websocket_channel=config["channel"],
            websocket_token_url=config["token_url"],
            websocket_config=config,
        )
        return context


class WebSocketLoginRequiredPageMixin(LoginRequiredMixin, WebSocketPageMixin):
    """:class:`WebSocketPageMixin` for logged-in users only (tokens are issued to users)."""


class AddWebSocketRouteToContextMixin:
    """The reference package's page mixin: ``api_gateway_route`` and ``channel_name`` in the context.

    ``api_gateway_route`` is the ``ApiGatewayAdditionalRoute`` whose ``route_key`` is
    :attr:`websocket_route_key` (with its gateway; ``None`` when there is none) and
    ``channel_name`` is :attr:`channel_name`. Put it before a view with ``get_context_data``.
    """

    #: The route key of the page's additional route.
    websocket_route_key: str = "default"
    #: The channel the page joins.
    channel_name: str = ""

    def get_context_data(self, **kwargs: Any) -> dict[str, Any]:
        """The view's context plus ``api_gateway_route`` and ``channel_name`` (one query)."""
        context: dict[str, Any] = super().get_context_data(**kwargs)  # type: ignore[misc]
        context["api_gateway_route"] = (
            ApiGatewayAdditionalRoute.objects.filter(route_key=self.websocket_route_key)
            .select_related("api_gateway")
            .first()
        )
        context["channel_name"] = self.channel_name
        return context


class AppChannelWebSocketMixin(AddWebSocketRouteToContextMixin):
    """The reference package's mixin whose route key and channel are the name of the app that
    contains the view serving the request (``app_channel_override``, if set, names the channel)."""

    request: HttpRequest | None = None
    #: The channel to join instead of the app's name.
    app_channel_override: str | None = None

    def get_app_name(self) -> str:
        """The name of the installed app whose module serves this request's path."""
        assert self.request is not None, "AppChannelWebSocketMixin needs self.request"
        module = resolve(self.request.path_info).func.__module__
        app_config = apps.get_containing_app_config(module)
        if app_config is not None:
            return app_config.name
        package = getattr(sys.modules.get(module), "__package__", None)
        return package or module.rpartition(".")[0]

    def get_context_data(self, **kwargs: Any) -> dict[str, Any]:
        """Set the route key and channel from the app, then add the route to the context."""
        app_name = self.get_app_name()
        self.websocket_route_key = app_name
        self.channel_name = self.app_channel_override or app_name
        return super().get_context_data(**kwargs)
