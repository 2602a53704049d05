"""Fixtures the models' conformance tests import (not a conftest: the directory is shared with
other conformance tests): the ingestion suite's URLs, and reading the broker (``clean_redis``) back."""

from __future__ import annotations

from typing import Any

import pytest

from tests.ingestion.conftest import queued_tasks

__all__ = ["ingestion_urls", "queued_tasks"]


@pytest.fixture
def ingestion_urls(settings: Any) -> None:
    settings.ROOT_URLCONF = "tests.ingestion.urls"
