"""Wiring: one aiohttp application serving every plane on one port, and an in-process runner.

Dispatch order: ``/v2/...`` (control plane) and ``/_emulator/...`` (admin) are ordinary aiohttp
routes; everything else goes through :meth:`Emulator.dispatch`, which splits the *raw* path
(connection ids are URL-encoded and may contain ``%2F``) and resolves custom domains from the
Host header.
"""

from __future__ import annotations

import asyncio
import json
import ssl
import threading
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any
from urllib.parse import unquote

from aiohttp import web

from . import fast_post, security, tls
from .admin import Admin
from .config import EmulatorConfig
from .connections import Registry
from .control_plane import ControlPlane
from .data_plane import DataPlane
from .errors import error_response, unreadable_body_middleware
from .faults import FaultInjector
from .management import Management
from .security import ADMIN_TOKEN_HEADER
from .state import ControlPlaneState

_CONNECTIONS = ("@connections", "%40connections", "%40Connections")
#: AWS's quota "Length, in characters, of the URL for a WebSocket API" (path and query).
MAX_URL_LENGTH = 4096


def _forbidden(message: str = "Forbidden") -> web.Response:
    return error_response(403, "ForbiddenException", message)


class Emulator:
    """The emulator's components, sharing one config, state and connection registry."""

    def __init__(self, config: EmulatorConfig | None = None) -> None:
        self.config = config or EmulatorConfig()
        self.state = ControlPlaneState(self.config.state_file)
        self.registry = Registry()
        self.faults = FaultInjector(self.config)
        self.data_plane = DataPlane(self.state, self.registry, self.config)
        self.management = Management(self.state, self.registry, self.config, self.faults, self.data_plane)
        self.control_plane = ControlPlane(self.state, self.config, self.faults)
        self.admin = Admin(self.state, self.registry, self.config, self.faults, self.data_plane)

    def build_app(self) -> web.Application:
        """The aiohttp application (bodies up to 10 MiB so oversized posts get AWS's 413)."""
        app = web.Application(
            client_max_size=10 * 1024 * 1024,
            handler_args={"max_field_size": 16384},
            middlewares=[
                unreadable_body_middleware,
                security.guard_middleware(self.config, lambda host: host in self.state.domains),
            ],
        )
        self.control_plane.register(app)
        self.admin.register(app)
        app.router.add_route("*", "/{tail:.*}", self.dispatch)
        app.on_startup.append(self._on_startup)
        app.on_shutdown.append(self._on_shutdown)
        return app

    async def _on_startup(self, app: web.Application) -> None:
        await self.data_plane.start()

    async def _on_shutdown(self, app: web.Application) -> None:
        await self.data_plane.stop()

    async def dispatch(self, request: web.Request) -> web.StreamResponse:
        """Data plane and management API: ``/{apiId}/{stage}[/@connections/{id}]`` or custom domain."""
        raw = request.raw_path
        cut = raw.find("?")
        if cut >= 0:
            raw = raw[:cut]
        if len(request.raw_path) > MAX_URL_LENGTH:
            return error_response(414, "RequestUriTooLongException", "Request-URI Too Long")
        parts = raw.split("/")
        if self.state.domains:
            host = security.host_name(request.host or "")
            if host in self.state.domains and not self._is_stage_path(parts):
                return await self._dispatch_domain(request, host, parts)
        count = len(parts)
        if count == 5 and parts[3] in _CONNECTIONS:
            return await self.management.handle(request, parts[1], unquote(parts[2]), parts[4])
        if (count == 3 or (count == 4 and parts[3] == "")) and parts[1] and parts[2]:
            return await self.data_plane.handle_handshake(request, parts[1], unquote(parts[2]), "")
        return _forbidden("Missing Authentication Token")

    def _is_stage_path(self, parts: list[str]) -> bool:
        # /{apiId}/{stage}[...] of a deployed stage is served as such even when the Host is a
        # custom domain (a domain named like the emulator's own address must not hide it).
        return len(parts) >= 3 and self.state.stage_snapshot(parts[1], unquote(parts[2])) is not None

    async def _dispatch_domain(self, request: web.Request, host: str, parts: list[str]) -> web.StreamResponse:
        # /{key}/@connections/{id} or /@connections/{id} (empty mapping key); /{key} or / for sockets.
        if len(parts) == 4 and parts[2] in _CONNECTIONS:
            resolved = self.state.resolve_mapping(host, unquote(parts[1]))
            if resolved is None or not resolved[2]:
                return _forbidden()
            return await self.management.handle(request, resolved[0], resolved[1], parts[3])
        if len(parts) == 3 and parts[1] in _CONNECTIONS:
            resolved = self.state.resolve_mapping(host, "")
            if resolved is None or resolved[2]:
                return _forbidden()
            return await self.management.handle(request, resolved[0], resolved[1], parts[2])
        segment = unquote(parts[1]) if len(parts) > 1 else ""
        if len(parts) <= 3 and (len(parts) < 3 or parts[2] == ""):
            resolved = self.state.resolve_mapping(host, segment)
            if resolved is not None and (resolved[2] or segment == ""):
                return await self.data_plane.handle_handshake(request, resolved[0], resolved[1], host)
        return _forbidden()


