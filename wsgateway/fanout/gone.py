"""Bulk marking of sessions API Gateway no longer holds (410 after the grace period, kicks).

The implementation is :func:`wsgateway.disconnect.mark_disconnected`, shared with the sweep. It
releases the sessions' subscriptions and tells presence who left, which sends messages through the
fan-out tasks: a layer above this package. So ``AppConfig.ready()`` hands it to
:func:`use_marker` and this package never imports it.
"""

from __future__ import annotations

from collections.abc import Callable, Collection

from django.core.exceptions import ImproperlyConfigured

#: Marks the live sessions with these connection ids disconnected; returns how many changed.
Marker = Callable[[Collection[str]], int]

_marker: Marker | None = None


def use_marker(marker: Marker) -> None:
    """Make ``marker`` what :func:`mark_disconnected` calls (``AppConfig.ready()`` calls this)."""
    global _marker
    _marker = marker


def mark_disconnected(connection_ids: Collection[str]) -> int:
    """Mark these sessions disconnected, release their subscriptions, tell presence."""
    if _marker is None:
        raise ImproperlyConfigured("no disconnect marker: is 'wsgateway' in INSTALLED_APPS?")
    return _marker(connection_ids)
