"""Housekeeping run by celery-beat: plain functions the maintenance tasks call."""

from __future__ import annotations

from datetime import timedelta

from django.utils import timezone

from wsgateway.conf import wsgateway_settings
from wsgateway.models import ConnectionRateLimit, WebSocketSession, WebSocketToken


def cleanup_tokens() -> int:
    """Delete used tokens and tokens older than ``TOKEN_RETENTION_SECONDS``."""
    return WebSocketToken.cleanup_expired(max_age_seconds=int(wsgateway_settings.TOKEN_RETENTION_SECONDS))


def cleanup_rate_limits() -> int:
    """Delete rate-limit rows older than ``RATE_LIMIT_RETENTION_DAYS``."""
    return ConnectionRateLimit.cleanup_old_records(days=wsgateway_settings.RATE_LIMIT_RETENTION_DAYS)


def purge_disconnected_sessions() -> int:
    """Delete disconnected session rows older than ``DISCONNECTED_RETENTION_DAYS``."""
    cutoff = timezone.now() - timedelta(days=wsgateway_settings.DISCONNECTED_RETENTION_DAYS)
    deleted, _ = WebSocketSession.objects.filter(connected=False, updated_on__lt=cutoff).delete()
    return deleted
