"""The WebSocket side: handshake, route selection, HTTP_PROXY forwarding, limits and timeouts.

What the integration receives (docs/architecture.md §4):

``$connect`` (the integration's method, usually POST, empty body), the client's handshake query
string appended to the integration URI, headers::

    Host: <integration URI host[:port]>
    X-Amzn-Apigateway-Api-Id: <apiId>
    every handshake header the client sent (Authorization, Cookie, Origin, Sec-WebSocket-*,
    User-Agent, custom ones) except hop-by-hop ones (:data:`NOT_FORWARDED`)
    X-Forwarded-For: <the client's X-Forwarded-For, >client ip
    X-Forwarded-Port: 443
    X-Forwarded-Proto: https         (what AWS reports: clients reach it over wss:// only)
    X-Amzn-Trace-Id: Root=1-<8 hex epoch>-<24 hex>
    + the integration's mapped RequestParameters (header / querystring / path)

messages: the raw frame as the body; same headers without the handshake ones, plus
``User-Agent: AmazonAPIGateway_<apiId>`` and ``Content-Type: application/json`` for text frames
(``application/octet-stream`` for binary frames). ``$disconnect``: as a message, empty body and
no Content-Type. aiohttp's own User-Agent / Accept / Accept-Encoding / Content-Type are
suppressed so the backend sees only these.

Choices where AWS is not documented (kept consistent, easy to change):

- a refused ``$connect`` answers the handshake with the integration's status for 4xx, 500 for
  5xx, 403 for anything else that is not 2xx, 504 for a timeout and 502 for a connection error;
- an integration *error* (timeout, connection failure, no integration) on a message sends the
  client ``{"message": "Internal server error", ...}``; an HTTP status from the backend is not an
  error, its body is simply discarded unless the route is two-way
  (``RouteResponseSelectionExpression`` set);
- an integration request that fails on a kept-alive connection before any answer (the backend
  closed it as its keep-alive timer fired) is sent once more on a new connection; a failure on
  a new connection is never repeated (counted in ``forward.stale_connection_retries``);
- a handshake aiohttp would refuse (bad ``Sec-WebSocket-Key``/``-Version``) gets 400 before
  ``$connect`` is forwarded;
- binary frames are not parsed for route selection: they go to ``$default``;
- permessage-deflate is not negotiated (AWS does not offer it), so frame limits apply to the
  bytes on the wire;
- idle timeout: any data frame in either direction (incl. @connections POSTs) is activity;
  control frames are not. Expiry of the idle timeout or the lifetime closes with 1001
  ("Going away"); ``DELETE @connections`` closes with 1000; both forward ``$disconnect``.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import time
from http import HTTPStatus
from typing import Any
from urllib.parse import quote, urlsplit

import aiohttp
from aiohttp import WSCloseCode, WSMsgType, web
from multidict import CIMultiDict
from yarl import URL

from . import ids
from .config import EmulatorConfig
from .connections import CLOSED, CONNECTED, Connection, Registry, iso_ms
from .frames import write_message
from .state import ControlPlaneState, IntegrationSnapshot, RouteSnapshot, Snapshot

log = logging.getLogger(__name__)

#: Handshake headers API Gateway does not pass to the $connect integration (lower case).
NOT_FORWARDED = frozenset(
    {
        "host",
        "connection",
        "upgrade",
        "content-length",
        "transfer-encoding",
        "keep-alive",
        "te",
        "trailer",
        "proxy-authorization",
        "x-forwarded-port",
        "x-forwarded-proto",
        "x-amzn-trace-id",
        "x-amzn-apigateway-api-id",
    }
)
SKIP_AUTO_HEADERS = frozenset({"User-Agent", "Accept", "Accept-Encoding", "Content-Type"})
_DISCONNECT = "DISCONNECT"
_MESSAGE = "MESSAGE"
_CONNECT = "CONNECT"


def _json_frame(message: str, conn: Connection, request_id: str) -> str:
    return json.dumps({"message": message, "connectionId": conn.connection_id, "requestId": request_id})


def parse_message(data: str | bytes, is_text: bool) -> Any:
    """A text frame's JSON value, or None (binary frames and non-JSON text are not parsed)."""
    if not is_text:
        return None
    try:
        return json.loads(data)
    except (ValueError, RecursionError):  # deep nesting raises RecursionError
        return None


