"""Maintenance tasks scheduled by celery-beat (queue ``maintenance``).

:mod:`wsgateway.schedule` creates their django-celery-beat rows after every ``migrate``, with
the intervals of ``WSGATEWAY["MAINTENANCE_INTERVALS"]``. Each task returns what it did as plain
data (shown in Flower) and logs exactly one line ``wsgateway.maintenance task=<name> key=value ...``.
All are idempotent, so a redelivered or overlapping run is harmless.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from typing import Any, TypeVar

from celery import shared_task

from wsgateway import maintenance
from wsgateway.payloads import Removed, SweepReport
from wsgateway.tasks.queues import MAINTENANCE

logger = logging.getLogger("wsgateway.maintenance")

_OPTIONS: dict[str, Any] = {"queue": MAINTENANCE, "ignore_result": False, "acks_late": True}


R = TypeVar("R", bound=Mapping[str, object])


def _report(task: str, result: R) -> R:
    # key=value pairs only (a breakdown such as errors_by={"429": 3} becomes errors_by.429=3), so
    # log pipelines can split the line without parsing Python reprs.
    pairs: list[str] = []
    for key, value in result.items():
        if isinstance(value, dict):
            pairs += [f"{key}.{sub}={count}" for sub, count in sorted(value.items())]
        else:
            pairs.append(f"{key}={value}")
    logger.info("wsgateway.maintenance task=%s %s", task, " ".join(pairs))
    return result


@shared_task(name="wsgateway.cleanup_tokens", **_OPTIONS)
def cleanup_tokens() -> Removed:
    """Delete used and expired connect tokens (``WebSocketToken.cleanup_expired``)."""
    return _report("cleanup_tokens", Removed(removed=maintenance.cleanup_tokens()))


@shared_task(name="wsgateway.cleanup_rate_limits", **_OPTIONS)
def cleanup_rate_limits() -> Removed:
    """Delete old connection-attempt rows (``ConnectionRateLimit.cleanup_old_records``)."""
    return _report("cleanup_rate_limits", Removed(removed=maintenance.cleanup_rate_limits()))


@shared_task(name="wsgateway.sweep_stale_sessions", **_OPTIONS)
def sweep_stale_sessions(probe_limit: int = maintenance.DEFAULT_PROBE_LIMIT) -> SweepReport:
    """Disconnect sessions past API Gateway's lifetime; probe idle ones (410 → disconnected).

    Returns ``{expired, probed, gone, alive, errors, errors_by}``.
    """
    return _report("sweep_stale_sessions", maintenance.sweep_stale_sessions(probe_limit).as_dict())


@shared_task(name="wsgateway.purge_disconnected_sessions", **_OPTIONS)
def purge_disconnected_sessions() -> Removed:
    """Delete disconnected session rows past their retention."""
    return _report("purge_disconnected_sessions", Removed(removed=maintenance.purge_disconnected_sessions()))
