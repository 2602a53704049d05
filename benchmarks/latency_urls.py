"""URLs of ``benchmarks/latency.py``: ``ws/<route>`` with a ``probe`` handler (see latency_settings)."""

from __future__ import annotations

from typing import Any

from django.urls import path

from wsgateway.views import EventRefused, WebSocketView


class ProbeView(WebSocketView):
    """``{"action": "probe", "probe": "<32 hex>"}``: send ``{"probe": …}`` to the sender's channel,
    the sender included, with the probe as the message id (what a chat ``send_message`` does)."""

    allowed_handlers = ("probe",)

    def probe(self, body: dict[str, Any]) -> dict[str, Any]:
        probe = body.get("probe")
        if not isinstance(probe, str) or len(probe) != 32:
            raise EventRefused(400, "invalid_probe", "'probe' must be 32 characters.")
        self.send_to_channel({"probe": probe}, include_self=True, message_id=probe)
        return {"status": "queued"}


urlpatterns = [path("ws/<slug:route>", ProbeView.as_view(), name="websocket")]
