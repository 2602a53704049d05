"""The runnable project: Celery app wired the Django way, queues, env-driven settings."""

from __future__ import annotations

import importlib
import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]


def _worker_settings(monkeypatch: pytest.MonkeyPatch, **env: str):
    for key in ("DATABASE_URL", "CELERY_BROKER_URL", "REDIS_URL", "DJANGO_DEBUG", "WSGATEWAY_ENDPOINT_URL"):
        monkeypatch.delenv(key, raising=False)
    # Outside demo mode the settings require their secrets (tests/security covers the refusal).
    monkeypatch.delenv("WSGATEWAY_DEMO", raising=False)
    monkeypatch.setenv("DJANGO_SECRET_KEY", "s" * 50)
    monkeypatch.setenv("WSGATEWAY_GATEWAY_SECRETS", "g" * 40)
    for key, value in env.items():
        monkeypatch.setenv(key, value)
    import worker.settings

    return importlib.reload(worker.settings)


def test_sqlite_by_default(monkeypatch) -> None:
    settings = _worker_settings(monkeypatch)
    assert settings.DATABASES["default"]["ENGINE"] == "django.db.backends.sqlite3"
    assert settings.CELERY_BROKER_URL == "redis://127.0.0.1:6379/0"


def test_postgres_and_broker_from_environment(monkeypatch) -> None:
    settings = _worker_settings(
        monkeypatch,
        DATABASE_URL="postgres://app@db.internal:5433/ws",
        CELERY_BROKER_URL="redis://cache:6379/3",
        WSGATEWAY_ENDPOINT_URL="http://emulator:4510",
    )
    db = settings.DATABASES["default"]
    assert db["ENGINE"] == "django.db.backends.postgresql"
    assert (db["HOST"], db["PORT"], db["NAME"], db["USER"]) == ("db.internal", 5433, "ws", "app")
    assert settings.CELERY_BROKER_URL == "redis://cache:6379/3"
    assert settings.WSGATEWAY["ENDPOINT_URLS"] == {"apigatewayv2": "http://emulator:4510"}


def test_queues_are_declared(monkeypatch) -> None:
    settings = _worker_settings(monkeypatch)
    assert {q.name for q in settings.CELERY_TASK_QUEUES} >= {"provisioning", "fanout", "maintenance"}
    assert settings.CELERY_BEAT_SCHEDULER == "django_celery_beat.schedulers:DatabaseScheduler"
    # Redis redelivers unacked tasks after this: it must exceed any task countdown.
    from wsgateway.conf import SETTINGS

    longest = max(
        SETTINGS[k].default
        for k in (
            "FANOUT_RETRY_BACKOFF_MAX_SECONDS",
            "DOMAIN_NAME_INTERVAL_SECONDS",
            "DEPLOYMENT_INTERVAL_SECONDS",
        )
    )
    assert settings.CELERY_BROKER_TRANSPORT_OPTIONS["visibility_timeout"] > 2 * longest


def test_worker_app_autodiscovers_every_task_module() -> None:
    """A fresh interpreter, as `celery -A worker worker` starts: every wsgateway task is registered."""
    code = """
import os, sys
os.environ["DJANGO_SETTINGS_MODULE"] = "worker.settings"
os.environ["WSGATEWAY_DEMO"] = "1"
import django
django.setup()
from worker import celery_app as app
app.autodiscover_tasks(force=True)
for name in sorted(app.tasks):
    if name.startswith("wsgateway."):
        print("task", name, app.tasks[name].queue)
for name in sorted(sys.modules):
    if name.startswith("wsgateway.tasks."):
        print("module", name.rsplit(".", 1)[1], "-")
"""
    out = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, timeout=60)
    assert out.returncode == 0, out.stderr
    rows = [line.split() for line in out.stdout.splitlines()]
    registered = {name: queue for kind, name, queue in rows if kind == "task"}
    loaded = {name for kind, name, _ in rows if kind == "module"}
    assert registered["wsgateway.cleanup_tokens"] == "maintenance"
    assert registered["wsgateway.cleanup_rate_limits"] == "maintenance"
    assert registered["wsgateway.purge_disconnected_sessions"] == "maintenance"
    modules = {p.stem for p in (ROOT / "wsgateway" / "tasks").glob("*.py") if p.stem != "__init__"}
    assert modules <= loaded, f"task modules autodiscovery does not import: {modules - loaded}"
    assert set(registered.values()) <= {"provisioning", "fanout", "maintenance"}


def test_manage_py_check_passes_on_the_runnable_project() -> None:
    # The demo's configuration (demo mode: public secrets, a warning); tests/security checks the rest.
    env = {k: v for k, v in os.environ.items() if not k.startswith(("DJANGO_", "WSGATEWAY_"))}
    out = subprocess.run(
        [sys.executable, "manage.py", "check"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=120,
        env={**env, "WSGATEWAY_DEMO": "1"},
    )
    assert out.returncode == 0, out.stdout + out.stderr


def test_worker_keeps_database_connections_between_tasks(monkeypatch) -> None:
    # Celery's Django fixup would close them around every task (a new connection per message).
    settings = _worker_settings(monkeypatch)
    assert settings.CELERY_DB_REUSE_MAX >= 100
    # A kept connection that died meanwhile (a database restart) is replaced at its first use.
    assert settings.DATABASES["default"]["CONN_HEALTH_CHECKS"] is True
    from celery.signals import task_postrun

    import worker.celery

    # Django's own rule instead, after each task: errors or CONN_MAX_AGE close a connection.
    receivers = [ref() for _key, ref in task_postrun.receivers]
    assert worker.celery.close_old_db_connections in receivers


@pytest.mark.django_db
def test_the_after_task_rule_leaves_a_connection_in_a_transaction_open() -> None:
    # An eager task inside a transaction (here the test's) must not lose its connection.
    from django.db import connection, transaction

    import worker.celery

    with transaction.atomic():
        connection.cursor().execute("SELECT 1")
        worker.celery.close_old_db_connections()
        with connection.cursor() as cursor:
            cursor.execute("SELECT 1")
            assert cursor.fetchone() == (1,)