def select_route(snapshot: Snapshot, message: Any) -> RouteSnapshot | None:
    """Evaluate the route selection expression on a parsed message; fall back to ``$default``."""
    selector = snapshot.selector
    if selector is not None and message is not None:
        key = selector.route_key(message)
        if key is not None and key not in ("$connect", "$disconnect"):
            route = snapshot.routes.get(key)
            if route is not None:
                return route
    return snapshot.routes.get("$default")


class FrameGuard:
    """Wraps aiohttp's WebSocket parser to enforce API Gateway's per-*frame* limit.

    aiohttp only limits whole messages (``max_msg_size``); AWS also closes a connection with
    1009 when one frame exceeds 32 KiB even if the message is under 128 KiB (a browser sends a
    40 KiB message as one frame and gets disconnected). We scan the frame headers in the byte
    stream before aiohttp parses it and fail the reader the same way aiohttp does for its own
    size limit, so aiohttp sends the 1009 close frame.
    """

    def __init__(self, inner: Any, queue: Any, config: EmulatorConfig) -> None:
        self._inner = inner
        self._queue = queue
        self._config = config
        self._header = bytearray()
        self._remaining = 0
        self._failed = False

    def feed_eof(self) -> None:
        """Pass EOF through."""
        self._inner.feed_eof()

    def feed_data(self, data: bytes) -> tuple[bool, bytes]:
        """Scan then pass data through; on an oversized frame fail the reader (aiohttp's protocol)."""
        if self._failed:
            return True, b""
        oversized = self._scan(data)
        if oversized is not None:
            self._failed = True
            exc = aiohttp.WebSocketError(
                WSCloseCode.MESSAGE_TOO_BIG,
                f"Frame size {oversized} exceeds limit {self._config.frame_limit}",
            )
            self._queue.set_exception(exc)
            return True, b""
        result: tuple[bool, bytes] = self._inner.feed_data(data)
        return result

    def _scan(self, data: bytes) -> int | None:
        pos, end = 0, len(data)
        header = self._header
        limit = self._config.frame_limit
        while pos < end:
            if self._remaining:
                step = min(self._remaining, end - pos)
                pos += step
                self._remaining -= step
                continue
            header.append(data[pos])
            pos += 1
            if len(header) < 2:
                continue
            len7 = header[1] & 0x7F
            need = 2 + (2 if len7 == 126 else 8 if len7 == 127 else 0) + (4 if header[1] & 0x80 else 0)
            if len(header) < need:
                continue
            if len7 == 126:
                length = int.from_bytes(header[2:4], "big")
            elif len7 == 127:
                length = int.from_bytes(header[2:10], "big")
            else:
                length = len7
            # Data frames only (continuation, text, binary); control frames are <= 125 bytes.
            if header[0] & 0x0F in (0, 1, 2) and length > limit:
                return length
            header.clear()
            self._remaining = length
        return None


