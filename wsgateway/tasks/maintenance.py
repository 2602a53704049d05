"""Maintenance tasks scheduled by celery-beat (queue ``maintenance``)."""

from __future__ import annotations

import logging

from celery import shared_task

from wsgateway import maintenance
from wsgateway.tasks.queues import MAINTENANCE

logger = logging.getLogger(__name__)


@shared_task(name="wsgateway.cleanup_tokens", queue=MAINTENANCE, ignore_result=False)
def cleanup_tokens() -> dict[str, int]:
    """Delete used and expired connect tokens (``WebSocketToken.cleanup_expired``)."""
    removed = maintenance.cleanup_tokens()
    logger.info("wsgateway maintenance cleanup_tokens removed=%d", removed)
    return {"removed": removed}


@shared_task(name="wsgateway.cleanup_rate_limits", queue=MAINTENANCE, ignore_result=False)
def cleanup_rate_limits() -> dict[str, int]:
    """Delete old connection-attempt rows (``ConnectionRateLimit.cleanup_old_records``)."""
    removed = maintenance.cleanup_rate_limits()
    logger.info("wsgateway maintenance cleanup_rate_limits removed=%d", removed)
    return {"removed": removed}


@shared_task(name="wsgateway.purge_disconnected_sessions", queue=MAINTENANCE, ignore_result=False)
def purge_disconnected_sessions() -> dict[str, int]:
    """Delete disconnected session rows past their retention."""
    removed = maintenance.purge_disconnected_sessions()
    logger.info("wsgateway maintenance purge_disconnected_sessions removed=%d", removed)
    return {"removed": removed}
