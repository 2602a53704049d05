"""Django settings of ``benchmarks/load.py``: the runnable project's, set up for a load run.

The load script exports ``DATABASE_URL``, ``CELERY_BROKER_URL`` (its own Redis) and
``WSGATEWAY_ENDPOINT_URL`` (the emulator) before gunicorn, the Celery worker and itself load
this module. Differences from ``worker.settings``:

- ``REQUIRE_TOKEN`` is off: the clients connect anonymously, so a run measures the gateway path
  (``$connect`` checks, session row, rate-limit row), not token issuing;
- the ``$connect`` rate limit is lifted: every client comes from 127.0.0.1;
- ``ROOT_URLCONF`` is ``wsgateway.urls`` (the plain ``WebSocketView``, not the demo chat);
- SQLite runs its transactions ``IMMEDIATE``, so concurrent ``$connect`` writers wait for the
  lock instead of failing with "database is locked".
"""

from __future__ import annotations

import os

# worker.settings refuses to load without its secrets (outside demo mode); this run's own values,
# set below, are the ones in force.
os.environ.setdefault("DJANGO_SECRET_KEY", "load-benchmark-secret-key-not-for-production")
os.environ.setdefault("WSGATEWAY_GATEWAY_SECRETS", "load-benchmark-gateway-secret")

from worker.settings import *  # noqa: F403
from worker.settings import DATABASES, LOGGING, WSGATEWAY

DEBUG = False
SECRET_KEY = "load-benchmark-secret-key-not-for-production"  # noqa: S105
ALLOWED_HOSTS = ["127.0.0.1", "localhost"]
ROOT_URLCONF = "wsgateway.urls"

if DATABASES["default"]["ENGINE"] == "django.db.backends.sqlite3":
    DATABASES["default"]["OPTIONS"] = {"timeout": 30, "transaction_mode": "IMMEDIATE"}

AWS_ACCESS_KEY_ID = "load-benchmark"
AWS_SECRET_ACCESS_KEY = "load-benchmark-secret"  # noqa: S105 (emulator-only credentials)

WSGATEWAY.update(
    {
        "GATEWAY_SECRETS": ["load-benchmark-gateway-secret"],
        "ALLOWED_ORIGINS": [],
        "REQUIRE_TOKEN": False,
        "CONNECT_RATE_LIMIT_ATTEMPTS": 10_000_000,
        "REDIS_URL": os.environ.get("CELERY_BROKER_URL", "redis://127.0.0.1:6379/0"),
        "ENDPOINT_URLS": {"apigatewayv2": os.environ.get("WSGATEWAY_ENDPOINT_URL", "http://127.0.0.1:4510")},
    }
)

# fanout.py --chunk-size: a non-default chunk size, to show what the per-task cost weighs
# (printed with the result; the default stays the shipped one).
if os.environ.get("WSGATEWAY_BENCH_CHUNK_SIZE"):
    WSGATEWAY["FANOUT_CHUNK_SIZE"] = int(os.environ["WSGATEWAY_BENCH_CHUNK_SIZE"])

# fanout.py --breakdown: every task's CPU logged to this file (benchmarks/task_cpu.py).
if os.environ.get("WSGATEWAY_BENCH_TASK_CPU"):
    from benchmarks.task_cpu import install

    install(os.environ["WSGATEWAY_BENCH_TASK_CPU"])

LOGGING = {
    **LOGGING,
    "loggers": {
        "wsgateway": {"handlers": ["console"], "level": os.environ.get("WSGATEWAY_LOG_LEVEL", "WARNING")}
    },
}
