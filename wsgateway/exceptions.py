"""wsgateway's exceptions.

Every error carries the context needed to act on it (API id, connection id, operation, AWS error
code, HTTP status).  AWS errors are created only by :mod:`wsgateway.aws.errors`, which maps
botocore's errors (and raw HTTP answers of the fast management client) onto these classes.
Configuration errors are Django's ``ImproperlyConfigured``.

Where the reference package (django-aws-api-gateway-websockets) raised a built-in exception,
ours subclasses it too, so ``except ValueError`` / ``except RuntimeError`` written for the
reference still catches ours.
"""

from __future__ import annotations

from typing import Any

from django.core.exceptions import ImproperlyConfigured


class WsGatewayError(Exception):
    """Base class of wsgateway's errors; keyword context is kept on the instance."""

    def __init__(
        self,
        message: str = "",
        *,
        api_id: str | None = None,
        connection_id: str | None = None,
        operation: str | None = None,
        aws_code: str | None = None,
        status_code: int | None = None,
    ) -> None:
        super().__init__(message)
        self.message = message
        self.api_id = api_id
        self.connection_id = connection_id
        self.operation = operation
        self.aws_code = aws_code
        self.status_code = status_code

    @property
    def context(self) -> dict[str, Any]:
        """The non-empty context fields, for logs and task results."""
        fields = {
            "api_id": self.api_id,
            "connection_id": self.connection_id,
            "operation": self.operation,
            "aws_code": self.aws_code,
            "status_code": self.status_code,
        }
        return {k: v for k, v in fields.items() if v is not None}

    def __str__(self) -> str:
        details = ", ".join(f"{k}={v}" for k, v in self.context.items())
        return f"{self.message} ({details})" if details else self.message


class AwsError(WsGatewayError):
    """An AWS call failed. ``retryable`` says whether trying again later may succeed."""

    retryable = False


class GoneError(AwsError):
    """410 GoneException: the connection is closed, or its ``$connect`` is still in flight."""


class ThrottledError(AwsError):
    """429 LimitExceededException / TooManyRequestsException: slow down and retry."""

    retryable = True


class PayloadTooLargeError(AwsError, ValueError):
    """413 PayloadTooLargeException: the message exceeds 128 KiB.

    Also raised before anything is sent, when a message is too large; a ``ValueError`` as the
    reference's size check raised.
    """


class ForbiddenError(AwsError):
    """403: wrong endpoint (stage vs. mapping key) or missing ``execute-api:ManageConnections``."""


class NotFoundError(AwsError):
    """404 NotFoundException from the control plane."""


class ConflictError(AwsError):
    """409 ConflictException from the control plane (e.g. the resource already exists)."""


class BadRequestError(AwsError):
    """400 BadRequestException (or another 4xx without a more specific class)."""


class ServerError(AwsError):
    """5xx from AWS: transient, retry with backoff."""

    retryable = True


class AwsConnectionError(AwsError):
    """The request did not get an answer: connection refused, reset or timed out."""

    retryable = True


class ProvisioningError(WsGatewayError):
    """A provisioning step cannot proceed (precondition missing, resource mismatch, lock held)."""


class ApiGatewaySyncError(ProvisioningError):
    """A change to a deployed API Gateway cannot be pushed to (or read from) AWS.

    The reference package's name; raised when such a push cannot even be queued (e.g. the gateway
    has no target endpoint, or no gateway secret is configured).
    """


class RegionNotConfiguredError(ImproperlyConfigured, RuntimeError):
    """Neither ``AWS_GATEWAY_REGION_NAME`` nor ``AWS_REGION_NAME`` is set.

    An ``ImproperlyConfigured`` (it is a settings problem) and a ``RuntimeError`` (what the
    reference raised).
    """


class InvalidEventError(WsGatewayError):
    """An event POSTed by API Gateway (or a forger) is malformed or not allowed."""

    def __init__(self, message: str, *, status: int = 400, **context: Any) -> None:
        super().__init__(message, **context)
        self.status = status
