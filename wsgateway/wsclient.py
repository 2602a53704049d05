"""A ``websockets`` sync client that is safe over TLS: no lost handshake, no hang on a timeout.

**Lost handshake requests.** ``websockets.sync`` starts its reading thread before it sends the
handshake request, so over TLS two threads use one ``ssl.SSLSocket`` at once: the reader's
``SSL_read`` and the sender's ``SSL_write`` (both release the GIL; OpenSSL forbids concurrent use
of one SSL object). TLS 1.3 servers send their session tickets right after the handshake, so the
reader is processing them exactly while the request is written, and now and then the request
never leaves: the server waits for it, the client for the response, until ``open_timeout``.
Measured with the emulator as server on a loaded machine: 3 of 1,500 wss handshakes lost; with a
plain asyncio TLS server 9 and 17 of 2,000, none of 2,000 when the server sends no tickets or the
reader starts after the request is written. :class:`ClientConnection` starts reading only once
the request is written: the tickets and the response arrive in that order, and nothing is
written until the response has been read.

**Hang on a timeout.** ``websockets.sync`` reads in a thread that waits in ``select()`` and then calls
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
import threading
from typing import Any

import websockets.sync.client


class ClientConnection(websockets.sync.client.ClientConnection):
    """``websockets.sync.client.ClientConnection`` that reads only after its handshake request is
    written and whose ``close_socket()`` ends a blocked read."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        # Set before the base class starts the reading thread, which waits for it.
        self.request_written = threading.Event()
        super().__init__(*args, **kwargs)

    def recv_events(self) -> None:
        # Bounded: close_socket() also sets the event, so a failed handshake never leaves it waiting.
        self.request_written.wait()
        super().recv_events()

    def send_data(self) -> None:
        super().send_data()
        self.request_written.set()

    def close_socket(self) -> None:
        self.request_written.set()
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
