"""``wsgateway.views`` names the models as the reference's views module did; ``default`` is
callable the reference's way."""

from __future__ import annotations

from unittest.mock import patch

import pytest
from django.contrib.auth import get_user_model
from django.test import Client, RequestFactory

from wsgateway import models, views
from wsgateway.views import EventRefused, WebSocketView


def test_the_views_module_names_the_models() -> None:
    assert views.ApiGateway is models.ApiGateway
    assert views.ConnectionRateLimit is models.ConnectionRateLimit
    assert views.WebSocketSession is models.WebSocketSession
    assert views.WebSocketToken is models.WebSocketToken


@pytest.mark.django_db
def test_patching_a_model_method_through_the_views_module_reaches_the_token_view() -> None:
    user = get_user_model().objects.create_user("patched", password="pw")
    client = Client()
    client.force_login(user)
    with patch("wsgateway.views.WebSocketToken.check_rate_limit", return_value=False) as limited:
        response = client.post("/ws-token/")
    limited.assert_called_once()
    assert response.status_code == 429


class ReferenceDefault(WebSocketView):
    def default(self, request, *args, **kwargs):  # type: ignore[no-untyped-def]
        return super().default(request, *args, **kwargs)


@pytest.mark.parametrize(
    "call",
    [
        lambda request: WebSocketView().default(request=request),
        lambda request: WebSocketView().default(request, route="default"),
        lambda request: ReferenceDefault().default(request, route="default"),
    ],
    ids=["keyword", "positional", "super-from-an-override"],
)
def test_default_called_the_reference_way_refuses_with_400(call) -> None:  # type: ignore[no-untyped-def]
    with pytest.raises(EventRefused) as refused:
        call(RequestFactory().post("/ws/default"))
    assert refused.value.status == 400 and refused.value.code == "missing_handler"
