"""The ingestion tests' gateway, browsers and event client, pointed at tests.compat.urls."""

from __future__ import annotations

from typing import Any

import pytest

from tests.ingestion.conftest import (  # noqa: F401  (fixtures)
    _fresh_cache,
    broker,
    browser,
    connected,
    events,
    gateway,
)


@pytest.fixture(autouse=True)
def _compat_urls(settings: Any) -> None:
    settings.ROOT_URLCONF = "tests.compat.urls"
