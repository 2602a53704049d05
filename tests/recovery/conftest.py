"""A live stack for the recovery tests: the emulator in front of a live Django (real sockets),
an in-thread Celery worker on the real Redis broker, and a client that speaks the resume
protocol the way wsgateway.js does (docs/recovery.md)."""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

import pytest
from celery.contrib.testing.worker import start_worker
from websockets.exceptions import ConnectionClosed
from websockets.typing import Origin

from tests.celery_app import app
from tests.fanout.conftest import wsgateway_overrides
from tests.waiting import wait_until
from wsgateway import recovery
from wsgateway.emulator.server import EmulatorServer
from wsgateway.emulator.testing import WebSocketApi, create_websocket_api
from wsgateway.models import ApiGateway, WebSocketSession
from wsgateway.views.recovery import RESUME_HANDLER

SECRET = "test-secret-current"
ORIGIN = "https://app.example.com"


@dataclass
class Stack:
    emulator: EmulatorServer
    api: WebSocketApi
    gateway: ApiGateway

    def url(self, channel: str) -> str:
        return f"{self.emulator.ws_url(self.api.api_id, self.api.stage)}?channel={channel}"


@pytest.fixture
def worker(clean_redis: Any) -> Iterator[None]:
    """A Celery worker on the ``fanout`` queue in this process (pool solo), real Redis broker."""
    with start_worker(
        app, pool="solo", concurrency=1, perform_ping_check=False, queues=["fanout"], shutdown_timeout=10
    ):
        yield


_open: list[Client] = []


@pytest.fixture
def stack(emulator: EmulatorServer, live_server: Any, worker: None) -> Iterator[Stack]:
    """An API on the emulator whose integrations POST to the live Django (no connect tokens:
    the sockets are anonymous), answers of ``$default`` relayed to the socket."""
    api = create_websocket_api(
        emulator.url, f"{live_server.url}/ws/", stage="production", secret=SECRET, two_way=("$default",)
    )
    gateway = ApiGateway.objects.create(
        api_name="recovery",
        api_id=api.api_id,
        api_endpoint=emulator.ws_url(api.api_id, api.stage).rsplit("/", 1)[0],
        stage_name=api.stage,
        default_channel_name="lobby",
        target_base_endpoint=f"{live_server.url}/ws/",
        api_created=True,
    )
    try:
        with wsgateway_overrides(REQUIRE_TOKEN=False):
            yield Stack(emulator, api, gateway)
    finally:
        while _open:
            _open.pop().ws.close()


@dataclass
class Client:
    """One socket and everything it received, parsed, in arrival order (a reader thread)."""

    ws: Any
    frames: list[dict[str, Any]] = field(default_factory=list)
    closed: threading.Event = field(default_factory=threading.Event)

    def __post_init__(self) -> None:
        self._lock = threading.Lock()
        threading.Thread(target=self._read, daemon=True).start()

    def _read(self) -> None:
        try:
            while True:  # ends when the socket closes
                raw = self.ws.recv()
                with self._lock:
                    self.frames.append(json.loads(raw))
        except ConnectionClosed:
            pass
        finally:
            self.closed.set()

    def snapshot(self) -> list[dict[str, Any]]:
        with self._lock:
            return list(self.frames)

    def messages(self) -> list[dict[str, Any]]:
        """The channel messages received live (stamped envelopes), in arrival order."""
        return [f for f in self.snapshot() if recovery.ID_FIELD in f]

    def of_type(self, kind: str) -> list[dict[str, Any]]:
        return [f for f in self.snapshot() if f.get("type") == kind]

    def resume(self, channels: dict[str, str | None], request: str = "r1") -> None:
        self.ws.send(json.dumps({"action": RESUME_HANDLER, "channels": channels, "request": request}))

    def session(self) -> WebSocketSession:
        return WebSocketSession.objects.filter(connected=True).order_by("-pk").first()  # type: ignore[return-value]


def open_client(stack: Stack, channel: str) -> Client:
    from tests.fanout.conftest import ws_connect

    before = set(WebSocketSession.objects.values_list("pk", flat=True))
    ws = ws_connect(stack.emulator, stack.url(channel), origin=Origin(ORIGIN), open_timeout=15)
    client = Client(ws)
    _open.append(client)
    wait_until(lambda: WebSocketSession.objects.exclude(pk__in=before).exists(), 10, "the session row")
    return client


def id_key(entry_id: str) -> tuple[int, int]:
    ms, _, seq = entry_id.partition("-")
    return int(ms), int(seq)


def last_id(envelopes: list[dict[str, Any]], channel: str) -> str | None:
    ids = [e[recovery.ID_FIELD] for e in envelopes if e.get(recovery.CHANNEL_FIELD) == channel]
    return max(ids, key=id_key) if ids else None


def recovered_view(client: Client, channel: str, request: str = "r1") -> list[dict[str, Any]] | None:
    """What a recovering client delivers on ``channel`` once its replay is complete (``None``
    before): the replayed messages and the live ones it buffered meanwhile, merged in id order,
    then the live ones that came after, de-duplicated by message_id (wsgateway.js's rule)."""
    frames = client.snapshot()
    parts: dict[int, list[dict[str, Any]]] = {}
    expected = None
    buffered: list[dict[str, Any]] = []
    after: list[dict[str, Any]] = []
    for frame in frames:
        if (
            frame.get("type") == recovery.REPLAY
            and frame.get("channel") == channel
            and frame.get("request") == request
        ):
            parts[frame["part"]] = frame["messages"]
            expected = frame["parts"]
        elif recovery.ID_FIELD in frame and frame.get(recovery.CHANNEL_FIELD) == channel:
            (after if expected is not None and len(parts) == expected else buffered).append(frame)
    if expected is None or len(parts) != expected:
        return None
    replayed = [m for number in sorted(parts) for m in parts[number]]
    merged = sorted(replayed + buffered, key=lambda m: id_key(m[recovery.ID_FIELD]))
    return merged + after
