"""An incremental, bounded parser of one HTTP/1.1 answer (what ``@connections`` sends back).

The fan-out client reads answers from servers it does not control (API Gateway, a proxy, a
misbehaving test server), so the parser is written to fail fast rather than to be lenient:

- every byte fed is examined a bounded number of times (searches resume where the previous one
  stopped), so CPU is linear in the bytes received, however they are split into packets;
- the head, each chunk-size line, the trailers and the body have hard size limits;
- numbers are strict: a status of three digits, a ``Content-Length`` of digits, a chunk size of
  hex digits (no sign, no ``0x``): a negative chunk size once sent the old parser backwards in
  its buffer forever;
- interim ``1xx`` answers (``100 Continue``, ``103 Early Hints``) are skipped, at most
  :data:`MAX_INTERIM` of them; ``101 Switching Protocols`` is an error (we never ask to upgrade).

Anything else raises :class:`MalformedAnswer` and the caller drops the connection.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass

#: Largest status line + headers (and, separately, chunked trailers) accepted.
MAX_HEAD = 16 * 1024
#: Largest body accepted: ``@connections`` answers are empty or a short JSON error.
MAX_BODY = 256 * 1024
#: Longest chunk-size line (hex size plus extensions).
MAX_CHUNK_LINE = 1024
#: Interim (1xx) answers skipped before the final one.
MAX_INTERIM = 8

_HEX = frozenset(b"0123456789abcdefABCDEF")
# Compiled patterns, not set(value) <= allowed: building a set per header line was most of the
# parser's CPU, and every fan-out request parses one answer.
_DIGITS = re.compile(rb"[0-9]{1,12}")
# A header line: its name (RFC 9110 token characters), the first colon (a token has none), the
# value. One C call per line checks and splits it (partition, then a fullmatch of the name,
# cost 5.0 instead of 3.1 us for a six-header answer).
_HEADER_LINE = re.compile(rb"([!#$%&'*+\-.^_`|~0-9A-Za-z]+):(.*)", re.DOTALL)


class MalformedAnswer(ValueError):
    """The bytes received are not an HTTP/1.1 answer we accept."""


@dataclass(frozen=True, slots=True)
class RawAnswer:
    """A parsed final answer. ``reusable`` is False when the connection must not carry another
    request (``Connection: close``, no length given, or bytes beyond the answer)."""

    status: int
    headers: dict[str, str]
    body: bytes
    reusable: bool


def _digits(value: bytes, what: str) -> int:
    if _DIGITS.fullmatch(value) is None:  # 1 to 12 ASCII digits
        raise MalformedAnswer(f"bad {what}: {value[:20]!r}")
    return int(value)


def _parse_head(head: bytes) -> tuple[int, dict[str, str]]:
    lines = head.split(b"\r\n")
    status_line = lines[0]
    if not (status_line.startswith((b"HTTP/1.1 ", b"HTTP/1.0 ")) and len(status_line) >= 12):
        raise MalformedAnswer(f"not an HTTP/1.x status line: {status_line[:40]!r}")
    code = status_line[9:12]
    if len(status_line) > 12 and status_line[12:13] != b" ":
        raise MalformedAnswer(f"bad status line: {status_line[:40]!r}")
    status = _digits(code, "status")
    if not 100 <= status <= 599:
        raise MalformedAnswer(f"status out of range: {status}")
    headers: dict[str, str] = {}
    header_line = _HEADER_LINE.fullmatch
    for line in lines[1:]:
        found = header_line(line)
        if found is None:
            raise MalformedAnswer(f"bad header line: {line[:40]!r}")
        name, value = found.groups()
        key = name.decode("ascii").lower()
        text = value.strip(b" \t").decode("latin-1")
        if key in headers and key == "content-length" and headers[key] != text:
            raise MalformedAnswer("conflicting Content-Length headers")
        headers[key] = text
    return status, headers


class AnswerParser:
    """Feed bytes as they arrive; :meth:`feed` returns the answer once complete, else ``None``."""

    def __init__(self) -> None:
        self._buf = bytearray()
        self._scan = 0  # where the next search for a terminator resumes
        self._interim = 0
        self._status = 0
        self._headers: dict[str, str] = {}
        self._state = "head"  # head | length | size | data | trailer
        self._remaining = 0  # body bytes (length) or chunk bytes + CRLF (data) still expected
        self._body = bytearray()
        self._reusable = True

    def feed(self, data: bytes) -> RawAnswer | None:
        """Consume ``data``; raise :class:`MalformedAnswer` as soon as it cannot be an answer."""
        if self._state == "head" and not self._buf and not self._interim:
            whole = self._whole_bodiless_answer(data)
            if whole is not None:
                return whole
        self._buf += data
        while True:
            progressed = _STEPS[self._state](self)
            if isinstance(progressed, RawAnswer):
                return progressed
            if not progressed:
                return None

    def _whole_bodiless_answer(self, data: bytes) -> RawAnswer | None:
        """The usual ``@connections`` answer in one read: a final head ending exactly where
        ``data`` ends, with ``Content-Length: 0`` or none. Parsed and checked as the steps
        below would, without buffering; ``None`` for anything else (the steps then take
        ``data`` from the start, raising what they raise)."""
        end = data.find(b"\r\n\r\n")
        if end < 0 or end + 4 != len(data) or end > MAX_HEAD:
            return None
        status, headers = _parse_head(data[:end])
        if status < 200 or "transfer-encoding" in headers:
            return None
        reusable = headers.get("connection", "").lower() != "close"
        length = headers.get("content-length")
        if length is None:
            reusable = False  # no length: the body would run to the close (see _step_head)
        elif _digits(length.encode("latin-1"), "Content-Length") != 0:
            return None
        self._status, self._headers, self._reusable = status, headers, reusable
        self._state = "finished"
        return RawAnswer(status, headers, b"", reusable)

    # Each step consumes from the front of the buffer and returns True when it did (the loop
    # runs again), False when it needs more bytes, or the final answer.

    def _find(self, terminator: bytes, limit: int, what: str) -> int:
        at = self._buf.find(terminator, self._scan)
        if at < 0:
            if len(self._buf) > limit:
                raise MalformedAnswer(f"{what} longer than {limit} bytes")
            self._scan = max(0, len(self._buf) - len(terminator) + 1)
        elif at > limit:
            raise MalformedAnswer(f"{what} longer than {limit} bytes")
        return at

    def _consume(self, n: int) -> bytes:
        taken = bytes(self._buf[:n])
        del self._buf[:n]
        self._scan = 0
        return taken

    def _step_head(self) -> bool | RawAnswer:
        end = self._find(b"\r\n\r\n", MAX_HEAD, "head")
        if end < 0:
            return False
        status, headers = _parse_head(self._consume(end + 4)[:end])
        if status < 200:
            if status == 101:
                raise MalformedAnswer("unexpected 101 Switching Protocols")
            self._interim += 1
            if self._interim > MAX_INTERIM:
                raise MalformedAnswer(f"more than {MAX_INTERIM} interim answers")
            return True
        self._status, self._headers = status, headers
        if headers.get("connection", "").lower() == "close":
            self._reusable = False
        encoding = headers.get("transfer-encoding")
        if encoding is not None:
            if encoding.lower() != "chunked":
                raise MalformedAnswer(f"unsupported Transfer-Encoding: {encoding[:40]!r}")
            self._state = "size"
            return True
        length = headers.get("content-length")
        if length is None:
            # No length: the body would run to the close; we read none and never reuse it.
            self._reusable = False
            self._remaining = 0
        else:
            self._remaining = _digits(length.encode("latin-1"), "Content-Length")
            if self._remaining > MAX_BODY:
                raise MalformedAnswer(f"body larger than {MAX_BODY} bytes")
        self._state = "length"
        return True

    def _step_length(self) -> bool | RawAnswer:
        if len(self._buf) < self._remaining:
            return False
        self._body += self._consume(self._remaining)
        return self._done()

    def _step_size(self) -> bool | RawAnswer:
        end = self._find(b"\r\n", MAX_CHUNK_LINE, "chunk-size line")
        if end < 0:
            return False
        line = self._consume(end + 2)[:end]
        size_text = line.split(b";", 1)[0].strip(b" \t")
        if not size_text or len(size_text) > 8 or not set(size_text) <= _HEX:
            raise MalformedAnswer(f"bad chunk size: {size_text[:20]!r}")
        size = int(size_text, 16)
        if size == 0:
            self._state = "trailer"
            return True
        if len(self._body) + size > MAX_BODY:
            raise MalformedAnswer(f"body larger than {MAX_BODY} bytes")
        self._remaining = size + 2
        self._state = "data"
        return True

    def _step_data(self) -> bool | RawAnswer:
        if len(self._buf) < self._remaining:
            return False
        data = self._consume(self._remaining)
        if data[-2:] != b"\r\n":
            raise MalformedAnswer("chunk not followed by CRLF")
        self._body += data[:-2]
        self._state = "size"
        return True

    def _step_trailer(self) -> bool | RawAnswer:
        if self._buf[:2] == b"\r\n":
            self._consume(2)
            return self._done()
        if len(self._buf) < 2:
            return False
        end = self._find(b"\r\n\r\n", MAX_HEAD, "trailer")
        if end < 0:
            return False
        self._consume(end + 4)
        return self._done()

    def _done(self) -> RawAnswer:
        if self._buf:  # bytes beyond the answer: the connection's state is unknown
            self._reusable = False
        self._state = "finished"
        return RawAnswer(self._status, self._headers, bytes(self._body), self._reusable)

    def _step_finished(self) -> bool:
        raise MalformedAnswer("bytes after a complete answer")


# The step of each state (a dict lookup per step instead of building the method's name).
_STEPS: dict[str, Callable[[AnswerParser], bool | RawAnswer]] = {
    "head": AnswerParser._step_head,
    "length": AnswerParser._step_length,
    "size": AnswerParser._step_size,
    "data": AnswerParser._step_data,
    "trailer": AnswerParser._step_trailer,
    "finished": AnswerParser._step_finished,
}
