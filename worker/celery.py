"""The Celery app, wired the standard Django way (``celery -A worker worker``)."""

from __future__ import annotations

import os

from celery import Celery

from wsgateway.fanout import lease

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "worker.settings")

app = Celery("worker")
# Every CELERY_* Django setting configures Celery (broker URL, queues, beat scheduler).
app.config_from_object("django.conf:settings", namespace="CELERY")
app.autodiscover_tasks()
# Redeliver a dead worker's chunks within seconds, not at the visibility timeout.
lease.install(app)