class DataPlane:
    """Serves WebSocket connections and forwards their events to the deployed integrations."""

    def __init__(self, state: ControlPlaneState, registry: Registry, config: EmulatorConfig) -> None:
        self.state = state
        self.registry = registry
        self.config = config
        self.session: aiohttp.ClientSession | None = None
        #: Never reuses a connection: the one retry of an event whose pooled connection the
        #: backend had closed (:meth:`_post`).
        self.fresh_session: aiohttp.ClientSession | None = None
        self._sweeper: asyncio.Task[None] | None = None
        self._tasks: set[asyncio.Task[Any]] = set()

    # ------------------------------------------------------------------ lifecycle

    async def start(self) -> None:
        """Create the integration HTTP clients and the timeout sweeper."""
        reuse = aiohttp.TraceConfig()
        reuse.on_connection_reuseconn.append(_mark_reused)
        options: dict[str, Any] = {
            "auto_decompress": False,
            # The backend must see our header set only, never a cookie jar's.
            "cookie_jar": aiohttp.DummyCookieJar(),
        }
        self.session = aiohttp.ClientSession(
            connector=aiohttp.TCPConnector(limit=0, enable_cleanup_closed=True),
            trace_configs=[reuse],
            **options,
        )
        self.fresh_session = aiohttp.ClientSession(
            connector=aiohttp.TCPConnector(limit=0, force_close=True), **options
        )
        self._sweeper = asyncio.get_running_loop().create_task(self._sweep())

    async def stop(self) -> None:
        """Close every socket (1001), let the $disconnect forwards finish briefly, close the client."""
        if self._sweeper is not None:
            self._sweeper.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._sweeper
        for conn in list(self.registry.sockets.values()):
            self.close(conn, WSCloseCode.GOING_AWAY, "Going away")
        if self._tasks:
            await asyncio.wait(list(self._tasks), timeout=2.0)
        for task in list(self._tasks):
            task.cancel()
        for session in (self.session, self.fresh_session):
            if session is not None:
                await session.close()

    def _spawn(self, coro: Any) -> asyncio.Task[Any]:
        task: asyncio.Task[Any] = asyncio.get_running_loop().create_task(coro)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)
        return task

    # ------------------------------------------------------------------ handshake

    async def handle_handshake(
        self, request: web.Request, api_id: str, stage: str, domain_name: str
    ) -> web.StreamResponse:
        """``GET /{apiId}/{stage}`` with an Upgrade: the whole life of one socket."""
        stats = self.registry.stats
        if not self.state.api_exists(api_id):
            return web.json_response({"message": "Not Found"}, status=404)
        snapshot = self.state.stage_snapshot(api_id, stage)
        if snapshot is None:
            return web.json_response(
                {"message": "Forbidden"}, status=403, headers={"x-amzn-ErrorType": "ForbiddenException"}
            )
        if request.headers.get("Upgrade", "").lower() != "websocket":
            return web.json_response({"message": "Upgrade Required"}, status=426)
        if not _acceptable_handshake(request):
            # Checked before $connect: a handshake aiohttp would refuse after the backend had
            # accepted it would leave the backend with a connection that never ends.
            return web.json_response({"message": "Bad Request"}, status=400)

        connection_id = ids.connection_id()
        while connection_id in self.registry.connections:
            connection_id = ids.connection_id()
        conn = Connection(
            connection_id,
            api_id,
            stage,
            source_ip=request.remote or "",
            user_agent=request.headers.get("User-Agent", ""),
            domain_name=domain_name,
        )
        conn.headers = request.headers
        conn.query = request.query
        conn.query_string = request.rel_url.raw_query_string
        self.registry.add(conn)
        stats["connections.attempted"] += 1

        protocol: str | None = None
        route = snapshot.routes.get("$connect")
        if route is not None and route.integration is not None:
            try:
                refusal, protocol = await self._connect(conn, route)
            except Exception:  # a bug must refuse this socket, not leave it CONNECTING forever
                log.exception("wsgateway emulator: $connect forwarding failed")
                refusal, protocol = web.json_response({"message": "Internal server error"}, status=502), None
            if refusal is not None:
                conn.state = CLOSED
                self.registry.discard(conn)
                stats["connections.refused"] += 1
                return refusal

        ws = web.WebSocketResponse(
            max_msg_size=self.config.message_limit + 1,  # aiohttp refuses size >= max_msg_size
            compress=False,
            autoping=True,
            protocols=(protocol,) if protocol else (),
            timeout=5.0,
        )
        transport = request.transport
        try:
            if transport is None or transport.is_closing():
                # The client's FIN can arrive in the same loop turn as the $connect answer:
                # the transport is closing before aiohttp reports the connection lost.
                raise ConnectionResetError("the client left during $connect")
            await ws.prepare(request)
        except ConnectionError:
            # The client left while $connect was running; the backend has accepted it, so it
            # must hear about the end of this connection.
            self._left_during_connect(conn)
            # A WebSocketResponse whose prepare() failed half-way must not be returned:
            # aiohttp's write_eof() on it raises "Call .prepare() first". A plain response
            # meets the closed transport and aiohttp drops it as a client disconnection.
            return ws if ws.prepared else web.Response(status=400)
        self._install_frame_guard(request, ws)
        conn.ws = ws
        conn.transport = request.transport
        conn.events = asyncio.Queue()
        conn.worker = self._spawn(self._event_worker(conn))
        if conn.state != CLOSED:  # a DELETE may not arrive before this, but be safe
            conn.state = CONNECTED
        stats["connections.opened"] += 1
        try:
            async for msg in ws:
                if msg.type is WSMsgType.TEXT or msg.type is WSMsgType.BINARY:
                    conn.last_active = time.time()
                    stats["frames.from_clients"] += 1
                    conn.events.put_nowait((_MESSAGE, msg.data, msg.type is WSMsgType.TEXT))
                elif msg.type is WSMsgType.ERROR:
                    break
        finally:
            self._finish(conn, ws)
        return ws

    def _left_during_connect(self, conn: Connection) -> None:
        conn.state = CLOSED
        self.registry.discard(conn)
        conn.events = asyncio.Queue()
        conn.disconnect_queued = True
        conn.events.put_nowait((_DISCONNECT, 1006, "Going away"))
        conn.worker = self._spawn(self._event_worker(conn))

    def _install_frame_guard(self, request: web.Request, ws: web.WebSocketResponse) -> None:
        # aiohttp exposes no per-frame limit; its protocol feeds bytes to ``_payload_parser``.
        protocol = request.protocol
        parser = getattr(protocol, "_payload_parser", None)
        queue = getattr(ws, "_reader", None)
        if parser is None or queue is None:
            log.warning("aiohttp internals changed: the 32 KiB frame limit is not enforced")
            return
        protocol._payload_parser = FrameGuard(parser, queue, self.config)

    async def _connect(
        self, conn: Connection, route: RouteSnapshot
    ) -> tuple[web.Response | None, str | None]:
        """Forward ``$connect``; return (refusal response or None, negotiated subprotocol)."""
        integration = route.integration
        assert integration is not None
        if integration.integration_type == "MOCK":
            return None, None
        result = await self._call(conn, route.route_key, integration, _CONNECT, b"", None, ids.request_id())
        if isinstance(result, str):
            status = 504 if result == "timeout" else 502
            message = "Endpoint request timed out" if status == 504 else "Internal server error"
            return web.json_response({"message": message}, status=status), None
        status, _body, headers = result
        if 200 <= status < 300:
            return None, headers.get("Sec-WebSocket-Protocol")
        if 400 <= status < 500:
            refusal = status
        elif status >= 500:
            refusal = 500
        else:
            refusal = 403
        return web.json_response({"message": _reason(refusal)}, status=refusal), None

    def _finish(self, conn: Connection, ws: web.WebSocketResponse) -> None:
        conn.state = CLOSED
        self.registry.discard(conn)
        self.registry.stats["connections.closed"] += 1
        if not conn.disconnect_queued and conn.events is not None:
            conn.disconnect_queued = True
            code = ws.close_code if ws.close_code is not None else 1006
            conn.events.put_nowait((_DISCONNECT, code, _close_reason(code)))

    # ------------------------------------------------------------------ closing

    def close(self, conn: Connection, code: int, reason: str) -> None:
        """Close a connection from the gateway side (DELETE, timeouts, shutdown)."""
        if conn.state == CLOSED:
            return
        conn.state = CLOSED
        self.registry.discard(conn)
        ws = conn.ws
        if ws is not None:
            self._spawn(ws.close(code=code, message=reason.encode()))

    async def _sweep(self) -> None:
        while True:
            cfg = self.config
            # Fine-grained enough for 0.5 s test timeouts, cheap enough at AWS's 10 min / 2 h.
            interval = min(max(min(cfg.idle_timeout, cfg.max_lifetime) / 20, 0.01), 1.0)
            await asyncio.sleep(interval)
            now = time.time()
            for conn in list(self.registry.sockets.values()):
                if conn.state != CONNECTED:
                    continue
                if now - conn.connected_at >= cfg.max_lifetime:
                    self.registry.stats["connections.lifetime_expired"] += 1
                    self.close(conn, WSCloseCode.GOING_AWAY, "Going away")
                elif now - conn.last_active >= cfg.idle_timeout:
                    self.registry.stats["connections.idle_expired"] += 1
                    self.close(conn, WSCloseCode.GOING_AWAY, "Going away")

    # ------------------------------------------------------------------ events

    async def _event_worker(self, conn: Connection) -> None:
        # One worker per connection: events reach the backend in the order the client sent
        # them, and $disconnect comes last.
        queue = conn.events
        assert queue is not None
        while True:
            kind, data, extra = await queue.get()
            try:
                if kind == _DISCONNECT:
                    await self._disconnect(conn, data, extra)
                else:
                    await self._message(conn, data, extra)
            except Exception:  # a bug here must not kill the connection's event stream
                log.exception("wsgateway emulator: event forwarding failed")
            if kind == _DISCONNECT:  # the last event, even when forwarding it failed
                return

    async def _message(self, conn: Connection, data: str | bytes, is_text: bool) -> None:
        request_id = ids.request_id()
        snapshot = self.state.stage_snapshot(conn.api_id, conn.stage)
        message = parse_message(data, is_text)
        route = select_route(snapshot, message) if snapshot is not None else None
        if route is None:
            self.registry.stats["messages.forbidden"] += 1
            await self._send(conn, _json_frame("Forbidden", conn, request_id))
            return
        integration = route.integration
        if integration is None:
            await self._send(conn, _json_frame("Internal server error", conn, request_id))
            return
        if integration.integration_type == "MOCK":
            return
        body = data.encode() if isinstance(data, str) else data
        result = await self._call(
            conn, route.route_key, integration, _MESSAGE, body, is_text, request_id, message=message
        )
        if isinstance(result, str):
            self.registry.stats["forward.errors"] += 1
            await self._send(conn, _json_frame("Internal server error", conn, request_id))
            return
        if route.two_way and result[1]:
            payload = result[1]
            try:
                await self._send(conn, payload.decode())
            except UnicodeDecodeError:
                await self._send(conn, payload)

    async def _disconnect(self, conn: Connection, code: int, reason: str) -> None:
        snapshot = self.state.stage_snapshot(conn.api_id, conn.stage)
        route = snapshot.routes.get("$disconnect") if snapshot is not None else None
        if route is None or route.integration is None or route.integration.integration_type == "MOCK":
            return
        extra = {"disconnectStatusCode": str(code), "disconnectReason": reason}
        await self._call(
            conn, "$disconnect", route.integration, _DISCONNECT, b"", None, ids.request_id(), extra
        )

    async def _send(self, conn: Connection, data: str | bytes) -> None:
        if conn.ws is None or conn.state != CONNECTED:
            return
        text = isinstance(data, str)
        payload = data.encode() if isinstance(data, str) else data
        if not write_message(conn.transport, payload, text=text, frame_size=self.config.frame_limit):
            return
        conn.last_active = time.time()
        self.registry.stats["frames.to_clients"] += 1

    # ------------------------------------------------------------------ the HTTP call

    async def _call(
        self,
        conn: Connection,
        route_key: str,
        integration: IntegrationSnapshot,
        event_type: str,
        body: bytes,
        is_text: bool | None,
        request_id: str,
        extra_context: dict[str, str] | None = None,
        *,
        message: Any = None,
    ) -> tuple[int, bytes, CIMultiDict[str]] | str:
        """POST one event to an integration; (status, body, headers) or "timeout"/"error"."""
        assert self.session is not None
        uri = integration.uri
        parts = urlsplit(uri)
        headers: CIMultiDict[str] = CIMultiDict()
        headers["Host"] = parts.netloc.rpartition("@")[2]
        headers["X-Amzn-Apigateway-Api-Id"] = conn.api_id
        client_xff = ""
        if event_type == _CONNECT:
            # AWS passes the handshake's headers on (Authorization, Cookie, custom ones,
            # Sec-WebSocket-Protocol...), except the hop-by-hop ones and those it sets itself.
            for name, sent in conn.headers.items():
                lower = name.lower()
                if lower == "x-forwarded-for":
                    client_xff = sent
                elif lower not in NOT_FORWARDED:
                    headers.add(name, sent)
        else:
            headers["User-Agent"] = f"AmazonAPIGateway_{conn.api_id}"
        # Like every AWS proxy: the client's own X-Forwarded-For, then the address it came from.
        headers["X-Forwarded-For"] = f"{client_xff}, {conn.source_ip}" if client_xff else conn.source_ip
        headers["X-Forwarded-Port"] = "443"
        headers["X-Forwarded-Proto"] = "https"
        headers["X-Amzn-Trace-Id"] = ids.trace_id()
        if is_text is not None:
            headers["Content-Type"] = "application/json" if is_text else "application/octet-stream"

        query: list[str] = []
        if parts.query:
            query.append(parts.query)
        if event_type == _CONNECT and conn.query_string:
            query.append(conn.query_string)
        path = parts.path
        if integration.params:
            context = self._context(conn, route_key, event_type, request_id, extra_context)
            for mapping in integration.params:
                value = self._param_value(conn, mapping.source_kind, mapping.source_name, context, message)
                if value is None:
                    continue
                if mapping.target_kind == "header":
                    headers[mapping.target_name] = value
                elif mapping.target_kind == "querystring":
                    query.append(f"{quote(mapping.target_name, safe='')}={_quote_raw(value)}")
                else:
                    path = path.replace("{" + mapping.target_name + "}", _quote_raw(value))
        url = f"{parts.scheme}://{parts.netloc}{path}"
        if query:
            url += "?" + "&".join(query)

        stats = self.registry.stats
        stats[f"forward.{route_key if event_type != _MESSAGE else 'MESSAGE'}"] += 1
        try:
            return await self._post(integration, URL(url, encoded=True), body, headers)
        except TimeoutError:
            stats["forward.timeouts"] += 1
            return "timeout"
        except (aiohttp.ClientError, OSError, ValueError):
            stats["forward.connection_errors"] += 1
            return "error"

    async def _post(
        self, integration: IntegrationSnapshot, url: URL, body: bytes, headers: CIMultiDict[str]
    ) -> tuple[int, bytes, CIMultiDict[str]]:
        """Send one integration request; retry once on a new connection if a kept-alive one was dead.

        A backend closes an idle kept-alive connection when its own keep-alive timer fires
        (gunicorn after 2 s); a request written at that moment fails without any answer. That
        is our connection pool's doing, not the backend's, so it must not become a 502: like
        curl, a request that failed on a *reused* connection before any response byte is sent
        again, once, on a new connection. Failures on a new connection are never repeated (the
        backend may have acted on the request).
        """
        assert self.session is not None and self.fresh_session is not None
        deadline = asyncio.get_running_loop().time() + integration.timeout
        flags = {"reused": False, "answered": False}
        try:
            return await self._attempt(self.session, integration.method, url, body, headers, deadline, flags)
        except (aiohttp.ServerDisconnectedError, aiohttp.ClientOSError) as err:
            if flags["answered"] or not flags["reused"] or isinstance(err, aiohttp.ClientConnectorError):
                raise
        self.registry.stats["forward.stale_connection_retries"] += 1
        return await self._attempt(self.fresh_session, integration.method, url, body, headers, deadline, {})

    @staticmethod
    async def _attempt(
        session: aiohttp.ClientSession,
        method: str,
        url: URL,
        body: bytes,
        headers: CIMultiDict[str],
        deadline: float,
        flags: dict[str, bool],
    ) -> tuple[int, bytes, CIMultiDict[str]]:
        left = deadline - asyncio.get_running_loop().time()
        async with session.request(
            method,
            url,
            data=body,
            headers=headers,
            skip_auto_headers=SKIP_AUTO_HEADERS,
            timeout=aiohttp.ClientTimeout(total=max(left, 0.001)),
            allow_redirects=False,
            trace_request_ctx=flags,
        ) as response:
            flags["answered"] = True
            payload = await response.read()
            return response.status, payload, CIMultiDict(response.headers)

    def _context(
        self,
        conn: Connection,
        route_key: str,
        event_type: str,
        request_id: str,
        extra: dict[str, str] | None,
    ) -> dict[str, str]:
        now = time.time()
        context = {
            "connectionId": conn.connection_id,
            "connectedAt": str(int(conn.connected_at * 1000)),
            "domainName": conn.domain_name or conn.headers.get("Host", ""),
            "eventType": event_type,
            "messageDirection": "IN",
            "routeKey": route_key,
            "requestId": request_id,
            "extendedRequestId": request_id,
            "requestTimeEpoch": str(int(now * 1000)),
            "requestTime": time.strftime("%d/%b/%Y:%H:%M:%S +0000", time.gmtime(now)),
            "apiId": conn.api_id,
            "stage": conn.stage,
            "identity.sourceIp": conn.source_ip,
            "identity.userAgent": conn.user_agent,
        }
        if event_type == _MESSAGE:
            context["messageId"] = ids.request_id()
        if extra:
            context.update(extra)
        return context

    def _param_value(
        self, conn: Connection, kind: str, name: str, context: dict[str, str], message: Any
    ) -> str | None:
        if kind == "static":
            return name
        if kind == "context":
            return context.get(name)
        if kind == "header":
            return conn.headers.get(name)
        if kind == "querystring":
            return conn.query.get(name)
        if kind in ("multivalueheader", "multivaluequerystring"):
            source = conn.headers if kind == "multivalueheader" else conn.query
            values = source.getall(name, []) if hasattr(source, "getall") else []
            return ",".join(values) if values else None
        if kind == "body":
            value = message
            for part in name.split("."):
                value = value.get(part) if isinstance(value, dict) else None
            if value is None:
                return None
            return value if isinstance(value, str) else json.dumps(value)
        snapshot = self.state.stage_snapshot(conn.api_id, conn.stage)
        return snapshot.stage_variables.get(name) if snapshot is not None else None

    def describe(self) -> list[dict[str, Any]]:
        """All connections for ``/_emulator/connections``."""
        return [c.describe() for c in self.registry.connections.values()]