async def serve(config: EmulatorConfig) -> tuple[web.AppRunner, int, Emulator]:
    """Start listening on ``config.host``/``config.port`` in the running loop; return the bound port.

    Raises :class:`~wsgateway.emulator.security.InsecureConfigurationError` for an address the
    configuration cannot protect; generates the admin token when none is configured.
    """
    security.check_listen_address(config)
    if config.admin_enabled:
        security.ensure_admin_token(config)
    emulator = Emulator(config)
    runner = web.AppRunner(emulator.build_app(), access_log=None, handle_signals=False, shutdown_timeout=2.0)
    await runner.setup()
    fast_post.install(runner, emulator)
    site = web.TCPSite(
        runner,
        config.host,
        config.port,
        backlog=1024,
        reuse_address=True,
        ssl_context=tls.server_context(config),
    )
    await site.start()
    server = site._server  # aiohttp keeps the asyncio.Server here; the only way to learn port 0's port
    port = config.port
    sockets = getattr(server, "sockets", None)
    if sockets:
        port = sockets[0].getsockname()[1]
    return runner, port, emulator


class EmulatorServer:
    """The emulator on a background thread with its own event loop, for tests and scripts.

    ::

        with EmulatorServer(EmulatorConfig(port=0)) as emu:
            boto3.client("apigatewayv2", endpoint_url=emu.url, ...)
            emu.configure(fail_429=0.1)
            emu.admin("connections")            # /_emulator/* with the admin token
            websockets.sync.client.connect(emu.ws_url(api_id, "prod"))

    ``EmulatorServer(tls_files=local_ca_files(tmp_path))`` serves HTTPS/WSS instead.
    """

    def __init__(
        self, config: EmulatorConfig | None = None, *, tls_files: tls.TlsFiles | None = None, **overrides: Any
    ) -> None:
        self.config = config or EmulatorConfig(port=0)
        for key, value in overrides.items():
            setattr(self.config, key, value)
        #: With ``tls_files`` the emulator serves HTTPS/WSS with that certificate; clients trust
        #: ``tls_files.ca`` (see :attr:`ssl_context`).
        self.tls_files = tls_files
        if tls_files is not None:
            self.config.tls_cert, self.config.tls_key = tls_files.cert, tls_files.key
        self.port: int | None = None
        self.emulator: Emulator | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._runner: web.AppRunner | None = None
        self._thread: threading.Thread | None = None
        self._ready = threading.Event()
        self._error: BaseException | None = None

    # ------------------------------------------------------------------ lifecycle

    def start(self) -> EmulatorServer:
        """Start the thread; return once the socket is listening (raises if it could not start)."""
        if self._thread is not None:
            raise RuntimeError("already started")
        security.check_listen_address(self.config)  # raised here, not wrapped by the thread
        self._thread = threading.Thread(target=self._run, name="wsgateway-emulator", daemon=True)
        self._thread.start()
        self._ready.wait(30)
        if self._error is not None:
            raise RuntimeError("emulator failed to start") from self._error
        if self.port is None:
            raise RuntimeError("emulator did not start in time")
        return self

    def _run(self) -> None:
        loop = asyncio.new_event_loop()
        self._loop = loop
        asyncio.set_event_loop(loop)
        try:
            self._runner, self.port, self.emulator = loop.run_until_complete(serve(self.config))
        except BaseException as err:
            self._error = err
            self._ready.set()
            loop.close()
            return
        self._ready.set()
        try:
            loop.run_forever()
        finally:
            loop.run_until_complete(self._runner.cleanup())
            loop.run_until_complete(loop.shutdown_asyncgens())
            loop.close()

    def stop(self) -> None:
        """Close every socket, stop the loop and join the thread."""
        if self._loop is None or self._thread is None:
            return
        if self._loop.is_running():
            self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(15)
        self._thread = None

    def __enter__(self) -> EmulatorServer:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    # ------------------------------------------------------------------ helpers

    def call(self, func: Any, *args: Any) -> Any:
        """Run ``func(*args)`` on the emulator's loop thread and return its result."""
        assert self._loop is not None

        async def runner() -> Any:
            return func(*args)

        return asyncio.run_coroutine_threadsafe(runner(), self._loop).result(10)

    def configure(self, **changes: Any) -> None:
        """Change runtime settings (same keys as ``POST /_emulator/config``), thread-safely."""

        def apply() -> None:
            assert self.emulator is not None
            self.config.update(changes)
            if "seed" in changes:
                self.emulator.faults.reseed()

        self.call(apply)

    def reset(self) -> None:
        """Forget every API/domain and connection, zero counters (for session-wide servers)."""

        def apply() -> None:
            assert self.emulator is not None
            emu = self.emulator
            for conn in list(emu.registry.connections.values()):
                if conn.virtual:
                    emu.registry.discard(conn)
                else:
                    emu.data_plane.close(conn, 1001, "Going away")
            emu.state.reset()
            emu.registry.stats.clear()

        self.call(apply)

    def stats(self) -> dict[str, int]:
        """A copy of the counters."""
        assert self.emulator is not None
        emu = self.emulator
        return dict(self.call(lambda: dict(emu.registry.stats)))

    @property
    def ssl_context(self) -> ssl.SSLContext | None:
        """A client TLS context trusting the emulator's CA (None over plain HTTP)."""
        if self.tls_files is None:
            return None
        return self.tls_files.client_context()

    @property
    def secure(self) -> bool:
        """Whether the emulator serves HTTPS/WSS."""
        return bool(self.config.tls_cert)

    @property
    def url(self) -> str:
        """``http(s)://HOST:PORT`` (the control-plane ``endpoint_url``)."""
        return f"{'https' if self.secure else 'http'}://{self.config.host}:{self.port}"

    def ws_url(self, api_id: str, stage: str) -> str:
        """The socket URL of a stage: ``ws(s)://HOST:PORT/{apiId}/{stage}``."""
        return f"{'wss' if self.secure else 'ws'}://{self.config.host}:{self.port}/{api_id}/{stage}"

    def management_url(self, api_id: str, stage: str) -> str:
        """The ``endpoint_url`` of an ``apigatewaymanagementapi`` client for a stage."""
        return f"{self.url}/{api_id}/{stage}"

    @property
    def admin_token(self) -> str:
        """The token ``/_emulator/*`` requires (generated at start unless configured)."""
        if not self.config.admin_token:
            raise RuntimeError("the emulator has not started or its admin API is turned off")
        return self.config.admin_token

    @property
    def admin_headers(self) -> dict[str, str]:
        """Headers an admin request needs: the token and the JSON content type."""
        return {ADMIN_TOKEN_HEADER: self.admin_token, "Content-Type": "application/json"}

    def client(self, service: str, endpoint_url: str | None = None, **options: Any) -> Any:
        """A boto3 client for this emulator: its credentials (when it verifies them) and its CA.

        ``service`` is ``apigatewayv2`` (``endpoint_url`` defaults to :attr:`url`) or
        ``apigatewaymanagementapi`` (pass :meth:`management_url`). ``options`` go to
        :func:`wsgateway.emulator.testing.boto3_client`.
        """
        from .testing import boto3_client

        if self.config.access_key and self.config.secret_key:
            options.setdefault("access_key", self.config.access_key)
            options.setdefault("secret_key", self.config.secret_key)
        if self.tls_files is not None:
            options.setdefault("verify", self.tls_files.ca)
        return boto3_client(service, endpoint_url or self.url, **options)

    def admin(self, path: str, body: Any = None, method: str | None = None) -> Any:
        """Call ``/_emulator/{path}`` over HTTP with the admin token; the parsed JSON answer.

        ``POST`` when a body is given, else ``GET`` (or ``method``). HTTP errors raise
        :class:`urllib.error.HTTPError`.
        """
        data = None if body is None else json.dumps(body).encode()
        request = urllib.request.Request(  # noqa: S310 - our own emulator's URL
            f"{self.url}/_emulator/{path.lstrip('/')}",
            data=data,
            method=method or ("POST" if data is not None else "GET"),
            headers=self.admin_headers,
        )
        with urllib.request.urlopen(request, timeout=10, context=self.ssl_context) as answer:  # noqa: S310
            raw = answer.read()
        return json.loads(raw) if raw else None


@contextmanager
def running_emulator(**overrides: Any) -> Iterator[EmulatorServer]:
    """``with running_emulator(idle_timeout=1) as emu: ...`` on a free port."""
    server = EmulatorServer(EmulatorConfig(port=0), **overrides)
    with server:
        yield server
