"""URLs of the wsgateway app (namespace ``wsgateway``).

``ws/<slug:route>`` receives API Gateway's events (set the gateway's ``target_base_endpoint`` to
the URL of ``ws/``); ``ws-token/`` issues one-time connect tokens to logged-in pages.
"""

from django.urls import path

from wsgateway.views import WebSocketTokenView, WebSocketView

app_name = "wsgateway"

urlpatterns = [
    path("ws/<slug:route>", WebSocketView.as_view(), name="websocket"),
    path("ws-token/", WebSocketTokenView.as_view(), name="websocket-token"),
]