def _acceptable_handshake(request: web.Request) -> bool:
    """Whether aiohttp would accept this upgrade (key, version, ``Connection: upgrade``)."""
    # Offering the client's own subprotocols keeps aiohttp from logging that none overlap.
    offered = [p.strip() for p in request.headers.get("Sec-WebSocket-Protocol", "").split(",")]
    try:
        return web.WebSocketResponse(protocols=offered).can_prepare(request).ok
    except ValueError:
        # aiohttp builds its refusal's text from the header; a non-UTF-8 one fails to encode.
        return False


async def _mark_reused(
    _session: aiohttp.ClientSession, context: Any, _params: aiohttp.TraceConnectionReuseconnParams
) -> None:
    """aiohttp trace hook: the request went out on a pooled (kept-alive) connection."""
    context.trace_request_ctx["reused"] = True


def _quote_raw(value: str) -> str:
    """Percent-encode a value taken from the client's handshake, restoring its original bytes.

    aiohttp decodes header bytes that are not UTF-8 with ``surrogateescape``; a plain ``quote``
    raises on those, while API Gateway forwards whatever bytes the client sent.
    """
    return quote(value, safe="", errors="surrogateescape")


def _reason(status: int) -> str:
    try:
        return HTTPStatus(status).phrase
    except ValueError:
        return "Error"


def _close_reason(code: int) -> str:
    return {1000: "Connection Closed Normally", 1001: "Going away", 1009: "Message too big"}.get(
        code, "Connection closed"
    )


__all__ = ["DataPlane", "FrameGuard", "iso_ms", "select_route"]
