"""The beat schedule exists after migrate, follows MAINTENANCE_INTERVALS, and is never duplicated."""

from __future__ import annotations

import pytest
from celery.contrib.testing.worker import start_worker
from django.core.exceptions import ImproperlyConfigured
from django.core.management import call_command
from django.core.management.sql import emit_post_migrate_signal
from django_celery_beat.models import IntervalSchedule, PeriodicTask
from django_celery_beat.schedulers import DatabaseScheduler

from tests.celery_app import app
from tests.maintenance.emulated import wsgateway_overrides
from wsgateway.conf import SETTINGS
from wsgateway.schedule import MAINTENANCE_TASKS, sync_beat_schedule

pytestmark = pytest.mark.django_db

DEFAULTS = SETTINGS["MAINTENANCE_INTERVALS"].default
EXPECTED_TASKS = {
    "wsgateway.cleanup_tokens",
    "wsgateway.cleanup_rate_limits",
    "wsgateway.sweep_stale_sessions",
    "wsgateway.purge_disconnected_sessions",
}


def ours() -> dict[str, PeriodicTask]:
    rows = PeriodicTask.objects.filter(name__startswith="wsgateway: ").select_related("interval")
    return {row.task: row for row in rows}


def migrate_signal() -> None:
    emit_post_migrate_signal(verbosity=0, interactive=False, db="default")


def assert_schedule(intervals: dict[str, int]) -> None:
    rows = ours()
    assert set(rows) == EXPECTED_TASKS
    assert PeriodicTask.objects.filter(name__startswith="wsgateway: ").count() == 4
    for spec in MAINTENANCE_TASKS:
        row = rows[spec.task]
        assert row.name == spec.name
        assert row.queue == "maintenance"
        assert row.interval is not None and row.interval.period == IntervalSchedule.SECONDS
        assert row.interval.every == intervals[spec.key], spec.key
        assert row.crontab_id is None and row.enabled and not row.one_off


def test_schedule_exists_after_the_test_database_was_migrated() -> None:
    assert_schedule(DEFAULTS)


def test_post_migrate_recreates_a_flushed_schedule_once() -> None:
    PeriodicTask.objects.all().delete()
    migrate_signal()
    assert_schedule(DEFAULTS)
    migrate_signal()
    migrate_signal()
    assert_schedule(DEFAULTS)
    assert IntervalSchedule.objects.filter(every=DEFAULTS["cleanup_tokens"], period="seconds").count() == 1


def test_migrate_command_keeps_one_row_per_task() -> None:
    call_command("migrate", verbosity=0, interactive=False)
    assert_schedule(DEFAULTS)


def test_changed_interval_updates_the_row_without_duplicates() -> None:
    before = ours()["wsgateway.cleanup_tokens"].pk
    with wsgateway_overrides(MAINTENANCE_INTERVALS={"cleanup_tokens": 123}):
        migrate_signal()
        assert_schedule({**DEFAULTS, "cleanup_tokens": 123})
        assert sync_beat_schedule() == {spec.name: "unchanged" for spec in MAINTENANCE_TASKS}
        assert IntervalSchedule.objects.filter(every=123, period="seconds").count() == 1
    row = ours()["wsgateway.cleanup_tokens"]
    assert row.pk == before  # updated in place
    assert row.expire_seconds == 123
    outcome = sync_beat_schedule()  # back to the default
    assert outcome["wsgateway: cleanup_tokens"] == "updated"
    assert_schedule(DEFAULTS)


def test_operator_disabling_is_kept_and_none_disables() -> None:
    PeriodicTask.objects.filter(name="wsgateway: cleanup_rate_limits").update(enabled=False)
    migrate_signal()
    assert not PeriodicTask.objects.get(name="wsgateway: cleanup_rate_limits").enabled
    with wsgateway_overrides(MAINTENANCE_INTERVALS={"purge_disconnected_sessions": None}):
        migrate_signal()
    assert not PeriodicTask.objects.get(name="wsgateway: purge_disconnected_sessions").enabled
    assert PeriodicTask.objects.get(name="wsgateway: sweep_stale_sessions").enabled


@pytest.mark.parametrize(
    "intervals", [{"cleanup_tokens": 0}, {"cleanup_tokens": "60"}, {"cleanup_tokens": True}, {"typo": 60}]
)
def test_bad_intervals_are_a_clear_configuration_error(intervals: dict) -> None:
    with wsgateway_overrides(MAINTENANCE_INTERVALS=intervals), pytest.raises(ImproperlyConfigured):
        sync_beat_schedule()
    assert_schedule(DEFAULTS)  # nothing half-applied


def test_database_scheduler_runs_them_on_the_maintenance_queue() -> None:
    scheduler = DatabaseScheduler(app=app, lazy=True)
    entries = {entry.task: entry for entry in scheduler.all_as_schedule().values()}
    for spec in MAINTENANCE_TASKS:
        entry = entries[spec.task]
        assert entry.options["queue"] == "maintenance"
        assert entry.schedule.run_every.total_seconds() == DEFAULTS[spec.key]
        assert spec.task in app.tasks  # the name beat sends is a registered task


@pytest.mark.slow
@pytest.mark.django_db(transaction=True)
@pytest.mark.timeout(30)
def test_beat_entries_reach_a_worker_on_the_maintenance_queue(clean_redis) -> None:
    """What beat sends (task name + the row's queue) is run by a worker that consumes only
    ``maintenance`` and comes back as the task's report."""
    scheduler = DatabaseScheduler(app=app, lazy=True)
    entries = {entry.task: entry for entry in scheduler.all_as_schedule().values()}
    with start_worker(app, pool="solo", perform_ping_check=False, queues=["maintenance"]):
        results = {
            task: scheduler.apply_async(entries[task]).get(timeout=20)
            for task in ("wsgateway.cleanup_tokens", "wsgateway.sweep_stale_sessions")
        }
    assert results["wsgateway.cleanup_tokens"] == {"removed": 0}
    assert results["wsgateway.sweep_stale_sessions"]["expired"] == 0
