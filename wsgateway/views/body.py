"""Reading a message event's body: a JSON object of at most ``MAX_MESSAGE_BYTES``."""

from __future__ import annotations

import json
from typing import Any

from django.core.exceptions import RequestDataTooBig
from django.http import HttpRequest

from wsgateway.views.errors import EventRefused

__all__ = ["parse_message_body"]


def _reject_constant(name: str) -> Any:
    # NaN and Infinity are not JSON; Python's parser accepts them unless told otherwise.
    raise ValueError(f"{name} is not valid JSON")


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
        data = json.loads(raw.decode("utf-8"), parse_constant=_reject_constant)
    except (UnicodeDecodeError, ValueError, RecursionError):
        # RecursionError: deeply nested arrays exhaust the parser's stack; still just bad input.
        raise EventRefused(400, "invalid_json", "The message is not valid UTF-8 JSON.") from None
    if not isinstance(data, dict):
        raise EventRefused(400, "not_an_object", "The message must be a JSON object.")
    return data


def _too_large(max_bytes: int) -> EventRefused:
    return EventRefused(413, "payload_too_large", f"The message exceeds {max_bytes} bytes.")
