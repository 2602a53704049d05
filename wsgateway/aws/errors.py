"""Translation of AWS errors into :mod:`wsgateway.exceptions`, in exactly one place."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from botocore.exceptions import (
    BotoCoreError,
    ClientError,
    ConnectTimeoutError,
    EndpointConnectionError,
    HTTPClientError,
    ReadTimeoutError,
)
from botocore.exceptions import (
    ConnectionError as BotoConnectionError,
)

from wsgateway.exceptions import (
    AwsConnectionError,
    AwsError,
    BadRequestError,
    ConflictError,
    ForbiddenError,
    GoneError,
    NotFoundError,
    PayloadTooLargeError,
    ServerError,
    ThrottledError,
)

_BY_CODE: dict[str, type[AwsError]] = {
    "GoneException": GoneError,
    "LimitExceededException": ThrottledError,
    "TooManyRequestsException": ThrottledError,
    "ThrottlingException": ThrottledError,
    # Route 53 throttles with HTTP 400 and these codes.
    "Throttling": ThrottledError,
    "PriorRequestNotComplete": ThrottledError,
    "PayloadTooLargeException": PayloadTooLargeError,
    "ForbiddenException": ForbiddenError,
    "AccessDeniedException": ForbiddenError,
    "InvalidSignatureException": ForbiddenError,
    "NotFoundException": NotFoundError,
    "ConflictException": ConflictError,
    "BadRequestException": BadRequestError,
}

_BY_STATUS: dict[int, type[AwsError]] = {
    400: BadRequestError,
    403: ForbiddenError,
    404: NotFoundError,
    409: ConflictError,
    410: GoneError,
    413: PayloadTooLargeError,
    429: ThrottledError,
}


def error_from_status(status: int, code: str | None = None, message: str = "", **context: Any) -> AwsError:
    """The exception for an HTTP answer of ``status`` with ``x-amzn-ErrorType`` ``code``.

    Used by the fast management client, which speaks HTTP without botocore.
    """
    # x-amzn-ErrorType may carry a suffix after ':' (e.g. "GoneException:http://...").
    name = code.split(":", 1)[0] if code else None
    cls = _BY_CODE.get(name) if name else None
    if cls is None:
        cls = ServerError if status >= 500 else _BY_STATUS.get(status, BadRequestError)
    return cls(message or (name or f"HTTP {status}"), aws_code=name, status_code=status, **context)


def translate_error(err: Exception, **context: Any) -> AwsError:
    """Map a botocore exception onto wsgateway's classes (context: api_id, connection_id, operation)."""
    if isinstance(err, ClientError):
        error = err.response.get("Error", {})
        status = int(err.response.get("ResponseMetadata", {}).get("HTTPStatusCode") or 0)
        context.setdefault("operation", getattr(err, "operation_name", None))
        return error_from_status(status, error.get("Code"), error.get("Message") or str(err), **context)
    # HTTPClientError covers a connection closed before any answer (ConnectionClosedError):
    # nothing was received, so like a refused or timed-out connection it is worth retrying.
    if isinstance(
        err,
        EndpointConnectionError
        | ConnectTimeoutError
        | ReadTimeoutError
        | BotoConnectionError
        | HTTPClientError,
    ):
        return AwsConnectionError(str(err), **context)
    if isinstance(err, BotoCoreError):
        return AwsError(str(err), **context)
    raise TypeError(f"not an AWS error: {err!r}")


@contextmanager
def aws_call(operation: str, **context: Any) -> Iterator[None]:
    """Run a boto3 call, re-raising its errors as wsgateway exceptions (``raise ... from err``)."""
    try:
        yield
    except (ClientError, BotoCoreError) as err:
        raise translate_error(err, operation=operation, **context) from err
