"""The management API: ``POST/GET/DELETE {endpoint}/@connections/{connectionId}``.

Status codes and ``x-amzn-ErrorType`` as AWS answers them (botocore raises the typed exception):

- 200 POST delivered (a text message when the data is valid UTF-8, else binary; split into
  frames of at most ``frame_limit`` bytes, 32 KiB like AWS: :mod:`wsgateway.emulator.frames`);
- 200 GET ``{"connectedAt", "identity": {"sourceIp", "userAgent"}, "lastActiveAt"}`` (ISO 8601);
- 204 DELETE: the socket is closed with 1000 (what AWS logs as "Connection Closed Normally")
  and ``$disconnect`` is forwarded;
- 410 GoneException: unknown id, closed connection, connection of another API, or a
  connection still inside its ``$connect``;
- 413 PayloadTooLargeException: data over 128 KiB (exactly 128 KiB is accepted);
- 429 LimitExceededException: injected fault, or the socket's send buffer is full (a client
  that stopped reading: the POST answers at once, it never waits for the client);
- 500 InternalServerErrorException: injected fault;
- 403 ForbiddenException: unknown API/stage (or a stage used instead of the mapping key on a
  custom domain); 403 MissingAuthenticationTokenException: no SigV4 Authorization header;
  403 InvalidSignatureException: a signature older than 5 minutes or, with known credentials,
  a wrong one (:mod:`wsgateway.emulator.sigv4`).

This is the fan-out hot path: no logging, no JSON parsing of bodies, dict lookups only.
"""

from __future__ import annotations

import json
import time
from urllib.parse import unquote

from aiohttp import web

from . import sigv4
from .config import EmulatorConfig
from .connections import CONNECTED, Registry, iso_ms
from .data_plane import DataPlane
from .errors import AwsError, error_response
from .faults import FaultInjector
from .frames import write_message
from .state import ControlPlaneState


class Management:
    """Handles @connections requests once the dispatcher has resolved the API and stage."""

    def __init__(
        self,
        state: ControlPlaneState,
        registry: Registry,
        config: EmulatorConfig,
        faults: FaultInjector,
        data_plane: DataPlane,
    ) -> None:
        self.state = state
        self.registry = registry
        self.config = config
        self.faults = faults
        self.data_plane = data_plane

    def _count(self, method: str, status: int) -> None:
        self.registry.stats[f"management.{method}.{status}"] += 1

    def _error(self, method: str, status: int, error_type: str, message: str | None) -> web.Response:
        self._count(method, status)
        return error_response(status, error_type, message)

    async def handle(self, request: web.Request, api_id: str, stage: str, raw_id: str) -> web.Response:
        """Serve one @connections request for ``api_id``/``stage``."""
        method = request.method
        config = self.config
        try:
            sigv4.authenticate(
                service="execute-api",
                method=method,
                raw_path=request.raw_path.partition("?")[0],
                query=request.rel_url.raw_query_string,
                headers=request.headers,
                body=await request.read() if config.secret_key else b"",
                access_key=config.access_key,
                secret_key=config.secret_key,
            )
        except AwsError as err:
            self._count(method, err.status)
            return err.response()
        if self.state.stage_snapshot(api_id, stage) is None:
            return self._error(method, 403, "ForbiddenException", "Forbidden")

        faults = self.faults
        if faults.active:
            await faults.delay()
            fault = faults.management_fault()
            if fault == 429:
                self.registry.stats["faults.429"] += 1
                return self._error(method, 429, "LimitExceededException", "Rate exceeded (injected fault)")
            if fault == 500:
                self.registry.stats["faults.500"] += 1
                return self._error(
                    method, 500, "InternalServerErrorException", "Internal server error (injected fault)"
                )

        connection_id = unquote(raw_id) if "%" in raw_id else raw_id

        if method == "POST":
            limit = config.message_limit
            length = request.content_length
            if length is not None and length > limit:
                return self._error(method, 413, "PayloadTooLargeException", "Request Too Long")
            data = await request.read()
            if len(data) > limit:
                return self._error(method, 413, "PayloadTooLargeException", "Request Too Long")
            conn = self.registry.connections.get(connection_id)
            if conn is None or conn.state != CONNECTED or conn.api_id != api_id:
                return self._error(method, 410, "GoneException", None)
            if conn.virtual:
                conn.message_count += 1
                conn.bytes_received += len(data)
                conn.messages.append(data)
                conn.last_active = time.time()
                self._count(method, 200)
                return web.Response(status=200)
            transport = conn.transport
            if conn.ws is None or transport is None:
                return self._error(method, 410, "GoneException", None)
            if transport.get_write_buffer_size() > config.send_buffer_limit:  # type: ignore[attr-defined]
                return self._error(method, 429, "LimitExceededException", "Client send buffer is full")
            try:
                data.decode()
            except UnicodeDecodeError:
                text = False
            else:
                text = True
            if not write_message(transport, data, text=text, frame_size=config.frame_limit):
                return self._error(method, 410, "GoneException", None)
            conn.last_active = time.time()
            self.registry.stats["frames.to_clients"] += 1
            self._count(method, 200)
            return web.Response(status=200)

        conn = self.registry.connections.get(connection_id)
        if conn is None or conn.state != CONNECTED or conn.api_id != api_id:
            return self._error(method, 410, "GoneException", None)
        if method == "GET":
            self._count(method, 200)
            body = {
                "connectedAt": iso_ms(conn.connected_at),
                "identity": {"sourceIp": conn.source_ip, "userAgent": conn.user_agent},
                "lastActiveAt": iso_ms(conn.last_active),
            }
            return web.Response(status=200, body=json.dumps(body).encode(), content_type="application/json")
        if method == "DELETE":
            if conn.virtual:
                conn.state = "CLOSED"
                self.registry.discard(conn)
            else:
                self.data_plane.close(conn, 1000, "")
            self._count(method, 204)
            return web.Response(status=204)
        return self._error(method, 403, "MissingAuthenticationTokenException", "Missing Authentication Token")
