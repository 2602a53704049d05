"""Settings of the runnable project (demo, docker-compose, the worker).

Secure by default: DEBUG is off and start-up refuses (``ImproperlyConfigured``) a missing
``DJANGO_SECRET_KEY`` or ``WSGATEWAY_GATEWAY_SECRETS``, unless the explicit demo mode is on:
``WSGATEWAY_DEMO=1`` (set by ``python3 dev.py demo``) fills them with public demo values
(:mod:`wsgateway.shipped_secrets`) and says so loudly on every start. System check
``wsgateway.E010`` refuses those public values outside demo mode, and ``check --deploy`` refuses
demo mode itself (``wsgateway.E011``).

Everything comes from the environment:

- ``WSGATEWAY_DEMO``: the local demo mode (public secrets, emulator credentials); default off.
- ``DATABASE_URL``: ``sqlite:///path`` or ``postgres://user@host:port/name`` (default: SQLite file).
- ``CELERY_BROKER_URL`` / ``REDIS_URL``: the broker (default ``redis://127.0.0.1:6379/0``).
- ``DJANGO_SECRET_KEY`` (required), ``DJANGO_DEBUG`` (default off), ``DJANGO_ALLOWED_HOSTS``
  (comma separated), ``DJANGO_CSRF_TRUSTED_ORIGINS`` (comma separated), ``DJANGO_SERVE_STATIC``
  (let Django serve static files behind gunicorn; default: DEBUG), ``DJANGO_STATIC_ROOT``.
- ``AWS_REGION_NAME``, ``WSGATEWAY_ENDPOINT_URL`` (point every AWS call at the emulator),
  ``WSGATEWAY_GATEWAY_SECRETS`` (comma separated, required), ``WSGATEWAY_ALLOWED_ORIGINS`` (comma
  separated), ``DEMO_PUBLIC_EMULATOR_URL`` (the emulator's ``ws://`` address as browsers see it).
"""

from __future__ import annotations

import os
import sys
from pathlib import Path
from typing import Any

import dj_database_url
from celery.schedules import crontab  # noqa: F401  (documented for projects that copy this file)
from django.core.exceptions import ImproperlyConfigured
from kombu import Queue

from wsgateway import shipped_secrets

BASE_DIR = Path(__file__).resolve().parent.parent


def _split(value: str) -> list[str]:
    return [item.strip() for item in value.split(",") if item.strip()]


def _env_list(name: str, default: str = "") -> list[str]:
    return _split(os.environ.get(name, default))


def _env_bool(name: str, default: bool) -> bool:
    value = os.environ.get(name)
    return default if value is None else value.strip().lower() in {"1", "true", "yes", "on"}


_GENERATE = 'python -c "import secrets; print(secrets.token_urlsafe(50))"'


def _required_secret(name: str, demo_value: str) -> str:
    """The environment's ``name``; the public ``demo_value`` only in demo mode; else refuse to start."""
    value = os.environ.get(name, "").strip()
    if value:
        return value
    if WSGATEWAY_DEMO:
        return demo_value
    raise ImproperlyConfigured(
        f"{name} is not set. Generate one with {_GENERATE} and export it, "
        "or run the local demo (python3 dev.py demo, which sets WSGATEWAY_DEMO=1)."
    )


#: Explicit local demo mode: public secrets allowed (read by wsgateway.checks_deploy).
WSGATEWAY_DEMO = _env_bool("WSGATEWAY_DEMO", False)
if WSGATEWAY_DEMO:
    # Every process of the demo (web, worker, beat, manage.py) says it once, on stderr.
    print(
        "*** WSGATEWAY DEMO MODE: public secrets and emulator credentials; local use only, "
        "never expose it. ***",
        file=sys.stderr,
        flush=True,
    )
DEBUG = _env_bool("DJANGO_DEBUG", False)
SECRET_KEY = _required_secret("DJANGO_SECRET_KEY", shipped_secrets.DEMO_SECRET_KEY)
ALLOWED_HOSTS = _env_list("DJANGO_ALLOWED_HOSTS", "127.0.0.1,localhost")
CSRF_TRUSTED_ORIGINS = _env_list("DJANGO_CSRF_TRUSTED_ORIGINS")

INSTALLED_APPS = [
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "django.contrib.staticfiles",
    "django_celery_beat",
    "wsgateway",
    "worker",
]

MIDDLEWARE = [
    "django.middleware.security.SecurityMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
]

ROOT_URLCONF = "worker.urls"
WSGI_APPLICATION = "worker.wsgi.application"

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

# Connections are kept for a minute (the worker reuses them between tasks, see
# CELERY_DB_REUSE_MAX); the health check makes a connection that died meanwhile (a database
# restart) be replaced at its first use, instead of failing the task that gets it.
DATABASES = {
    "default": dj_database_url.parse(
        os.environ.get("DATABASE_URL", f"sqlite:///{BASE_DIR / '.demo' / 'db.sqlite3'}"),
        conn_max_age=60,
        conn_health_checks=True,
    )
}
if DATABASES["default"]["ENGINE"] == "django.db.backends.sqlite3":
    # The web process, the worker and beat share the file: wait for locks instead of failing;
    # WAL lets readers run while one process writes; IMMEDIATE takes the write lock when a
    # transaction starts, so two writers queue up instead of deadlocking on a lock upgrade.
    DATABASES["default"].setdefault("OPTIONS", {}).update(
        timeout=20,
        init_command="PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL;",
        transaction_mode="IMMEDIATE",
    )

DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"
LANGUAGE_CODE = "en-us"
TIME_ZONE = "UTC"
USE_TZ = True
STATIC_URL = "static/"
STATIC_ROOT = Path(os.environ.get("DJANGO_STATIC_ROOT", str(BASE_DIR / ".demo" / "static")))
# gunicorn serves no static files: let Django serve them (demo, docker-compose) when set.
SERVE_STATIC = _env_bool("DJANGO_SERVE_STATIC", DEBUG)
LOGIN_URL = "/accounts/login/"
LOGIN_REDIRECT_URL = "/"

# --- AWS / wsgateway ---
AWS_REGION_NAME = os.environ.get("AWS_REGION_NAME", "us-east-1")
_endpoint = os.environ.get("WSGATEWAY_ENDPOINT_URL", "")
WSGATEWAY: dict[str, Any] = {
    "GATEWAY_SECRETS": _split(
        _required_secret("WSGATEWAY_GATEWAY_SECRETS", shipped_secrets.DEMO_GATEWAY_SECRET)
    ),
    "ALLOWED_ORIGINS": _env_list("WSGATEWAY_ALLOWED_ORIGINS", "http://127.0.0.1:8000,http://localhost:8000"),
    # The demo's rooms (worker/chat.py): members hear member_added / member_removed.
    "PRESENCE_CHANNELS": ["room-*"],
}
if _endpoint:
    WSGATEWAY["ENDPOINT_URLS"] = {"apigatewayv2": _endpoint}
# Demo pages only: the emulator's address as the browser sees it, when it differs from the one
# the containers use (docker-compose: emulator:4510 inside, localhost:4510 outside).
DEMO_PUBLIC_EMULATOR_URL = os.environ.get("DEMO_PUBLIC_EMULATOR_URL", "")
if WSGATEWAY_DEMO and not os.environ.get("AWS_ACCESS_KEY_ID"):
    # The demo's emulator listens on loopback only; boto3 still needs credentials to sign with.
    AWS_ACCESS_KEY_ID = shipped_secrets.DEMO_AWS_ACCESS_KEY_ID
    AWS_SECRET_ACCESS_KEY = shipped_secrets.DEMO_AWS_SECRET_ACCESS_KEY

# --- Celery ---
CELERY_BROKER_URL = os.environ.get(
    "CELERY_BROKER_URL", os.environ.get("REDIS_URL", "redis://127.0.0.1:6379/0")
)
CELERY_RESULT_BACKEND = os.environ.get("CELERY_RESULT_BACKEND", CELERY_BROKER_URL)
CELERY_TASK_DEFAULT_QUEUE = "celery"
CELERY_TASK_QUEUES = [Queue(name) for name in ("celery", "provisioning", "fanout", "maintenance")]
CELERY_TASK_SERIALIZER = "json"
CELERY_RESULT_SERIALIZER = "json"
CELERY_ACCEPT_CONTENT = ["json"]
CELERY_RESULT_EXPIRES = 24 * 3600
CELERY_WORKER_PREFETCH_MULTIPLIER = 1
# Unacked tasks (acks_late) are redelivered after this when a whole worker dies: it must exceed
# the longest countdown a task uses (60 s retry cap, 30 s domain spacing; check wsgateway.W002),
# and a shorter value recovers a killed worker's chunks sooner.
CELERY_BROKER_TRANSPORT_OPTIONS = {"visibility_timeout": 600}
# A task running when the broker connection drops finishes (cancelling it made Celery acknowledge
# it on the new connection: the chunk was lost). Its message stays unacked and comes back within
# the lease (wsgateway.fanout.lease); the chunk's done-mark skips it if it had finished.
CELERY_WORKER_CANCEL_LONG_RUNNING_TASKS_ON_CONNECTION_LOSS = False
# Seconds before a dead worker's held messages are redelivered (wsgateway.fanout.lease).
CELERY_WSGATEWAY_LEASE_SECONDS = 15
CELERY_BROKER_CONNECTION_RETRY_ON_STARTUP = True
CELERY_BEAT_SCHEDULER = "django_celery_beat.schedulers:DatabaseScheduler"
# Celery's Django fixup closes the database connections before and after every task unless this
# is set: each task then opened a new connection (a TCP + authentication round, ~10 ms here) before
# its first query, on the path of every message (benchmarks/latency.py). Reuse them for this many
# tasks; as after a web request, a connection that had an error or is older than CONN_MAX_AGE is
# closed after each task (worker/celery.py).
CELERY_DB_REUSE_MAX = 1000
CELERY_TASK_SEND_SENT_EVENT = True
CELERY_WORKER_SEND_TASK_EVENTS = True

# One handler, on the root logger: wsgateway's loggers propagate to it. Under Celery the worker
# replaces the root handlers with its own (worker_hijack_root_logger), so every line is printed
# once, in Celery's format; a second handler on "wsgateway" printed each line twice.
# runserver's access log ("django.server", as Django configures it) without query strings: the
# $connect request carries the client's one-time token there (wsgateway/access_log.py).
LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "filters": {"without_query_string": {"()": "wsgateway.access_log.WithoutQueryString"}},
    "formatters": {
        "plain": {"format": "%(asctime)s %(levelname)s %(name)s %(message)s"},
        "django.server": {
            "()": "django.utils.log.ServerFormatter",
            "format": "[{server_time}] {message}",
            "style": "{",
        },
    },
    "handlers": {
        "console": {"class": "logging.StreamHandler", "formatter": "plain"},
        "django.server": {"class": "logging.StreamHandler", "formatter": "django.server"},
    },
    "root": {"handlers": ["console"], "level": "WARNING"},
    "loggers": {
        "wsgateway": {"level": os.environ.get("WSGATEWAY_LOG_LEVEL", "INFO")},
        "django.server": {
            "handlers": ["django.server"],
            "filters": ["without_query_string"],
            "level": "INFO",
            "propagate": False,
        },
    },
}
