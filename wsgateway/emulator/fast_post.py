"""The ``@connections`` POST fast path: a delivered message answered without aiohttp's request
machinery.

A fan-out POSTs one message per recipient, and aiohttp spends most of the emulator's CPU on
each (a task per request, the request and response objects, the router, the middlewares:
about 100 of 130 µs per POST, ``benchmarks/emulator_throughput.py``). With a few hundred
recipients that is tens of milliseconds of one core before the last one has the message, on
the path whose latency ``benchmarks/latency.py`` measures.

So each connection's bytes are looked at first by :meth:`FastPostHandler.data_received`. A
request is served here only when every check says it is the plain success case: ``POST
/{apiId}/{stage}/@connections/{id} HTTP/1.1``, a ``Content-Length`` body of at most the
message limit, no ``Transfer-Encoding``/``Expect``/``Content-Encoding``/``Upgrade``, a
``Connection`` header (if any) of ``keep-alive``, an allowed ``Host`` that is no custom
domain, a valid signature (:func:`wsgateway.emulator.sigv4.authenticate`, the same check),
a deployed stage, no fault injection, and a connected socket of that API whose send buffer
has room (or a virtual connection). It is then delivered exactly as
:meth:`wsgateway.emulator.management.Management.handle` delivers it (same frames, counters
and activity time) and answered with the bytes aiohttp writes for that ``200``.

Anything else (another method or path, any error answer, a header this parser does not take)
hands the connection from that request on to aiohttp, for good: the checks above have no side
effects, so aiohttp sees the request untouched and answers it as it always did. Requests on
one connection are answered in order either way. The keep-alive timer is kept as aiohttp
keeps it (closed after ``keepalive_timeout`` without a request).
"""

from __future__ import annotations

import re
import time
from typing import TYPE_CHECKING, Any
from urllib.parse import unquote

from aiohttp import web
from aiohttp.helpers import rfc822_formatted_time
from aiohttp.http import SERVER_SOFTWARE
from aiohttp.web_protocol import RequestHandler
from multidict import CIMultiDict

from . import security, sigv4
from .connections import CONNECTED
from .errors import AwsError
from .frames import write_message

if TYPE_CHECKING:
    from .server import Emulator

_CONNECTIONS = ("@connections", "%40connections", "%40Connections")
#: Longest request head taken here (aiohttp's ``max_field_size`` is 16 KiB per header).
MAX_HEAD = 16384
#: Unread answer bytes after which a connection is handed to aiohttp (it stops reading then).
MAX_UNREAD_ANSWERS = 1 << 20
#: Headers that hand the request to aiohttp (it knows what to do with them).
_HANDED_OVER = frozenset({"transfer-encoding", "expect", "content-encoding", "upgrade"})
_TOKEN = re.compile(r"[!#$%&'*+\-.^_`|~0-9A-Za-z]+")
_BAD_VALUE = re.compile(r"[\x00-\x08\x0a-\x1f\x7f]")
_OK = "HTTP/1.1 200 OK\r\nContent-Length: 0\r\nDate: {date}\r\nServer: " + SERVER_SOFTWARE + "\r\n\r\n"


class _Answer:
    """aiohttp's bytes for a bodiless ``200`` (its headers, in its order; its own cached date)."""

    def __init__(self) -> None:
        self._date = ""
        self.bytes = b""

    def ok(self) -> bytes:
        date = rfc822_formatted_time()
        if date != self._date:
            self._date = date
            self.bytes = _OK.format(date=date).encode()
        return self.bytes


class FastPosts:
    """The checks and the delivery of the fast path, on the emulator's own state."""

    def __init__(self, emulator: Emulator) -> None:
        self.config = emulator.config
        self.state = emulator.state
        self.registry = emulator.registry
        self.faults = emulator.faults
        self.allowed = security.static_allowed_hosts(emulator.config)
        self.answer = _Answer()

    def parse(self, data: bytes, pos: int) -> tuple[int, str, CIMultiDict[str], bytes] | int:
        """One request at ``pos``: ``(end, target, headers, body)``; ``0`` when its head is not
        complete yet; the request's whole size (from ``pos``) when only its body is missing;
        ``-1`` when aiohttp must have it."""
        head_end = data.find(b"\r\n\r\n", pos)
        if head_end < 0:
            return 0 if len(data) - pos <= MAX_HEAD else -1
        if head_end - pos > MAX_HEAD:
            return -1
        raw = data[pos:head_end]
        if not raw.isascii():
            return -1
        lines = raw.decode("ascii").split("\r\n")
        line = lines[0]
        if not (line.startswith("POST /") and line.endswith(" HTTP/1.1")):
            return -1
        target = line[5:-9]
        if " " in target or "?" in target or "#" in target:
            return -1
        headers: CIMultiDict[str] = CIMultiDict()
        length = -1
        for header in lines[1:]:
            name, colon, value = header.partition(":")
            if not colon or not _TOKEN.fullmatch(name):
                return -1
            value = value.strip(" \t")
            if _BAD_VALUE.search(value):
                return -1
            lower = name.lower()
            if lower in _HANDED_OVER or (lower == "connection" and value.lower() != "keep-alive"):
                return -1
            if lower == "content-length":
                if length >= 0 or not value.isdigit() or not value.isascii():
                    return -1
                length = int(value)
            headers.add(name, value)
        if length < 0 or length > self.config.message_limit:
            return -1
        end = head_end + 4 + length
        if end > len(data):
            return end - pos
        return end, target, headers, data[head_end + 4 : end]

    def deliver(self, target: str, headers: CIMultiDict[str], body: bytes) -> bool:
        """Deliver the POST if it is the plain success case (see the module docstring); False,
        without any effect, when it is not."""
        hosts = headers.getall("Host", [])
        if len(hosts) != 1:
            return False
        host = security.host_name(hosts[0])
        state = self.state
        if host not in self.allowed or host in state.domains:
            return False
        parts = target.split("/")
        if len(parts) != 5 or parts[3] not in _CONNECTIONS or not parts[1].isalnum() or parts[1] == "v2":
            return False
        api_id, stage, raw_id = parts[1], parts[2], parts[4]
        if "%" in stage:
            stage = unquote(stage)
        config = self.config
        if len(target) > 4096 or self.faults.active:
            return False
        try:
            sigv4.authenticate(
                service="execute-api",
                method="POST",
                raw_path=target,
                query="",
                headers=headers,
                body=body if config.secret_key else b"",
                access_key=config.access_key,
                secret_key=config.secret_key,
            )
        except AwsError:
            return False
        if state.stage_snapshot(api_id, stage) is None:
            return False
        registry = self.registry
        conn = registry.connections.get(unquote(raw_id) if "%" in raw_id else raw_id)
        if conn is None or conn.state != CONNECTED or conn.api_id != api_id:
            return False
        if conn.virtual:
            conn.message_count += 1
            conn.bytes_received += len(body)
            conn.messages.append(body)
        else:
            transport = conn.transport
            if conn.ws is None or transport is None or transport.is_closing():
                return False
            if transport.get_write_buffer_size() > config.send_buffer_limit:  # type: ignore[attr-defined]
                return False
            try:
                body.decode()
            except UnicodeDecodeError:
                text = False
            else:
                text = True
            write_message(transport, body, text=text, frame_size=config.frame_limit)
            registry.stats["frames.to_clients"] += 1
        conn.last_active = time.time()
        registry.stats["management.POST.200"] += 1
        return True


