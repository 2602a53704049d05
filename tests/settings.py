"""Django settings for the test suite.

- ``WSGATEWAY_TEST_DATABASE_URL``: the database (default SQLite); CI runs the suite on
  ``postgres://postgres@127.0.0.1:5432/test`` and again on SQLite.
- ``WSGATEWAY_TEST_REDIS_URL``: the real Redis used as broker and rate-limiter store; unset, the
  run starts its own (``tests/embedded_redis.py``), so it never flushes a Redis somebody else uses.
- ``WSGATEWAY_TEST_RUN_ID``: suffix of the test database name, so concurrent runs never share one
  (set once by the first process; subprocesses such as Celery workers inherit it).
- ``WSGATEWAY_TEST_MANAGEMENT_ENDPOINT_OVERRIDES``: JSON for ``MANAGEMENT_ENDPOINT_OVERRIDES``, set by
  the HTTPS fan-out tests (tests/fanout/conftest.py) so their worker subprocesses reach the emulator.
"""

from __future__ import annotations

import json
import os
import tempfile
from pathlib import Path
from typing import Any

import dj_database_url
from kombu import Queue

from tests import middleware_chain
from tests.embedded_redis import session_redis_url

RUN_ID = os.environ.setdefault("WSGATEWAY_TEST_RUN_ID", str(os.getpid()))

DEBUG = False
SECRET_KEY = "wsgateway-tests-secret-key-not-for-production"
ALLOWED_HOSTS = ["testserver", "127.0.0.1", "localhost", ".example.com"]

INSTALLED_APPS = [
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "django.contrib.staticfiles",
    "django_celery_beat",
    "wsgateway",
]
MIDDLEWARE = list(middleware_chain.MIDDLEWARE)
ROOT_URLCONF = "tests.urls"
TEMPLATES: list[dict[str, Any]] = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        "DIRS": [],
        "APP_DIRS": True,
        "OPTIONS": {
            "context_processors": [
                "django.template.context_processors.request",
                "django.contrib.auth.context_processors.auth",
                "django.contrib.messages.context_processors.messages",
            ]
        },
    }
]

_db_url = os.environ.get(
    "WSGATEWAY_TEST_DATABASE_URL", "sqlite:///" + str(Path(tempfile.gettempdir()) / "wsgateway.sqlite3")
)
_db = dj_database_url.parse(_db_url)
if _db["ENGINE"] == "django.db.backends.sqlite3":
    # A file, not :memory:, so Celery worker processes started by tests see the same database.
    _db["TEST"] = {"NAME": str(Path(tempfile.gettempdir()) / f"wsgateway-test-{RUN_ID}.sqlite3")}
    # IMMEDIATE takes the write lock at BEGIN: concurrent $connects then wait their turn instead of
    # failing with "database is locked" when a read transaction tries to upgrade.
    _db["OPTIONS"] = {"timeout": 20, "transaction_mode": "IMMEDIATE"}
else:
    _db["TEST"] = {"NAME": f"test_wsgateway_{RUN_ID}"}
DATABASES = {"default": _db}

DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"
USE_TZ = True
TIME_ZONE = "UTC"
STATIC_URL = "static/"
PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]  # fast users in tests

REDIS_URL = session_redis_url()

AWS_REGION_NAME = "us-east-1"
AWS_ACCESS_KEY_ID = "testing"
AWS_SECRET_ACCESS_KEY = "testing"

WSGATEWAY: dict[str, Any] = {
    "GATEWAY_SECRETS": ["test-secret-current", "test-secret-previous"],
    "ALLOWED_ORIGINS": ["https://app.example.com", "http://localhost:8000"],
    "REDIS_URL": REDIS_URL,
}
if os.environ.get("WSGATEWAY_TEST_MANAGEMENT_ENDPOINT_OVERRIDES"):
    WSGATEWAY["MANAGEMENT_ENDPOINT_OVERRIDES"] = json.loads(
        os.environ["WSGATEWAY_TEST_MANAGEMENT_ENDPOINT_OVERRIDES"]
    )

CELERY_BROKER_URL = REDIS_URL
CELERY_RESULT_BACKEND = REDIS_URL
CELERY_TASK_QUEUES = [Queue(name) for name in ("celery", "provisioning", "fanout", "maintenance")]
CELERY_TASK_SERIALIZER = "json"
CELERY_ACCEPT_CONTENT = ["json"]
CELERY_BROKER_TRANSPORT_OPTIONS = {"visibility_timeout": 600}
CELERY_WORKER_CANCEL_LONG_RUNNING_TASKS_ON_CONNECTION_LOSS = False  # see worker/settings.py
CELERY_WSGATEWAY_LEASE_SECONDS = 15
CELERY_BEAT_SCHEDULER = "django_celery_beat.schedulers:DatabaseScheduler"
