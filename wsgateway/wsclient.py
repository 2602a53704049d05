"""A ``websockets`` sync client whose ``open_timeout`` and ``close_timeout`` also hold over TLS.

``websockets.sync`` reads in a thread that waits in ``select()`` and then calls
``socket.recv()``. Over TLS a readable socket does not mean a readable *record*: TLS 1.3 servers
send their session tickets right after the handshake, ``SSL_read`` consumes them and, the socket
being blocking, waits for application data. When the handshake response is late (API Gateway
waits up to 29 s for the ``$connect`` integration, more than a usual ``open_timeout``) the client
raises ``TimeoutError``, closes the socket and joins that thread, but ``close()`` on a descriptor
does not wake a ``recv()`` blocked on it in another thread: the join never returns and
``connect()`` hangs for good instead of failing (``checkApiGateway --round-trip``, see
docs/deploying.md, must report a slow ``$connect``, not hang). :class:`ClientConnection` shuts the
socket down first, which does wake the read.
"""

from __future__ import annotations

import contextlib
import socket
from typing import Any

import websockets.sync.client


class ClientConnection(websockets.sync.client.ClientConnection):
    """``websockets.sync.client.ClientConnection`` whose ``close_socket()`` ends a blocked read."""

    def close_socket(self) -> None:
        sock = self.socket
        if isinstance(sock, socket.socket):
            # The plain socket's shutdown: SSLSocket.shutdown() would also drop the SSL object
            # under the reading thread. SHUT_RDWR makes the blocked recv() return (EOF).
            with contextlib.suppress(OSError):
                socket.socket.shutdown(sock, socket.SHUT_RDWR)
        super().close_socket()


def connect(uri: str, **options: Any) -> Any:
    """``websockets.sync.client.connect`` with :class:`ClientConnection` (same arguments)."""
    options.setdefault("create_connection", ClientConnection)
    return websockets.sync.client.connect(uri, **options)
