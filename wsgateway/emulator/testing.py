"""Test helpers: a recording HTTP backend and a one-call WebSocket API set-up through boto3.

Used by the emulator's own tests and usable by any test that needs a real integration target::

    with RecordingBackend() as backend, EmulatorServer() as emu:
        api = create_websocket_api(emu, backend.url("ws/"))
        with websockets.sync.client.connect(emu.ws_url(api.api_id, api.stage)) as ws:
            ws.send('{"action": "hello"}')
            request = backend.wait_for(lambda r: r.path == "/ws/hello")
"""

from __future__ import annotations

import asyncio
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from aiohttp import web

DEFAULT_SECRET = "s3cr3t-shared"  # noqa: S105 - a test value


@dataclass
class RecordedRequest:
    """One request as the backend received it (headers in wire order and case)."""

    method: str
    path: str
    query_string: str
    headers: list[tuple[str, str]]
    body: bytes
    received_at: float

    def header(self, name: str) -> str | None:
        """First value of a header, case-insensitively."""
        lower = name.lower()
        for key, value in self.headers:
            if key.lower() == lower:
                return value
        return None

    @property
    def header_names(self) -> set[str]:
        """Lower-case header names."""
        return {k.lower() for k, _ in self.headers}


@dataclass
class Behaviour:
    """How the backend answers one path."""

    status: int = 200
    body: bytes = b""
    headers: dict[str, str] = field(default_factory=dict)
    delay: float = 0.0
    hold: threading.Event | None = None


class RecordingBackend:
    """An aiohttp HTTP server on a free port, in its own thread, recording every request."""

    def __init__(self, host: str = "127.0.0.1") -> None:
        self.host = host
        self.port: int | None = None
        self.requests: list[RecordedRequest] = []
        self.behaviours: dict[str, Behaviour] = {}
        self._cond = threading.Condition()
        self._loop: asyncio.AbstractEventLoop | None = None
        self._thread: threading.Thread | None = None
        self._ready = threading.Event()
        self._runner: web.AppRunner | None = None

    def url(self, path: str = "") -> str:
        """Absolute URL of ``path`` on this backend."""
        return f"http://{self.host}:{self.port}/{path.lstrip('/')}"

    def respond(self, path: str, **behaviour: Any) -> None:
        """Answer requests to ``path`` with ``status``/``body``/``headers``/``delay``/``hold``."""
        self.behaviours[path] = Behaviour(**behaviour)

    async def _handle(self, request: web.Request) -> web.StreamResponse:
        body = await request.read()
        record = RecordedRequest(
            method=request.method,
            path=request.path,
            query_string=request.rel_url.raw_query_string,
            headers=[(k.decode("latin-1"), v.decode("latin-1")) for k, v in request.raw_headers],
            body=body,
            received_at=time.time(),
        )
        with self._cond:
            self.requests.append(record)
            self._cond.notify_all()
        behaviour = self.behaviours.get(request.path, Behaviour())
        if behaviour.hold is not None:
            hold = behaviour.hold
            await asyncio.get_running_loop().run_in_executor(None, hold.wait, 30)
        if behaviour.delay:
            await asyncio.sleep(behaviour.delay)
        return web.Response(status=behaviour.status, body=behaviour.body, headers=behaviour.headers)

    def wait_for(
        self, predicate: Callable[[RecordedRequest], bool], timeout: float = 15.0
    ) -> RecordedRequest:
        """Block until a recorded request matches; raise ``TimeoutError`` otherwise."""
        deadline = time.monotonic() + timeout
        with self._cond:
            while True:
                for record in self.requests:
                    if predicate(record):
                        return record
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    raise TimeoutError("no matching request reached the backend")
                self._cond.wait(remaining)

    def by_path(self, path: str) -> list[RecordedRequest]:
        """Requests received on ``path`` so far."""
        with self._cond:
            return [r for r in self.requests if r.path == path]

    def start(self) -> RecordingBackend:
        """Start listening; return once bound."""
        self._thread = threading.Thread(target=self._run, name="recording-backend", daemon=True)
        self._thread.start()
        if not self._ready.wait(10):
            raise RuntimeError("recording backend did not start")
        return self

    def _run(self) -> None:
        loop = asyncio.new_event_loop()
        self._loop = loop
        asyncio.set_event_loop(loop)
        app = web.Application()
        app.router.add_route("*", "/{tail:.*}", self._handle)
        self._runner = web.AppRunner(app, access_log=None, handle_signals=False, shutdown_timeout=0.5)
        loop.run_until_complete(self._runner.setup())
        site = web.TCPSite(self._runner, self.host, 0)
        loop.run_until_complete(site.start())
        server: Any = site._server
        self.port = server.sockets[0].getsockname()[1]
        self._ready.set()
        try:
            loop.run_forever()
        finally:
            loop.run_until_complete(self._runner.cleanup())
            loop.close()

    def stop(self) -> None:
        """Release held requests, stop the server and join its thread."""
        for behaviour in self.behaviours.values():
            if behaviour.hold is not None:
                behaviour.hold.set()
        if self._loop is not None and self._thread is not None:
            self._loop.call_soon_threadsafe(self._loop.stop)
            self._thread.join(10)
            self._thread = None

    def __enter__(self) -> RecordingBackend:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()


