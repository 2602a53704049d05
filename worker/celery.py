"""The Celery app, wired the standard Django way (``celery -A worker worker``)."""

from __future__ import annotations

import os
from typing import Any

from celery import Celery
from celery.signals import task_postrun
from django.db import connections

from wsgateway.fanout import lease

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "worker.settings")

app = Celery("worker")
# Every CELERY_* Django setting configures Celery (broker URL, queues, beat scheduler).
app.config_from_object("django.conf:settings", namespace="CELERY")
app.autodiscover_tasks()
# Redeliver a dead worker's chunks within seconds, not at the visibility timeout.
lease.install(app)


@task_postrun.connect
def close_old_db_connections(**_: Any) -> None:
    """After each task, what Django does after each request: close the database connections that
    had an error or are older than ``CONN_MAX_AGE``, keep the others for the next task (Celery's
    own fixup closes them every ``CELERY_DB_REUSE_MAX`` tasks only, see worker/settings.py).

    A connection inside an atomic block is left alone: a task applied eagerly inside a transaction
    (a request's, or a test's) runs this too, and closing would break that transaction."""
    for connection in connections.all(initialized_only=True):
        if not connection.in_atomic_block:
            connection.close_if_unusable_or_obsolete()
