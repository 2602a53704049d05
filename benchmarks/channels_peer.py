"""The Django Channels side of ``benchmarks/channels_fanout.py``, run by the ``channels`` peer's
interpreter (``benchmarks/peers.py``: channels, channels_redis, uvicorn[standard] from PyPI).

Imports only Django and Channels. Two uses:

- ``uvicorn benchmarks.channels_peer:application``: the server. Every websocket on ``/ws/`` joins
  group ``bench`` on connect (``group_add``) and gets each ``bench.message`` event's text, as
  Channels' documentation writes a chat consumer;
- ``python benchmarks/channels_peer.py``: the sender. Reads one message id per line on stdin,
  ``group_send``\\ s a JSON frame carrying it to group ``bench`` and answers one JSON line with its
  ``started_at`` (``time.time()``), ``cpu`` (this process's CPU during the call) and ``seconds``.

The layer is ``channels_redis``'s ``RedisChannelLayer`` on the Redis at ``CHANNELS_REDIS_URL``.
"""

from __future__ import annotations

import json
import os
import sys
import time
from typing import Any

import django
from django.conf import settings

GROUP = "bench"

settings.configure(
    INSTALLED_APPS=["channels"],
    SECRET_KEY="wsgateway-benchmark-channels-peer-not-for-production",  # noqa: S106
    ALLOWED_HOSTS=["127.0.0.1", "localhost"],
    CHANNEL_LAYERS={
        "default": {
            "BACKEND": "channels_redis.core.RedisChannelLayer",
            # Defaults: channels_redis sends a group message once per server process (the
            # process's consumers listed in it), so its per-channel capacity is not reached.
            "CONFIG": {"hosts": [os.environ.get("CHANNELS_REDIS_URL", "redis://127.0.0.1:6379/0")]},
        }
    },
    LOGGING_CONFIG=None,
    USE_TZ=True,
)
django.setup()

from channels.generic.websocket import AsyncWebsocketConsumer  # noqa: E402  (after django.setup())
from channels.layers import get_channel_layer  # noqa: E402
from channels.routing import ProtocolTypeRouter, URLRouter  # noqa: E402
from django.urls import path  # noqa: E402


class BenchConsumer(AsyncWebsocketConsumer):  # type: ignore[misc]
    """A socket in group ``bench``; forwards each group message's text."""

    async def connect(self) -> None:
        await self.channel_layer.group_add(GROUP, self.channel_name)
        await self.accept()

    async def disconnect(self, code: int) -> None:
        await self.channel_layer.group_discard(GROUP, self.channel_name)

    async def bench_message(self, event: dict[str, Any]) -> None:
        await self.send(text_data=event["text"])


application = ProtocolTypeRouter({"websocket": URLRouter([path("ws/", BenchConsumer.as_asgi())])})


def sender() -> None:
    """One ``group_send`` per message id read from stdin; one JSON answer line per send."""
    from asgiref.sync import async_to_sync

    layer = get_channel_layer()
    send = async_to_sync(layer.group_send)
    for line in sys.stdin:
        message_id = line.strip()
        if not message_id:
            continue
        text = json.dumps({"message_id": message_id, "data": {"kind": "channels"}})
        started_at, wall, cpu = time.time(), time.perf_counter(), time.process_time()
        send(GROUP, {"type": "bench.message", "text": text})
        answer = {"started_at": started_at, "cpu": time.process_time() - cpu,
                  "seconds": time.perf_counter() - wall}  # fmt: skip
        print(json.dumps(answer), flush=True)


if __name__ == "__main__":
    sender()
