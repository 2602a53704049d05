"""The ingestion tests' gateway, browsers and event client, and ``compat_urls`` (the views of
tests.compat.urls) for the view conformance tests that use it."""

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


@pytest.fixture
def compat_urls(settings: Any) -> None:
    """Route requests to tests.compat.urls (the test project's URLs plus reference-style views)."""
    settings.ROOT_URLCONF = "tests.compat.urls"
