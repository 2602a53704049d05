"""Django settings of ``benchmarks/latency.py``: the load benchmark's, with a view that echoes a
probe to its channel.

Same as :mod:`benchmarks.load_settings` (anonymous clients, ``$connect`` rate limit lifted, the
emulator as API Gateway) except ``ROOT_URLCONF``: :mod:`benchmarks.latency_urls` mounts a
``WebSocketView`` whose ``probe`` handler sends the probe to the sender's channel through the
Celery worker, the path a chat message takes.
"""

from __future__ import annotations

from benchmarks.load_settings import *  # noqa: F403

ROOT_URLCONF = "benchmarks.latency_urls"
