"""The ``ApiGateway`` row of an event, cached by API id.

Every event API Gateway POSTs names its API in ``X-Amzn-Apigateway-Api-Id``; looking the row up
on each message would cost a query per message, so the view asks :func:`get_gateway`, which keeps
the row in Django's default cache for ``WSGATEWAY["GATEWAY_CACHE_SECONDS"]`` (0 disables it).

Saving or deleting an ``ApiGateway`` through the ORM invalidates its entry (the old and the new
API id, so a re-provisioned gateway is never found under its former id). ``QuerySet.update()``
sends no signal: such changes are picked up when the entry expires, so keep the lifetime short.
With a per-process cache (``LocMemCache``) an invalidation reaches only the process that saved
the row; a shared cache (Redis, Memcached) reaches every process.

Unknown ids are not cached: only a caller holding the gateway secret gets this far, and a newly
provisioned API must be found at once.
"""

from __future__ import annotations

import re
from typing import Any

from django.core.cache import cache
from django.db.models.signals import post_delete, post_init, post_save

from wsgateway.conf import wsgateway_settings
from wsgateway.models import ApiGateway

__all__ = ["cache_key", "connect_invalidation", "get_gateway", "invalidate"]

_KEY_PREFIX = "wsgateway:gateway:v1:"
_API_ID_RE = re.compile(r"[A-Za-z0-9_-]{1,64}")


def cache_key(api_id: str) -> str:
    """The cache key of ``api_id``'s entry."""
    return f"{_KEY_PREFIX}{api_id}"


def get_gateway(api_id: str) -> ApiGateway | None:
    """The gateway whose AWS API id is ``api_id``, or ``None``; at most one query, none when cached."""
    if not _API_ID_RE.fullmatch(api_id):
        return None  # AWS API ids are short alphanumerics (rows made by hand may add - and _)
    timeout = wsgateway_settings.GATEWAY_CACHE_SECONDS
    if timeout > 0:
        cached = cache.get(cache_key(api_id))
        if isinstance(cached, ApiGateway):
            return cached
    gateway = ApiGateway.objects.filter(api_id=api_id).order_by("pk").first()
    if gateway is not None and timeout > 0:
        cache.set(cache_key(api_id), gateway, timeout)
    return gateway


def invalidate(*api_ids: str) -> None:
    """Forget the cached rows of ``api_ids`` (empty ids are ignored)."""
    keys = [cache_key(a) for a in api_ids if a]
    if keys:
        cache.delete_many(keys)


def _remember_api_id(sender: Any, instance: ApiGateway, **kwargs: Any) -> None:
    # Deferred fields would cost a query to read; such an instance is not tracked.
    if "api_id" in instance.__dict__:
        instance._wsgateway_loaded_api_id = instance.api_id  # type: ignore[attr-defined]


def _on_change(sender: Any, instance: ApiGateway, **kwargs: Any) -> None:
    loaded = getattr(instance, "_wsgateway_loaded_api_id", "")
    current = instance.__dict__.get("api_id", "")
    invalidate(loaded, current)
    instance._wsgateway_loaded_api_id = current  # type: ignore[attr-defined]


def connect_invalidation() -> None:
    """Connect the save/delete receivers (idempotent; called when the app is ready)."""
    post_init.connect(_remember_api_id, sender=ApiGateway, dispatch_uid="wsgateway.gateway_cache.init")
    post_save.connect(_on_change, sender=ApiGateway, dispatch_uid="wsgateway.gateway_cache.save")
    post_delete.connect(_on_change, sender=ApiGateway, dispatch_uid="wsgateway.gateway_cache.delete")
