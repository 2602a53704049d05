"""The maintenance functions and tasks report what they removed."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.contrib.auth import get_user_model
from django.test import override_settings
from django.utils import timezone

from wsgateway.models import ConnectionRateLimit, WebSocketSession, WebSocketToken
from wsgateway.tasks import maintenance as tasks

pytestmark = pytest.mark.django_db


def test_cleanup_tokens_task_reports_removed() -> None:
    user = get_user_model().objects.create_user("m")
    token = WebSocketToken.generate_token(user, "s").token
    WebSocketToken.generate_token(user, "s")
    WebSocketToken.validate_and_consume(token, "s")
    assert tasks.cleanup_tokens.apply().get() == {"removed": 1}
    assert WebSocketToken.objects.count() == 1


def test_cleanup_rate_limits_uses_retention_setting() -> None:
    ConnectionRateLimit.objects.create(
        ip_address="192.0.2.1", attempt_time=timezone.now() - timedelta(days=3)
    )
    assert tasks.cleanup_rate_limits.apply().get() == {"removed": 0}
    with override_settings(WSGATEWAY={"RATE_LIMIT_RETENTION_DAYS": 2}):
        assert tasks.cleanup_rate_limits.apply().get() == {"removed": 1}


def test_purge_keeps_live_and_recent_rows() -> None:
    old = timezone.now() - timedelta(days=8)
    WebSocketSession.objects.create(connection_id="live")
    WebSocketSession.objects.create(connection_id="recent-gone", connected=False)
    WebSocketSession.objects.create(connection_id="old-gone", connected=False)
    WebSocketSession.objects.create(connection_id="old-live")
    WebSocketSession.objects.filter(connection_id__startswith="old").update(updated_on=old)
    assert tasks.purge_disconnected_sessions.apply().get() == {"removed": 1}
    assert set(WebSocketSession.objects.values_list("connection_id", flat=True)) == {
        "live",
        "recent-gone",
        "old-live",
    }
