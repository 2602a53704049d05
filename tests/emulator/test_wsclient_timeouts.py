"""wsgateway/wsclient.py: a late handshake response over WSS fails after ``open_timeout``.

The integration holds ``$connect`` (as a slow backend does: API Gateway waits up to 29 s), so the
101 comes later than the client's ``open_timeout``. The TLS handshake is done and the server's
session tickets have arrived, which leaves the plain ``websockets`` client's reading thread
blocked in ``SSL_read``: its ``connect()`` then never returns. These connects run in a thread
joined with a bound, so a regression fails the test instead of hanging it.
"""

from __future__ import annotations

import threading
import time
from typing import Any

import pytest

from wsgateway.emulator.server import EmulatorServer
from wsgateway.emulator.testing import RecordingBackend, create_websocket_api
from wsgateway.wsclient import connect

pytestmark = pytest.mark.timeout(60)


def _connect_in_thread(url: str, **options: Any) -> tuple[threading.Thread, dict[str, Any]]:
    outcome: dict[str, Any] = {}

    def run() -> None:
        started = time.monotonic()
        try:
            with connect(url, **options):
                outcome["result"] = "open"
        except BaseException as err:  # the outcome is what the test checks
            outcome["result"] = err
        outcome["seconds"] = time.monotonic() - started

    thread = threading.Thread(target=run, daemon=True)
    thread.start()
    return thread, outcome


def test_open_timeout_holds_over_wss_while_connect_is_held(
    emulator_tls: EmulatorServer, recording_backend: RecordingBackend
) -> None:
    held = threading.Event()
    recording_backend.respond("/ws/connect", hold=held)
    try:
        api = create_websocket_api(
            emulator_tls.url, recording_backend.url("ws/"), client=emulator_tls.client("apigatewayv2")
        )
        url = emulator_tls.ws_url(api.api_id, api.stage)
        thread, outcome = _connect_in_thread(url, ssl=emulator_tls.ssl_context, open_timeout=1)
        recording_backend.wait_for(lambda r: r.path == "/ws/connect", timeout=15)
        thread.join(20)
        assert not thread.is_alive(), "connect() still blocked after its open_timeout"
        assert isinstance(outcome["result"], TimeoutError), outcome
        assert outcome["seconds"] < 15, outcome
    finally:
        held.set()


def test_a_prompt_connect_over_wss_still_opens(
    emulator_tls: EmulatorServer, recording_backend: RecordingBackend
) -> None:
    api = create_websocket_api(
        emulator_tls.url, recording_backend.url("ws/"), client=emulator_tls.client("apigatewayv2")
    )
    thread, outcome = _connect_in_thread(
        emulator_tls.ws_url(api.api_id, api.stage), ssl=emulator_tls.ssl_context, open_timeout=20
    )
    thread.join(30)
    assert not thread.is_alive() and outcome["result"] == "open", outcome
