"""The demo's socket endpoint and token view on the test settings (no templates needed)."""

from django.urls import include, path

from worker.chat import ChatSocketView

urlpatterns = [
    path("ws/<slug:route>", ChatSocketView.as_view()),
    path("", include("wsgateway.urls")),
]
