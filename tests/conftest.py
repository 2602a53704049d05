"""Shared fixtures: real services only (PostgreSQL or SQLite, Redis, the emulator)."""

from __future__ import annotations

import os
import socket
import subprocess
from collections.abc import Iterator

import pytest
import redis
from django.conf import settings

from tests.celery_app import app as celery_app  # noqa: F401  (binds @shared_task to the test app)

pytest_plugins = ["wsgateway.emulator.pytest_plugin"]


def pytest_report_header(config: pytest.Config) -> list[str]:
    db = settings.DATABASES["default"]
    return [f"wsgateway: database {db['ENGINE'].rsplit('.', 1)[-1]}, redis {settings.REDIS_URL}"]


@pytest.fixture(scope="session")
def redis_client() -> Iterator[redis.Redis]:
    """The real Redis of the test run. A missing Redis is a failure, never a skip."""
    client = redis.Redis.from_url(settings.REDIS_URL)
    try:
        client.ping()
    except redis.ConnectionError as err:  # pragma: no cover - environment problem
        pytest.fail(f"Redis at {settings.REDIS_URL} is not reachable: {err}")
    yield client
    client.close()


@pytest.fixture
def clean_redis(redis_client: redis.Redis) -> Iterator[redis.Redis]:
    """The test Redis database, emptied before and after the test."""
    redis_client.flushdb()
    yield redis_client
    redis_client.flushdb()


@pytest.fixture
def is_postgres() -> bool:
    return settings.DATABASES["default"]["ENGINE"].endswith("postgresql")


def pytest_configure(config: pytest.Config) -> None:
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "tests.settings")


@pytest.fixture(autouse=True)
def _unit_tests_use_no_services(request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch) -> None:
    """A test marked ``unit`` (the fast tier) that opens a connection or starts a process fails at
    once: the tier runs with no Redis, database server or emulator (``dev.py test -m unit`` starts
    none), and code that survives outages must not hide that it tried."""
    if request.node.get_closest_marker("unit") is None:
        return

    def refuse(*args: object, **kwargs: object) -> None:
        raise AssertionError(f"a unit test tried to use a service or a process: {args!r}")

    monkeypatch.setattr(socket.socket, "connect", refuse)
    monkeypatch.setattr(socket.socket, "connect_ex", refuse)
    monkeypatch.setattr(subprocess.Popen, "__init__", refuse)
