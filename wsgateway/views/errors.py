"""How the WebSocket views refuse an event: one exception, one JSON answer.

Every refusal is ``{"error": "<code>", "message": "<sentence>"}`` with a 4xx status (503 when
the database is unavailable). For ``$connect`` any non-2xx answer makes API Gateway refuse the
socket; for messages API Gateway discards the answer unless the route is two-way, so the status
mostly serves logs and tests.
"""

from __future__ import annotations

from typing import Any

from django.http import HttpResponseBadRequest, HttpResponseForbidden, HttpResponseGone, HttpResponseNotFound

from wsgateway.exceptions import InvalidEventError
from wsgateway.strict_json import StrictJsonResponse

__all__ = ["EventRefused", "error_response"]


class _JsonBadRequest(StrictJsonResponse, HttpResponseBadRequest):
    pass


class _JsonForbidden(StrictJsonResponse, HttpResponseForbidden):
    pass


class _JsonNotFound(StrictJsonResponse, HttpResponseNotFound):
    pass


class _JsonGone(StrictJsonResponse, HttpResponseGone):
    pass


# Code that checks ``isinstance(response, HttpResponseForbidden)`` (as the reference package's
# users may) keeps working with the JSON answers.
_CLASS_FOR_STATUS: dict[int, type[StrictJsonResponse]] = {
    400: _JsonBadRequest,
    403: _JsonForbidden,
    404: _JsonNotFound,
    410: _JsonGone,
}


def error_response(status: int, code: str, message: str) -> StrictJsonResponse:
    """The JSON body of a refusal (an ``HttpResponseBadRequest``/``Forbidden``/… for those codes)."""
    response_class = _CLASS_FOR_STATUS.get(status, StrictJsonResponse)
    return response_class({"error": code, "message": message}, status=status)


class EventRefused(InvalidEventError):
    """Raised by the view's checks and by handlers to refuse an event with a clear 4xx answer.

    ``code`` is a stable machine-readable identifier (``invalid_secret``, ``rate_limited`` …);
    ``message`` is for humans. Handlers may raise it too, e.g.
    ``raise EventRefused(400, "invalid_text", "Say something.")``.
    """

    def __init__(self, status: int, code: str, message: str, **context: Any) -> None:
        super().__init__(message, status=status, **context)
        self.code = code

    def response(self) -> StrictJsonResponse:
        """The refusal as an HTTP answer."""
        return error_response(self.status, self.code, self.message)