@dataclass
class WebSocketApi:
    """Ids of an API created by :func:`create_websocket_api`."""

    api_id: str
    stage: str
    integrations: dict[str, str]
    routes: dict[str, str]
    deployment_id: str


EMULATOR_ACCESS_KEY = "AKIDEMULATOR"
EMULATOR_SECRET_KEY = "emulator-secret"  # noqa: S105 - dummy credentials


def boto3_client(
    service: str,
    endpoint_url: str,
    region: str = "us-east-1",
    *,
    max_attempts: int | None = None,
    access_key: str = EMULATOR_ACCESS_KEY,
    secret_key: str = EMULATOR_SECRET_KEY,
    verify: str | bool | None = None,
) -> Any:
    """A boto3 client with dummy credentials pointed at the emulator.

    ``max_attempts`` is the total number of attempts; 1 disables botocore's own retries
    (to observe a 429/500 as it is). ``verify`` is a CA bundle path for an HTTPS emulator.
    """
    import boto3
    from botocore.config import Config

    config = (
        Config(retries={"total_max_attempts": max_attempts, "mode": "standard"}) if max_attempts else None
    )
    factory: Any = boto3.client
    return factory(
        service,
        endpoint_url=endpoint_url,
        region_name=region,
        aws_access_key_id=access_key,
        aws_secret_access_key=secret_key,
        config=config,
        verify=verify,
    )


def signed_headers(
    method: str,
    url: str,
    body: bytes = b"",
    *,
    service: str = "apigateway",
    region: str = "us-east-1",
    headers: dict[str, str] | None = None,
    access_key: str = EMULATOR_ACCESS_KEY,
    secret_key: str = EMULATOR_SECRET_KEY,
) -> dict[str, str]:
    """Headers (``headers`` plus Authorization, X-Amz-Date...) of a SigV4-signed raw request.

    For requests boto3 would never send (wrong types, odd bodies) that must still pass the
    emulator's signature check. ``service`` is ``apigateway`` for the control plane and
    ``execute-api`` for ``@connections``.
    """
    from botocore.auth import SigV4Auth
    from botocore.awsrequest import AWSRequest
    from botocore.credentials import Credentials

    request = AWSRequest(method=method, url=url, data=body, headers=dict(headers or {}))
    SigV4Auth(Credentials(access_key, secret_key), service, region).add_auth(request)
    return dict(request.headers.items())


def create_websocket_api(
    control_plane_url: str,
    target_base: str,
    *,
    stage: str = "test",
    routes: tuple[str, ...] = ("$connect", "$disconnect", "$default"),
    secret: str | None = DEFAULT_SECRET,
    extra_parameters: dict[str, str] | None = None,
    timeout_ms: int = 29000,
    route_selection_expression: str = "$request.body.action",
    two_way: tuple[str, ...] = (),
    client: Any = None,
) -> WebSocketApi:
    """Provision an API the way wsgateway does: one HTTP_PROXY POST integration per route.

    Integration URIs are ``{target_base}connect``, ``...disconnect``, ``...default`` and
    ``{target_base}{route}`` for other routes; the connection id and the secret are mapped.
    ``client`` is an ``apigatewayv2`` client to use instead of one with the dummy credentials
    (an emulator that verifies signatures, or one over HTTPS).
    """
    client = client or boto3_client("apigatewayv2", control_plane_url)
    api_id = client.create_api(
        Name="wsgateway-test", ProtocolType="WEBSOCKET", RouteSelectionExpression=route_selection_expression
    )["ApiId"]
    params = {"integration.request.header.connectionId": "context.connectionId"}
    if secret is not None:
        params["integration.request.header.X-Ws-Gateway-Secret"] = f"'{secret}'"
    params.update(extra_parameters or {})
    integrations: dict[str, str] = {}
    route_ids: dict[str, str] = {}
    for route_key in routes:
        suffix = route_key.lstrip("$")
        integration_id = client.create_integration(
            ApiId=api_id,
            IntegrationType="HTTP_PROXY",
            IntegrationMethod="POST",
            IntegrationUri=f"{target_base}{suffix}",
            RequestParameters=params,
            TimeoutInMillis=timeout_ms,
        )["IntegrationId"]
        integrations[route_key] = integration_id
        extra: dict[str, Any] = {}
        if route_key in two_way:
            extra["RouteResponseSelectionExpression"] = "$default"
        route_ids[route_key] = client.create_route(
            ApiId=api_id, RouteKey=route_key, Target=f"integrations/{integration_id}", **extra
        )["RouteId"]
    client.create_stage(ApiId=api_id, StageName=stage)
    deployment_id = client.create_deployment(ApiId=api_id, StageName=stage)["DeploymentId"]
    return WebSocketApi(api_id, stage, integrations, route_ids, deployment_id)
