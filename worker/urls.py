"""URLs of the runnable project: the demo chat, the admin and wsgateway's endpoints.

``ws/<slug:route>`` is the demo's :class:`~worker.chat.ChatSocketView` (API Gateway's integrations
POST there); ``ws-token/`` is wsgateway's token view under its usual URL name. The app's generic
``WebSocketView`` is not routed: an unused open endpoint is one more thing to defend.
"""

from django.conf import settings
from django.contrib import admin
from django.contrib.staticfiles.views import serve as serve_static
from django.urls import include, path, re_path

from worker.chat import ChatSocketView, IndexView, RoomView
from wsgateway.views import WebSocketTokenView

#: wsgateway's token endpoint under the "wsgateway" namespace the page mixin expects.
wsgateway_urls = ([path("ws-token/", WebSocketTokenView.as_view(), name="websocket-token")], "wsgateway")

urlpatterns = [
    path("admin/", admin.site.urls),
    path("accounts/", include("django.contrib.auth.urls")),
    path("ws/<slug:route>", ChatSocketView.as_view(), name="chat-socket"),
    path("", include(wsgateway_urls)),
    path("", IndexView.as_view(), name="index"),
    path("rooms/<slug:room>/", RoomView.as_view(), name="room"),
]

if settings.DEBUG or getattr(settings, "SERVE_STATIC", False):
    # gunicorn serves no static files; the demo and the compose stack let Django do it (a real
    # deployment puts a CDN or whitenoise in front instead).
    urlpatterns.append(
        re_path(r"^static/(?P<path>.*)$", serve_static, {"insecure": True}),
    )
