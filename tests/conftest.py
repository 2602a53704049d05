"""Shared fixtures: real services only (PostgreSQL or SQLite, Redis, the emulator)."""

from __future__ import annotations

import os
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
