"""pytest fixtures for the emulator (load with ``pytest_plugins = ["wsgateway.emulator.pytest_plugin"]``).

- ``emulator``: a fresh :class:`~wsgateway.emulator.server.EmulatorServer` on a free port per test.
- ``emulator_session``: one server for the whole session; reset it yourself
  (``emulator_session.reset()``) when a test needs a clean state.
- ``recording_backend``: a :class:`~wsgateway.emulator.testing.RecordingBackend` per test.
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from .config import EmulatorConfig
from .server import EmulatorServer
from .testing import RecordingBackend


@pytest.fixture
def emulator() -> Iterator[EmulatorServer]:
    """A fresh emulator (AWS defaults, port chosen by the OS) stopped after the test."""
    server = EmulatorServer(EmulatorConfig(port=0))
    with server:
        yield server


@pytest.fixture(scope="session")
def emulator_session() -> Iterator[EmulatorServer]:
    """One emulator shared by the session."""
    server = EmulatorServer(EmulatorConfig(port=0))
    with server:
        yield server


@pytest.fixture
def recording_backend() -> Iterator[RecordingBackend]:
    """An HTTP backend recording every request it gets (method, path, query, headers, body)."""
    backend = RecordingBackend()
    with backend:
        yield backend
