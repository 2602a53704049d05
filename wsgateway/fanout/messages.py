"""The message on the wire: ``{**data, "message_id": id}`` as compact JSON, size-checked."""

from __future__ import annotations

import uuid
from typing import Any

from wsgateway import strict_json
from wsgateway.conf import wsgateway_settings
from wsgateway.exceptions import PayloadTooLargeError


def new_message_id() -> str:
    """A fresh message id (uuid4 hex)."""
    return uuid.uuid4().hex


def encode_message(data: dict[str, Any], message_id: str | None = None) -> tuple[str, str]:
    """``(message_id, body)`` for ``data``.

    A string ``data["message_id"]`` is kept and used as the id (caller-chosen ids make retries of
    the caller idempotent), else ``message_id``, else a new uuid. Raises ``TypeError`` for data
    that is not a JSON object, and :class:`~wsgateway.exceptions.PayloadTooLargeError` when the
    body exceeds ``MAX_MESSAGE_BYTES`` (API Gateway would answer 413 to every recipient).
    """
    if not isinstance(data, dict):
        raise TypeError(f"A message must be a dict (a JSON object), not {type(data).__name__}.")
    existing = data.get("message_id")
    if isinstance(existing, str) and existing:
        chosen = existing
    elif message_id is not None:
        if not isinstance(message_id, str) or not message_id:
            raise TypeError("message_id must be a non-empty string.")
        chosen = message_id
    else:
        chosen = new_message_id()
    try:
        body = strict_json.dumps({**data, "message_id": chosen})
    except (TypeError, ValueError) as err:
        raise TypeError(f"The message is not JSON-serialisable: {err}") from err
    size = len(body.encode())
    limit = int(wsgateway_settings.MAX_MESSAGE_BYTES)
    if size > limit:
        raise PayloadTooLargeError(
            f"The message is {size} bytes; API Gateway accepts at most {limit} (MAX_MESSAGE_BYTES).",
            operation="PostToConnection",
            status_code=413,
        )
    return chosen, body
