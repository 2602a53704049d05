"""Live (socket) and virtual (socket-less) connections, and the counters the admin API reports."""

from __future__ import annotations

import asyncio
import collections
import time
from collections.abc import Mapping
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from aiohttp import web

CONNECTING = "CONNECTING"
CONNECTED = "CONNECTED"
CLOSED = "CLOSED"


def iso_ms(epoch: float) -> str:
    """ISO 8601 with milliseconds, the form botocore parses into a datetime."""
    return (
        datetime.fromtimestamp(epoch, UTC).strftime("%Y-%m-%dT%H:%M:%S.") + f"{int(epoch * 1000) % 1000:03d}Z"
    )


class Connection:
    """One client connection as API Gateway tracks it.

    ``state`` is CONNECTING until ``$connect`` has answered (the management API answers 410
    meanwhile), CONNECTED while the socket is open, CLOSED afterwards. A *virtual* connection
    has no socket: @connections POSTs are counted and the last ones kept, for fan-out benchmarks.
    """

    __slots__ = (
        "api_id",
        "bytes_received",
        "connected_at",
        "connection_id",
        "disconnect_queued",
        "domain_name",
        "events",
        "headers",
        "last_active",
        "message_count",
        "messages",
        "query",
        "query_string",
        "source_ip",
        "stage",
        "state",
        "transport",
        "user_agent",
        "virtual",
        "worker",
        "ws",
    )

    def __init__(
        self,
        connection_id: str,
        api_id: str,
        stage: str,
        *,
        source_ip: str = "127.0.0.1",
        user_agent: str = "",
        domain_name: str = "",
        virtual: bool = False,
        keep_messages: int = 100,
    ) -> None:
        self.connection_id = connection_id
        self.api_id = api_id
        self.stage = stage
        self.state = CONNECTING
        self.source_ip = source_ip
        self.user_agent = user_agent
        self.domain_name = domain_name
        self.virtual = virtual
        now = time.time()
        self.connected_at = now
        self.last_active = now
        #: Handshake headers (original case) and query, for $connect and route.request.* mappings.
        self.headers: Mapping[str, str] = {}
        self.query: Mapping[str, str] = {}
        self.query_string = ""
        self.ws: web.WebSocketResponse | None = None
        self.transport: asyncio.BaseTransport | None = None
        #: Integration events of this connection, forwarded one at a time to keep their order.
        self.events: asyncio.Queue[Any] | None = None
        self.worker: asyncio.Task[None] | None = None
        self.disconnect_queued = False
        self.messages: collections.deque[bytes] = collections.deque(maxlen=keep_messages)
        self.message_count = 0
        self.bytes_received = 0

    def describe(self) -> dict[str, Any]:
        """JSON description for ``/_emulator/connections``."""
        return {
            "connectionId": self.connection_id,
            "apiId": self.api_id,
            "stage": self.stage,
            "state": self.state,
            "virtual": self.virtual,
            "connectedAt": iso_ms(self.connected_at),
            "lastActiveAt": iso_ms(self.last_active),
            "sourceIp": self.source_ip,
            "userAgent": self.user_agent,
            "domainName": self.domain_name,
            "messagesReceived": self.message_count,
        }


class Registry:
    """Connections by id, plus a flat counter map (``"management.POST.200"`` → n)."""

    def __init__(self) -> None:
        self.connections: dict[str, Connection] = {}
        #: The subset with a real socket (the timeout sweeper only looks at these).
        self.sockets: dict[str, Connection] = {}
        self.stats: collections.Counter[str] = collections.Counter()

    def add(self, conn: Connection) -> None:
        """Register a connection (ids are random, collisions are retried by the caller)."""
        self.connections[conn.connection_id] = conn
        if not conn.virtual:
            self.sockets[conn.connection_id] = conn

    def discard(self, conn: Connection) -> None:
        """Forget a connection if it is still the registered one."""
        if self.connections.get(conn.connection_id) is conn:
            del self.connections[conn.connection_id]
        if self.sockets.get(conn.connection_id) is conn:
            del self.sockets[conn.connection_id]
