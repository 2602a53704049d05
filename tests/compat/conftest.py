"""Fixtures of the conformance tests: the ingestion suite's event client, and the broker."""

from __future__ import annotations

from typing import Any

import pytest
import redis

from tests.ingestion.conftest import queued_tasks

__all__ = ["queued_tasks"]


@pytest.fixture
def broker(clean_redis: redis.Redis) -> redis.Redis:
    """The real Redis broker, emptied; enqueued tasks are read back with ``queued_tasks``."""
    return clean_redis


@pytest.fixture
def ingestion_urls(settings: Any) -> None:
    settings.ROOT_URLCONF = "tests.ingestion.urls"
