"""Fixtures of the emulator tests (no database needed).

The project's root conftest may also load ``wsgateway.emulator.pytest_plugin``; importing the
fixtures here keeps these tests self-contained either way (a conftest fixture simply shadows
the plugin's identical one).
"""

# ruff: noqa: F811  (fixtures imported from the plugin are used as arguments below)

from __future__ import annotations

import contextlib
import os
import subprocess
import sys
from collections.abc import Iterator
from typing import Any

import pytest

from wsgateway.emulator.pytest_plugin import (  # noqa: F401
    emulator,
    emulator_session,
    emulator_tls,
    emulator_tls_files,
    recording_backend,
)
from wsgateway.emulator.server import EmulatorServer
from wsgateway.emulator.testing import RecordingBackend, WebSocketApi, boto3_client, create_websocket_api


@pytest.fixture
def apigw(emulator: EmulatorServer) -> Any:
    """boto3 apigatewayv2 client on the emulator."""
    return boto3_client("apigatewayv2", emulator.url)


@pytest.fixture
def ws_api(emulator: EmulatorServer, recording_backend: RecordingBackend) -> Iterator[WebSocketApi]:
    """A deployed WebSocket API whose integrations point at the recording backend (``/ws/...``)."""
    yield create_websocket_api(emulator.url, recording_backend.url("ws/"))


@pytest.fixture
def mgmt(emulator: EmulatorServer, ws_api: WebSocketApi) -> Any:
    """boto3 apigatewaymanagementapi client for ``ws_api``'s stage."""
    return boto3_client("apigatewaymanagementapi", emulator.management_url(ws_api.api_id, ws_api.stage))


@contextlib.contextmanager
def emulator_process(*args: str, env: dict[str, str] | None = None) -> Iterator[str]:
    """``python -m wsgateway.emulator --port 0 ARGS`` in a child process; yields its banner line."""
    process = subprocess.Popen(
        [sys.executable, "-m", "wsgateway.emulator", "--port", "0", *args],
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
        text=True,
        env={**os.environ, **(env or {})},
    )
    try:
        assert process.stdout is not None
        yield process.stdout.readline()
    finally:
        process.terminate()
        process.wait(10)
