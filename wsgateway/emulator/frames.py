"""Gateway-to-client WebSocket frames, written the way API Gateway writes them.

API Gateway's frame size quota is 32 KB: a larger message (up to 128 KB, e.g. a
``@connections`` POST) reaches the client as a fragmented message — a first text/binary frame
without FIN, continuation frames, a last one with FIN. aiohttp's writer always sends a single
frame and, once its buffer passes 64 KiB, waits for the client to read (which a client that
stopped reading never does, so a ``@connections`` POST would never answer). Writing the
encoded frames straight to the transport never waits; the caller checks the transport's
buffer first and answers 429 when it is full, as AWS does.
"""

from __future__ import annotations

import asyncio

OP_CONTINUATION = 0x0
OP_TEXT = 0x1
OP_BINARY = 0x2
_FIN = 0x80


def _header(first_byte: int, length: int) -> bytes:
    # Server frames are never masked (RFC 6455 section 5.1).
    if length < 126:
        return bytes((first_byte, length))
    if length < 1 << 16:
        return bytes((first_byte, 126)) + length.to_bytes(2, "big")
    return bytes((first_byte, 127)) + length.to_bytes(8, "big")


def encode_message(data: bytes, *, text: bool, frame_size: int) -> bytes:
    """``data`` as one message of frames carrying at most ``frame_size`` bytes each."""
    opcode = OP_TEXT if text else OP_BINARY
    if len(data) <= frame_size:
        return _header(_FIN | opcode, len(data)) + data
    parts = []
    for start in range(0, len(data), frame_size):
        chunk = data[start : start + frame_size]
        last = start + frame_size >= len(data)
        first_byte = (_FIN if last else 0) | (opcode if start == 0 else OP_CONTINUATION)
        parts.append(_header(first_byte, len(chunk)))
        parts.append(chunk)
    return b"".join(parts)


def write_message(
    transport: asyncio.BaseTransport | None, data: bytes, *, text: bool, frame_size: int
) -> bool:
    """Write one message to a socket's transport; False when the socket is gone.

    One ``write`` call per message, so frames of two messages never interleave.
    """
    if transport is None or transport.is_closing():
        return False
    transport.write(encode_message(data, text=text, frame_size=frame_size))  # type: ignore[attr-defined]
    return True
