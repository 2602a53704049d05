"""pytest fixtures for the emulator (load with ``pytest_plugins = ["wsgateway.emulator.pytest_plugin"]``).

- ``emulator``: a fresh :class:`~wsgateway.emulator.server.EmulatorServer` on a free port per test.
- ``emulator_session``: one server for the whole session; reset it yourself
  (``emulator_session.reset()``) when a test needs a clean state.
- ``recording_backend``: a :class:`~wsgateway.emulator.testing.RecordingBackend` per test.
- ``emulator_tls``: a fresh emulator serving HTTPS/WSS with a certificate of a throw-away CA
  (``emulator_tls.tls_files.ca``; ``emulator_tls.client(...)`` and ``.admin(...)`` trust it).
  Needs ``trustme`` (the ``dev`` extra).

Every server generates its admin token; ``emulator.admin(...)`` sends it.
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from .config import EmulatorConfig
from .server import EmulatorServer
from .testing import RecordingBackend
from .tls import TlsFiles, local_ca_files


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


@pytest.fixture(scope="session")
def emulator_tls_files(tmp_path_factory: pytest.TempPathFactory) -> TlsFiles:
    """A local CA and a certificate for 127.0.0.1/localhost, generated once per session."""
    return local_ca_files(tmp_path_factory.mktemp("emulator-tls"))


@pytest.fixture
def emulator_tls(emulator_tls_files: TlsFiles) -> Iterator[EmulatorServer]:
    """A fresh emulator over HTTPS/WSS, stopped after the test."""
    server = EmulatorServer(EmulatorConfig(port=0), tls_files=emulator_tls_files)
    with server:
        yield server


@pytest.fixture
def recording_backend() -> Iterator[RecordingBackend]:
    """An HTTP backend recording every request it gets (method, path, query, headers, body)."""
    backend = RecordingBackend()
    with backend:
        yield backend
