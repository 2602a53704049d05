"""The Celery app the test suite uses (same wiring as ``worker.celery``, test settings)."""

from __future__ import annotations

import os

from celery import Celery

from wsgateway.fanout import lease

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "tests.settings")

app = Celery("wsgateway-tests")
app.config_from_object("django.conf:settings", namespace="CELERY")
app.autodiscover_tasks()
lease.install(app)
