"""A Celery worker process for the fault tests, on the test database and a chosen Redis.

``python -m tests.faults.worker_process --queues fanout --concurrency 2``; the environment says
where everything is (set by :func:`tests.faults.conftest.spawn_worker`):

- ``WSGATEWAY_TEST_REDIS_URL``: broker, result backend and the fan-out's Redis (tests.settings);
- ``WSGATEWAY_FAULTS_DB_NAME``: the test database the test process created;
- ``WSGATEWAY_FAULTS_VISIBILITY``: the broker's visibility timeout, short so the messages of a
  killed worker come back within the test's time;
- ``WSGATEWAY_FAULTS_SETTINGS``: JSON merged into ``settings.WSGATEWAY`` (fast retries ...);
- ``WSGATEWAY_FAULTS_DB_TIMEOUT``: SQLite's busy timeout, seconds (default 20).
"""

from __future__ import annotations

import argparse
import json
import os


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--queues", default="fanout")
    parser.add_argument("--concurrency", default="2")
    parser.add_argument("--pool", default="prefork")
    parser.add_argument("--hostname", default=None, help="node name, e.g. standby@localhost")
    args = parser.parse_args()

    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "tests.settings")
    from django.conf import settings

    name = os.environ.get("WSGATEWAY_FAULTS_DB_NAME")
    if name:
        settings.DATABASES["default"]["NAME"] = name
    if settings.DATABASES["default"]["ENGINE"].endswith("sqlite3"):
        # A locked database fails fast (the fault tests lock it to make it unavailable).
        timeout = float(os.environ.get("WSGATEWAY_FAULTS_DB_TIMEOUT", "20"))
        settings.DATABASES["default"].setdefault("OPTIONS", {})["timeout"] = timeout
    visibility = float(os.environ.get("WSGATEWAY_FAULTS_VISIBILITY", "3600"))
    settings.CELERY_BROKER_TRANSPORT_OPTIONS = {
        "visibility_timeout": visibility,
        "unacked_restore_interval": 1,
        "unacked_restore_throttle": 1,
    }
    settings.WSGATEWAY = {
        **settings.WSGATEWAY,
        **json.loads(os.environ.get("WSGATEWAY_FAULTS_SETTINGS", "{}")),
    }

    import django

    django.setup()
    from tests.celery_app import app

    node = ["-n", args.hostname] if args.hostname else []
    app.worker_main(
        [
            "worker",
            *node,
            "-Q",
            args.queues,
            "-P",
            args.pool,
            "-c",
            args.concurrency,
            "--without-gossip",
            "--without-mingle",
            "--without-heartbeat",
            "--prefetch-multiplier",
            "1",
            "-l",
            "warning",
        ]
    )


if __name__ == "__main__":
    main()
