"""AWS-shaped error responses.

botocore's rest-json parser raises the typed exception (``client.exceptions.GoneException``
...) only when the response carries ``x-amzn-ErrorType: <Name>``; the JSON body's ``message``
becomes ``err.response["Error"]["Message"]``.
"""

from __future__ import annotations

import json
from typing import Any

from aiohttp import web
from aiohttp.typedefs import Handler

JSON = "application/json"


class AwsError(Exception):
    """An error that is answered to the caller exactly the way AWS answers it."""

    def __init__(self, status: int, error_type: str, message: str, **extra: Any) -> None:
        super().__init__(message)
        self.status = status
        self.error_type = error_type
        self.message = message
        self.extra = extra

    def response(self) -> web.Response:
        """Build the HTTP response for this error."""
        return error_response(self.status, self.error_type, self.message, **self.extra)


def error_response(status: int, error_type: str, message: str | None, **extra: Any) -> web.Response:
    """An AWS error response: status, ``x-amzn-ErrorType`` header and ``{"message": ...}`` body."""
    body: dict[str, Any] = {"message": message}
    body.update(extra)
    return web.Response(
        status=status,
        body=json.dumps(body).encode(),
        content_type=JSON,
        headers={"x-amzn-ErrorType": error_type},
    )


def not_found(message: str, resource_type: str | None = None) -> AwsError:
    """404 NotFoundException."""
    extra = {"resourceType": resource_type} if resource_type else {}
    return AwsError(404, "NotFoundException", message, **extra)


def conflict(message: str) -> AwsError:
    """409 ConflictException."""
    return AwsError(409, "ConflictException", message)


def bad_request(message: str) -> AwsError:
    """400 BadRequestException."""
    return AwsError(400, "BadRequestException", message)


def too_many_requests(message: str = "Too Many Requests", limit_type: str | None = None) -> AwsError:
    """429 TooManyRequestsException (control plane)."""
    extra = {"limitType": limit_type} if limit_type else {}
    return AwsError(429, "TooManyRequestsException", message, **extra)


@web.middleware
async def unreadable_body_middleware(request: web.Request, handler: Handler) -> web.StreamResponse:
    """A body aiohttp cannot decode (a ``Content-Encoding: gzip`` body that is not gzip) is the
    client's error: 400 BadRequestException, not the 500 aiohttp answers for any exception
    raised by ``request.read()``."""
    try:
        return await handler(request)
    except web.RequestPayloadError as err:
        return error_response(400, "BadRequestException", f"The request body could not be read: {err}")
