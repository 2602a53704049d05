"""The beat schedule of the maintenance tasks, kept in django-celery-beat's tables.

After every ``migrate`` (Django's ``post_migrate`` signal), :func:`sync_beat_schedule` makes one
``PeriodicTask`` per maintenance task exist, on the ``maintenance`` queue, every
``WSGATEWAY["MAINTENANCE_INTERVALS"][key]`` seconds. It is idempotent: rows are found by their
fixed name, an interval that changed in settings moves the row to the matching
``IntervalSchedule``, and nothing is ever duplicated. An operator's ``enabled`` switch in the
admin is kept; an interval of ``None`` disables the task. ``celery -A worker beat -S django``
then runs them with no hand-written ``CELERY_BEAT_SCHEDULE``.

Each run expires after one interval (``expire_seconds``), so a worker that was down does not
find a backlog of identical cleanups when it comes back.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import Any

from django.apps import AppConfig, apps
from django.db import DEFAULT_DB_ALIAS, connections
from django.db.models.signals import post_migrate

from wsgateway.conf import SETTINGS, wsgateway_settings
from wsgateway.tasks.queues import MAINTENANCE

logger = logging.getLogger("wsgateway.schedule")


@dataclass(frozen=True)
class ScheduledTask:
    """One beat entry: the ``MAINTENANCE_INTERVALS`` key, the Celery task name, the row's name."""

    key: str
    task: str
    description: str

    @property
    def name(self) -> str:
        """The ``PeriodicTask.name`` (unique), how the row is found again."""
        return f"wsgateway: {self.key}"


MAINTENANCE_TASKS: tuple[ScheduledTask, ...] = (
    ScheduledTask("cleanup_tokens", "wsgateway.cleanup_tokens", "Delete used and expired connect tokens."),
    ScheduledTask(
        "cleanup_rate_limits", "wsgateway.cleanup_rate_limits", "Delete old connection-attempt rows."
    ),
    ScheduledTask(
        "sweep_stale_sessions",
        "wsgateway.sweep_stale_sessions",
        "Disconnect sessions past the 2 h lifetime; probe idle ones with GET @connections.",
    ),
    ScheduledTask(
        "purge_disconnected_sessions",
        "wsgateway.purge_disconnected_sessions",
        "Delete disconnected session rows past their retention.",
    ),
)


def configured_intervals() -> dict[str, int | None]:
    """Seconds between runs per task key: the settings over the defaults (``None`` = disabled).

    Raises ``ImproperlyConfigured`` for an unknown key or a value that is not a positive number:
    the settings accessor validates ``MAINTENANCE_INTERVALS`` (``wsgateway.conf``) before it
    hands the value out, so nothing is written with a bad schedule.
    """
    defaults: dict[str, Any] = dict(SETTINGS["MAINTENANCE_INTERVALS"].default)
    given: dict[str, Any] = dict(wsgateway_settings.MAINTENANCE_INTERVALS)
    intervals: dict[str, int | None] = {}
    for key, default in defaults.items():
        value = given.get(key, default)
        intervals[key] = None if value is None else int(value)
    return intervals


def sync_beat_schedule(using: str = DEFAULT_DB_ALIAS) -> dict[str, str]:
    """Create or update the maintenance ``PeriodicTask`` rows; what happened to each.

    Returns ``{row name: "created" | "updated" | "unchanged"}``.
    """
    from django_celery_beat.models import IntervalSchedule, PeriodicTask

    outcome: dict[str, str] = {}
    for spec, seconds in zip(MAINTENANCE_TASKS, configured_intervals().values(), strict=True):
        every = seconds if seconds is not None else SETTINGS["MAINTENANCE_INTERVALS"].default[spec.key]
        # IntervalSchedule has no unique constraint: reuse the oldest matching row, never add a twin.
        interval = (
            IntervalSchedule.objects.using(using)
            .filter(every=every, period=IntervalSchedule.SECONDS)
            .order_by("pk")
            .first()
        )
        if interval is None:
            interval = IntervalSchedule.objects.using(using).create(
                every=every, period=IntervalSchedule.SECONDS
            )
        wanted: dict[str, Any] = {
            "task": spec.task,
            "interval_id": interval.pk,
            "queue": MAINTENANCE,
            "expire_seconds": every,
            "description": spec.description,
        }
        row = PeriodicTask.objects.using(using).filter(name=spec.name).first()
        if row is None:
            PeriodicTask.objects.using(using).create(
                name=spec.name, enabled=seconds is not None, one_off=False, **wanted
            )
            outcome[spec.name] = "created"
            continue
        # Disabled in settings wins; otherwise the admin's switch is the operator's to keep.
        if seconds is None:
            wanted["enabled"] = False
        changed = {k: v for k, v in wanted.items() if getattr(row, k) != v}
        # A crontab/solar/clocked schedule put on the row by hand would conflict with the interval.
        for other in ("crontab_id", "solar_id", "clocked_id"):
            if getattr(row, other) is not None:
                changed[other] = None
        if changed:
            for k, v in changed.items():
                setattr(row, k, v)
            row.save(using=using)  # save() fires the signal beat watches to reload its schedule
            outcome[spec.name] = "updated"
        else:
            outcome[spec.name] = "unchanged"
    return outcome


def _beat_tables_exist(using: str) -> bool:
    from django_celery_beat.models import IntervalSchedule, PeriodicTask

    tables = set(connections[using].introspection.table_names())
    return PeriodicTask._meta.db_table in tables and IntervalSchedule._meta.db_table in tables


def sync_after_migrate(sender: AppConfig, using: str = DEFAULT_DB_ALIAS, **kwargs: Any) -> None:
    """``post_migrate`` receiver: apply the schedule once django-celery-beat's tables exist."""
    if not apps.is_installed("django_celery_beat") or not _beat_tables_exist(using):
        return
    outcome = sync_beat_schedule(using)
    logger.info(
        "wsgateway.schedule synced %s",
        " ".join(f"{name.split(': ', 1)[-1]}={what}" for name, what in outcome.items()),
    )


def connect() -> None:
    """Connect :func:`sync_after_migrate` to ``post_migrate`` of this app (once per migrate)."""
    post_migrate.connect(
        sync_after_migrate,
        sender=apps.get_app_config("wsgateway"),
        dispatch_uid="wsgateway.schedule.sync_after_migrate",
    )
