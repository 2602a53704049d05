"""The one way the package reaches Redis: a client per process and URL.

Fan-out (request budget, summaries, chunk idempotence keys, ledger) and provisioning (control-plane
quotas) both take their connection from :func:`get_redis`.
"""

from __future__ import annotations

import os
import threading

import redis
from django.conf import settings

from wsgateway.conf import wsgateway_settings

_lock = threading.Lock()
_clients: dict[tuple[int, str], redis.Redis] = {}


def redis_url() -> str:
    """``WSGATEWAY["REDIS_URL"]``, else a redis ``CELERY_BROKER_URL``, else the local default."""
    url = wsgateway_settings.REDIS_URL
    if url:
        return str(url)
    broker = getattr(settings, "CELERY_BROKER_URL", None)
    if isinstance(broker, str) and broker.startswith(("redis://", "rediss://", "unix://")):
        return broker
    return "redis://127.0.0.1:6379/0"


def get_redis() -> redis.Redis:
    """A client per process and URL (a forked worker child never reuses its parent's sockets)."""
    key = (os.getpid(), redis_url())
    client = _clients.get(key)
    if client is None:
        with _lock:
            client = _clients.get(key)
            if client is None:
                client = _clients[key] = redis.Redis.from_url(key[1])
    return client
