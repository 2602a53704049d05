"""The cleanup tasks remove what their settings say, report it, and log one line each."""

from __future__ import annotations

import logging
from datetime import timedelta

import pytest
from django.contrib.auth import get_user_model
from django.utils import timezone

from tests.maintenance.emulated import wsgateway_overrides
from wsgateway.models import ConnectionRateLimit, WebSocketSession, WebSocketToken
from wsgateway.tasks import maintenance as tasks

pytestmark = pytest.mark.django_db


def test_each_task_reports_removed_and_logs_exactly_one_line(caplog) -> None:
    user = get_user_model().objects.create_user("sweeper")
    WebSocketToken.generate_token(user, "s")
    WebSocketToken.objects.update(created_at=timezone.now() - timedelta(seconds=301))
    WebSocketToken.generate_token(user, "s")
    ConnectionRateLimit.objects.create(
        ip_address="192.0.2.9", attempt_time=timezone.now() - timedelta(days=8)
    )
    ConnectionRateLimit.objects.create(ip_address="192.0.2.9")
    WebSocketSession.objects.create(connection_id="gone", connected=False)
    WebSocketSession.objects.filter(connection_id="gone").update(
        updated_on=timezone.now() - timedelta(days=8)
    )
    with caplog.at_level(logging.INFO, logger="wsgateway.maintenance"):
        results = {
            "cleanup_tokens": tasks.cleanup_tokens.apply().get(),
            "cleanup_rate_limits": tasks.cleanup_rate_limits.apply().get(),
            "purge_disconnected_sessions": tasks.purge_disconnected_sessions.apply().get(),
        }
    assert results == {name: {"removed": 1} for name in results}
    assert (WebSocketToken.objects.count(), ConnectionRateLimit.objects.count()) == (1, 1)
    assert not WebSocketSession.objects.exists()
    lines = [r.getMessage() for r in caplog.records if r.name == "wsgateway.maintenance"]
    assert lines == [f"wsgateway.maintenance task={name} removed=1" for name in results]


def test_retention_settings_are_read_at_run_time() -> None:
    WebSocketSession.objects.create(connection_id="gone", connected=False)
    WebSocketSession.objects.filter(connection_id="gone").update(
        updated_on=timezone.now() - timedelta(days=2)
    )
    assert tasks.purge_disconnected_sessions.apply().get() == {"removed": 0}
    with wsgateway_overrides(DISCONNECTED_RETENTION_DAYS=1):
        assert tasks.purge_disconnected_sessions.apply().get() == {"removed": 1}


def test_tasks_are_routed_to_the_maintenance_queue() -> None:
    for task in (
        tasks.cleanup_tokens,
        tasks.cleanup_rate_limits,
        tasks.sweep_stale_sessions,
        tasks.purge_disconnected_sessions,
    ):
        assert task.queue == "maintenance"
        assert task.name.startswith("wsgateway.")
