"""Fixtures of the fan-out tests: the emulator over real sockets, real Redis, a real database.

``emulator`` runs every test that takes it twice: over plain HTTP/WS and over HTTPS/WSS. The HTTPS
emulator has a certificate of a throw-away local CA for ``*.example.com`` (and 127.0.0.1);
gateway rows point at ``wss://gateway.example.com/{apiId}`` as they point at
``{apiId}.execute-api.{region}.amazonaws.com`` in production, ``MANAGEMENT_ENDPOINT_OVERRIDES``
sends that name to the emulator's port (the Host header, SNI and the certificate check keep the
name), and the fan-out client trusts the CA only through ``AWS_CA_BUNDLE``, like boto3.
Subprocesses (Celery workers) get both through the environment (see tests/settings.py).
"""

from __future__ import annotations

import json
import urllib.parse
import urllib.request
from collections.abc import Iterator
from datetime import timedelta
from typing import Any

import pytest
import redis
from django.test import override_settings
from django.utils import timezone

from tests import waiting
from tests.waiting import wait_until  # noqa: F401  (tests of this package import it from here)
from wsgateway.emulator.config import EmulatorConfig
from wsgateway.emulator.pytest_plugin import recording_backend  # noqa: F401
from wsgateway.emulator.server import EmulatorServer
from wsgateway.emulator.tls import TlsFiles, local_ca_files
from wsgateway.fanout.broadcast import broadcast
from wsgateway.fanout.delivery import run_chunk
from wsgateway.fanout.messages import encode_message
from wsgateway.fanout.planner import POST, Chunk
from wsgateway.fanout.results import get_broadcast_summary
from wsgateway.models import ApiGateway, WebSocketSession

#: The host name of the HTTPS emulator's API endpoint (resolved to 127.0.0.1 by the override).
TLS_HOST = "gateway.example.com"
#: Environment variable tests/settings.py reads into MANAGEMENT_ENDPOINT_OVERRIDES (JSON).
OVERRIDES_ENV = "WSGATEWAY_TEST_MANAGEMENT_ENDPOINT_OVERRIDES"


@pytest.fixture(scope="session")
def fanout_tls_files(tmp_path_factory: pytest.TempPathFactory) -> TlsFiles:
    """A local CA and a server certificate for ``*.example.com`` (TLS_HOST, and the custom domains
    of the tests), 127.0.0.1 and localhost: a wildcard, as AWS's ``*.execute-api...`` one."""
    return local_ca_files(tmp_path_factory.mktemp("fanout-tls"), ("*.example.com", "127.0.0.1", "localhost"))


@pytest.fixture(params=["http", "https"])
def emulator_scheme(request: pytest.FixtureRequest) -> str:
    """``http`` or ``https``: how the ``emulator`` fixture serves (tests may parametrize it)."""
    return str(request.param)


@pytest.fixture
def emulator(
    emulator_scheme: str, request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch
) -> Iterator[EmulatorServer]:
    """A fresh emulator per test over ``emulator_scheme``; over HTTPS the fan-out client, boto3
    and worker subprocesses trust its CA through ``AWS_CA_BUNDLE`` and reach TLS_HOST through
    ``MANAGEMENT_ENDPOINT_OVERRIDES``."""
    if emulator_scheme == "http":
        with EmulatorServer(EmulatorConfig(port=0)) as server:
            yield server
        return
    assert emulator_scheme == "https", emulator_scheme
    files: TlsFiles = request.getfixturevalue("fanout_tls_files")
    with EmulatorServer(EmulatorConfig(port=0, allowed_hosts=(TLS_HOST,)), tls_files=files) as server:
        overrides = {TLS_HOST: server.url}
        monkeypatch.setenv("AWS_CA_BUNDLE", files.ca)
        monkeypatch.setenv(OVERRIDES_ENV, json.dumps(overrides))
        with wsgateway_overrides(MANAGEMENT_ENDPOINT_OVERRIDES=overrides):
            yield server


def gateway_endpoint(emu: EmulatorServer, api_id: str) -> str:
    """The ``api_endpoint`` of an API on ``emu``: ``wss://TLS_HOST/{apiId}`` on the HTTPS
    emulator of this package (as on AWS: no port), else the emulator's own address."""
    if emu.secure and TLS_HOST in emu.config.allowed_hosts:
        return f"wss://{TLS_HOST}/{api_id}"
    return f"{'wss' if emu.secure else 'ws'}://127.0.0.1:{emu.port}/{api_id}"


