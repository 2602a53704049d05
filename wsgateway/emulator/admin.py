"""Emulator-only admin endpoints under ``/_emulator/`` (JSON in, JSON out).

See the package docstring (:mod:`wsgateway.emulator`) for the list.
"""

from __future__ import annotations

import base64
import json
from typing import Any

from aiohttp import web

from . import ids
from .config import EmulatorConfig
from .connections import CONNECTED, Connection, Registry
from .data_plane import DataPlane
from .faults import FaultInjector
from .state import ControlPlaneState

MAX_VIRTUAL_PER_CALL = 1_000_000


def _bad(message: str) -> web.Response:
    return web.json_response({"message": message}, status=400)


async def _json_body(request: web.Request) -> dict[str, Any]:
    if not request.can_read_body:
        return {}
    try:
        body = await request.json()
    except (ValueError, RecursionError):  # deep nesting raises RecursionError
        raise web.HTTPBadRequest(
            text='{"message": "invalid JSON"}', content_type="application/json"
        ) from None
    if not isinstance(body, dict):
        raise web.HTTPBadRequest(
            text='{"message": "expected a JSON object"}', content_type="application/json"
        )
    return body


class Admin:
    """Handlers of ``/_emulator/*``."""

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

    def register(self, app: web.Application) -> None:
        """Add the admin routes to ``app``."""
        r = app.router
        r.add_get("/_emulator/health", self.health)
        r.add_get("/_emulator/config", self.get_config)
        r.add_post("/_emulator/config", self.set_config)
        r.add_get("/_emulator/connections", self.connections)
        r.add_get("/_emulator/stats", self.stats)
        r.add_post("/_emulator/reset-stats", self.reset_stats)
        r.add_post("/_emulator/reset", self.reset)
        r.add_post("/_emulator/virtual-connections", self.create_virtual)
        r.add_delete("/_emulator/virtual-connections", self.delete_virtual)
        r.add_get("/_emulator/virtual-connections/{connectionId}/messages", self.virtual_messages)
        r.add_delete("/_emulator/virtual-connections/{connectionId}", self.delete_virtual)

    async def health(self, request: web.Request) -> web.Response:
        """Liveness probe."""
        return web.json_response({"ok": True})

    async def get_config(self, request: web.Request) -> web.Response:
        """Current configuration."""
        return web.json_response(self.config.to_dict())

    async def set_config(self, request: web.Request) -> web.Response:
        """Change runtime settings (faults, latency, timeouts, limits); answers the new config."""
        body = await _json_body(request)
        try:
            self.config.update(body)
        except (ValueError, TypeError) as err:
            return _bad(str(err))
        if "seed" in body:
            self.faults.reseed()
        return web.json_response(self.config.to_dict())

    async def connections(self, request: web.Request) -> web.Response:
        """Live connections; ``?virtual=0`` hides virtual ones, ``?apiId=`` filters."""
        api_id = request.query.get("apiId")
        hide_virtual = request.query.get("virtual") == "0"
        items = [
            c.describe()
            for c in self.registry.connections.values()
            if (api_id is None or c.api_id == api_id) and not (hide_virtual and c.virtual)
        ]
        return web.json_response({"items": items, "count": len(items)})

    async def stats(self, request: web.Request) -> web.Response:
        """Counters, e.g. ``management.POST.200``, ``forward.$connect``, ``faults.429``."""
        data: dict[str, Any] = dict(sorted(self.registry.stats.items()))
        data["connections.live"] = len(self.registry.connections)
        data["connections.sockets"] = len(self.registry.sockets)
        return web.json_response(data)

    async def reset_stats(self, request: web.Request) -> web.Response:
        """Zero every counter."""
        self.registry.stats.clear()
        return web.json_response({"ok": True})

    async def reset(self, request: web.Request) -> web.Response:
        """Forget all control-plane state, close every connection, zero the counters."""
        for conn in list(self.registry.connections.values()):
            if conn.virtual:
                self.registry.discard(conn)
            else:
                self.data_plane.close(conn, 1001, "Going away")
        self.state.reset()
        self.state.save()
        self.registry.stats.clear()
        return web.json_response({"ok": True})

    async def create_virtual(self, request: web.Request) -> web.Response:
        """``{"apiId", "stage", "count"}`` → N socket-less connections accepting @connections POSTs.

        Without ``apiId`` a bare WEBSOCKET API with a deployed stage (default ``test``) is
        created first, so a benchmark needs a single call.
        """
        body = await _json_body(request)
        count = body.get("count", 1)
        if isinstance(count, bool) or not isinstance(count, int) or not 0 < count <= MAX_VIRTUAL_PER_CALL:
            return _bad(f"count must be an integer in 1..{MAX_VIRTUAL_PER_CALL}")
        stage = body.get("stage") or "test"
        api_id = body.get("apiId")
        if not isinstance(stage, str) or (api_id is not None and not isinstance(api_id, str)):
            return _bad("apiId and stage must be strings")
        if api_id is None:
            api = self.state.create_api(
                {
                    "name": "virtual",
                    "protocolType": "WEBSOCKET",
                    "routeSelectionExpression": "$request.body.action",
                }
            )
            api_id = api["apiId"]
            self.state.create_route(api_id, {"routeKey": "$default"})
            self.state.create_stage(api_id, {"stageName": stage})
            self.state.create_deployment(api_id, {"stageName": stage})
            self.state.save()
        elif self.state.stage_snapshot(api_id, stage) is None:
            return web.json_response(
                {"message": f"unknown or undeployed api/stage {api_id}/{stage}"}, status=404
            )
        keep = self.config.virtual_keep_messages
        created = []
        for _ in range(count):
            cid = ids.connection_id()
            while cid in self.registry.connections:
                cid = ids.connection_id()
            conn = Connection(cid, api_id, stage, user_agent="virtual", virtual=True, keep_messages=keep)
            conn.state = CONNECTED
            self.registry.add(conn)
            created.append(cid)
        return web.json_response(
            {
                "apiId": api_id,
                "stage": stage,
                "managementEndpoint": f"{request.scheme}://{request.host}/{api_id}/{stage}",
                "connectionIds": created,
            },
            status=201,
        )

    async def virtual_messages(self, request: web.Request) -> web.Response:
        """What a virtual connection received: count, bytes and the last messages."""
        conn = self.registry.connections.get(request.match_info["connectionId"])
        if conn is None or not conn.virtual:
            return web.json_response({"message": "unknown virtual connection"}, status=404)
        messages = []
        for data in conn.messages:
            try:
                messages.append({"data": data.decode(), "binary": False})
            except UnicodeDecodeError:
                messages.append({"data": base64.b64encode(data).decode(), "binary": True})
        return web.Response(
            body=json.dumps(
                {
                    "connectionId": conn.connection_id,
                    "count": conn.message_count,
                    "bytes": conn.bytes_received,
                    "messages": messages,
                }
            ).encode(),
            content_type="application/json",
        )

    async def delete_virtual(self, request: web.Request) -> web.Response:
        """Remove one virtual connection (by id) or all of them (``?apiId=`` to filter)."""
        one = request.match_info.get("connectionId")
        api_id = request.query.get("apiId")
        removed = 0
        for conn in list(self.registry.connections.values()):
            if not conn.virtual:
                continue
            if one is not None and conn.connection_id != one:
                continue
            if api_id is not None and conn.api_id != api_id:
                continue
            conn.state = "CLOSED"
            self.registry.discard(conn)
            removed += 1
        if one is not None and not removed:
            return web.json_response({"message": "unknown virtual connection"}, status=404)
        return web.json_response({"removed": removed})