class FastPostHandler(RequestHandler):
    """aiohttp's connection handler with the fast path in front (see the module docstring)."""

    def __init__(self, manager: Any, fast: FastPosts, **kwargs: Any) -> None:
        super().__init__(manager, **kwargs)
        self._fast: FastPosts | None = fast
        # An incomplete request's bytes, kept as received (joined once, when it may be whole:
        # re-joining and re-parsing at every packet made a request sent in small pieces cost
        # its size squared), their total size, and the size it needs (0: its head is not whole).
        self._fast_chunks: list[bytes] = []
        self._fast_size = 0
        self._fast_need = 0

    def _fast_pending(self, data: bytes) -> bytes | None:
        """``data`` after the incomplete request's bytes, or None while it cannot be whole yet."""
        chunks = self._fast_chunks
        need = self._fast_need
        if need:
            complete = self._fast_size + len(data) >= need
        else:  # a head ends at a CRLFCRLF, maybe across this packet's start; or it is too long
            tail = b"".join(chunks[-3:])[-3:]  # packets are never empty: the last 3 bytes
            complete = b"\r\n\r\n" in tail + data[:3] or b"\r\n\r\n" in data
            complete = complete or self._fast_size + len(data) > MAX_HEAD
        chunks.append(data)
        self._fast_size += len(data)
        if not complete:
            return None
        data = b"".join(chunks)
        self._fast_chunks = []
        self._fast_size = self._fast_need = 0
        return data

    def data_received(self, data: bytes) -> None:
        fast = self._fast
        if fast is None:
            super().data_received(data)
            return
        transport = self.transport
        if transport is not None and transport.get_write_buffer_size() > MAX_UNREAD_ANSWERS:
            # A client that does not read its answers: aiohttp's flow control takes over.
            self._fast = None
            data = b"".join([*self._fast_chunks, data])
            self._fast_chunks = []
            super().data_received(data)
            return
        if self._fast_chunks:
            pending = self._fast_pending(data)
            if pending is None:
                return
            data = pending
        elif not data.startswith(b"POST /") and not (len(data) < 6 and b"POST /".startswith(data)):
            self._fast = None  # a handshake, the control plane...: aiohttp's connection
            super().data_received(data)
            return
        pos = 0
        served = 0
        while pos < len(data):
            parsed = fast.parse(data, pos)
            if isinstance(parsed, int) and parsed >= 0:
                rest = data[pos:]
                self._fast_chunks = [rest]
                self._fast_size = len(rest)
                self._fast_need = parsed
                break
            if isinstance(parsed, int) or not fast.deliver(parsed[1], parsed[2], parsed[3]):
                self._fast = None
                break
            pos = parsed[0]
            served += 1
        if served:
            if transport is not None:
                transport.write(fast.answer.ok() * served if served > 1 else fast.answer.ok())
            manager = self._manager
            if manager is not None:
                manager.requests_count += served
            if self._keepalive_timeout > 0:  # aiohttp's timer closes an idle connection then
                self._next_keepalive_close_time = self._loop.time() + self._keepalive_timeout
        if self._fast is None and pos < len(data):
            super().data_received(data[pos:])


class FastPostServer(web.Server):
    """aiohttp's ``Server`` making :class:`FastPostHandler` connections."""

    fast: FastPosts

    def __call__(self) -> RequestHandler:
        return FastPostHandler(self, self.fast, loop=self._loop, **self._kwargs)


def install(runner: web.AppRunner, emulator: Emulator) -> None:
    """Put the fast path in front of ``runner``'s server (after ``runner.setup()``, before a site starts)."""
    server = runner.server
    assert server is not None
    server.__class__ = FastPostServer
    server.fast = FastPosts(emulator)  # type: ignore[attr-defined]