def ws_connect(emu: EmulatorServer, url: str, **options: Any) -> Any:
    """``wsgateway.wsclient.connect`` to a socket URL of ``emu``, trusting its CA on wss: its
    handshake request is not lost over TLS and a late response fails after ``open_timeout``
    instead of hanging (wsgateway/wsclient.py)."""
    from wsgateway.wsclient import connect

    if url.startswith("wss://"):
        options.setdefault("ssl", emu.ssl_context)
    return connect(url, **options)


def wait_complete(message_id: str, timeout: float = 20.0) -> dict[str, Any]:
    """Poll the broadcast's summary until it is complete (bounded); returns it. A Redis that
    is down meanwhile (the fault tests stop it) reads as "not yet"."""
    last: dict[str, Any] = {}

    def complete() -> bool:
        try:
            last.update(get_broadcast_summary(message_id) or {})
        except redis.ConnectionError:
            return False
        return bool(last.get("complete"))

    waiting.wait_until(complete, timeout, f"broadcast {message_id} to complete: {last}")
    return last


def admin(
    emu: EmulatorServer, path: str, body: dict[str, Any] | None = None, method: str | None = None
) -> Any:
    """Call the emulator's ``/_emulator/`` admin API."""
    return emu.admin(path, body, method)


def virtual_connections(emu: EmulatorServer, count: int, api_id: str | None = None) -> dict[str, Any]:
    """Create ``count`` socket-less connections (and an API when ``api_id`` is None)."""
    body: dict[str, Any] = {"count": count}
    if api_id:
        body["apiId"] = api_id
    return admin(emu, "virtual-connections", body)  # type: ignore[no-any-return]


def received(emu: EmulatorServer, connection_id: str) -> list[dict[str, Any]]:
    """Messages a virtual connection received, parsed."""
    quoted = urllib.parse.quote(connection_id, safe="")
    info = admin(emu, f"virtual-connections/{quoted}/messages")
    return [json.loads(m["data"]) for m in info["messages"]]


def make_gateway(
    emu: EmulatorServer, api_id: str, stage: str = "test", name: str | None = None
) -> ApiGateway:
    """An ApiGateway row whose management endpoint is the emulator's stage."""
    return ApiGateway.objects.create(
        api_name=name or f"gw-{api_id}",
        api_id=api_id,
        api_endpoint=gateway_endpoint(emu, api_id),
        stage_name=stage,
        api_created=True,
    )


def make_sessions(
    gateway: ApiGateway | None,
    connection_ids: list[str],
    *,
    channel: str = "room",
    user: Any = None,
    age_seconds: float = 60.0,
) -> list[WebSocketSession]:
    """Live session rows for ``connection_ids``, created ``age_seconds`` ago."""
    rows = WebSocketSession.objects.bulk_create(
        [
            WebSocketSession(connection_id=c, channel_name=channel, user=user, api_gateway=gateway)
            for c in connection_ids
        ]
    )
    WebSocketSession.objects.filter(connection_id__in=connection_ids).update(
        created_on=timezone.now() - timedelta(seconds=age_seconds)
    )
    return rows


class InlineFanout:
    """Runs the fan-out pipeline in the test thread: the planner calls the chunk runner directly,
    retries are collected (with their countdowns) instead of going through the broker."""

    def __init__(self) -> None:
        self.retries: list[tuple[Chunk, float]] = []
        self.results: list[dict[str, Any]] = []

    def requeue(self, chunk: Chunk, countdown: float) -> None:
        self.retries.append((chunk, countdown))

    def run(self, chunk: Chunk) -> None:
        self.results.append(run_chunk(chunk, self.requeue))

    def send(self, queryset: Any, data: dict[str, Any], op: str = POST) -> str:
        message_id, body = encode_message(data)
        broadcast(queryset, message_id=message_id, op=op, body=body if op == POST else None, emit=self.run)
        return message_id

    def run_retries(self) -> int:
        pending, self.retries = self.retries, []
        for chunk, _countdown in pending:
            self.run(chunk)
        return len(pending)


@pytest.fixture
def inline() -> InlineFanout:
    return InlineFanout()


@pytest.fixture
def fast_retries() -> Iterator[None]:
    """Short backoff so retried chunks run within the test's time."""
    from django.conf import settings

    conf = dict(settings.WSGATEWAY)
    conf.update(FANOUT_RETRY_BACKOFF_SECONDS=0.2, FANOUT_RETRY_BACKOFF_MAX_SECONDS=0.5)
    with override_settings(WSGATEWAY=conf):
        yield


def wsgateway_overrides(**changes: Any) -> Any:
    """``override_settings`` of some WSGATEWAY keys, keeping the others."""
    from django.conf import settings

    conf = dict(settings.WSGATEWAY)
    conf.update(changes)
    return override_settings(WSGATEWAY=conf)
