"""The reference package's page mixins and token view, under their names."""

from __future__ import annotations

import json
from typing import Any

import pytest
from django.contrib.auth.models import User
from django.test import Client, RequestFactory
from django.urls import reverse
from django.views.generic import TemplateView

from wsgateway.mixins import AddWebSocketRouteToContextMixin, AppChannelWebSocketMixin
from wsgateway.models import ApiGateway, ApiGatewayAdditionalRoute, WebSocketToken

pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("compat_urls")]


class Base:
    def get_context_data(self, **kwargs: Any) -> dict[str, Any]:
        return kwargs


class RoutePage(AddWebSocketRouteToContextMixin, Base):
    pass


def make_route(route_key: str) -> ApiGatewayAdditionalRoute:
    gateway = ApiGateway.objects.create(
        api_name=f"gw-{route_key}", target_base_endpoint="https://www.example.com/ws/"
    )
    return ApiGatewayAdditionalRoute.objects.create(
        api_gateway=gateway,
        name=route_key,
        route_key=route_key,
        integration_url="https://www.example.com/ws/x",
    )


def test_the_route_mixin_adds_the_route_and_channel(django_assert_num_queries: Any) -> None:
    route = make_route("default")
    page = RoutePage()
    page.channel_name = "room"
    with django_assert_num_queries(1):
        context = page.get_context_data(kept=True)
        assert context["api_gateway_route"].api_gateway.api_name == "gw-default"
    assert context == {"kept": True, "api_gateway_route": route, "channel_name": "room"}
    page.websocket_route_key = "missing"
    assert page.get_context_data()["api_gateway_route"] is None


def test_the_app_channel_mixin_names_route_and_channel_after_the_app(settings: Any) -> None:
    settings.ROOT_URLCONF = "tests.compat.urls"
    route = make_route("wsgateway")

    class Page(AppChannelWebSocketMixin, TemplateView):
        template_name = "unused.html"

    page = Page()
    page.request = RequestFactory().get(
        reverse("wsgateway:websocket-token")
    )  # a view in wsgateway.views.token
    context = page.get_context_data()
    assert (context["api_gateway_route"], context["channel_name"]) == (route, "wsgateway")
    assert page.websocket_route_key == "wsgateway"
    page.app_channel_override = "lobby"
    assert page.get_context_data()["channel_name"] == "lobby"
    assert page.websocket_route_key == "wsgateway"


def test_the_token_view_issues_a_token_bound_to_the_session(settings: Any) -> None:
    settings.ROOT_URLCONF = "tests.compat.urls"
    user = User.objects.create_user("carol", password="pw")
    client = Client(enforce_csrf_checks=False)
    client.force_login(user)
    response = client.post(reverse("wsgateway:websocket-token"))
    assert response.status_code == 200
    answer = json.loads(response.content)
    assert answer["expires_in"] == 60 and isinstance(answer["token"], str)
    assert WebSocketToken.objects.filter(user=user).count() == 1
