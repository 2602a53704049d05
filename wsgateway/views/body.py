"""Reading a message event's body: a JSON object of at most ``MAX_MESSAGE_BYTES``."""

from __future__ import annotations

from typing import Any

from django.core.exceptions import RequestDataTooBig
from django.http import HttpRequest

from wsgateway import strict_json
from wsgateway.views.errors import EventRefused

__all__ = ["parse_message_body"]


def parse_message_body(request: HttpRequest, max_bytes: int) -> dict[str, Any]:
    """The body as a dict, or :class:`EventRefused` (413 too large, 400 anything else).

    The declared ``Content-Length`` is checked before the body is read, so an oversized body is
    refused without buffering it.
    """
    declared = request.META.get("CONTENT_LENGTH") or "0"
    try:
        declared_length = int(declared)
    except ValueError:
        raise EventRefused(400, "invalid_content_length", "Content-Length is not a number.") from None
    if declared_length > max_bytes:
        raise _too_large(max_bytes)
    try:
        raw = request.body
    except RequestDataTooBig:
        raise _too_large(max_bytes) from None
    if len(raw) > max_bytes:
        raise _too_large(max_bytes)
    if not raw.strip():
        raise EventRefused(400, "empty_body", "The message is empty; send a JSON object.")
    try:
        # Strict: NaN, Infinity and 1e999 (which Python reads as inf) are refused, so a handler
        # never sees a number it could not send back out as JSON.
        data = strict_json.loads(raw.decode("utf-8"))
    except (UnicodeDecodeError, ValueError, RecursionError):
        # RecursionError: deeply nested arrays exhaust the parser's stack; still just bad input.
        raise EventRefused(
            400,
            "invalid_json",
            "The message is not valid UTF-8 JSON (no NaN, Infinity, out-of-range numbers).",
        ) from None
    if not isinstance(data, dict):
        raise EventRefused(400, "not_an_object", "The message must be a JSON object.")
    return data


def _too_large(max_bytes: int) -> EventRefused:
    return EventRefused(413, "payload_too_large", f"The message exceeds {max_bytes} bytes.")
