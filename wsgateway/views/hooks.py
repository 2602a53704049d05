"""The overridable answers of the reference package's ``WebSocketView``.

The view refuses an event by raising :class:`~wsgateway.views.errors.EventRefused`; before the
refusal becomes an answer, it passes through the hook the reference package names for that kind
of refusal, so a subclass that overrides ``permission_denied`` (say) still decides what the
client gets. The default hooks answer with wsgateway's JSON body ``{"error", "message"}`` and
status code. The refusal being answered is ``self.refusal`` while a hook runs.
"""

from __future__ import annotations

import warnings
from typing import Any

from django.http import HttpRequest, HttpResponseBase

from wsgateway.views.errors import EventRefused, error_response

__all__ = ["HOOK_FOR_REFUSAL", "RefusalHooks"]

#: Refusal code -> the reference's hook that answers it. Codes not listed answer directly.
HOOK_FOR_REFUSAL: dict[str, str] = {
    "invalid_secret": "invalid_gateway_secret",
    "missing_api_id": "missing_headers",
    "missing_connection_id": "missing_headers",
    "invalid_user_agent": "invalid_useragent",
    "permission_denied": "permission_denied",
    "channel_forbidden": "permission_denied",
    "unknown_connection": "session_not_found",
    "connection_closed": "session_not_found",
    "missing_handler": "handler_selection_key_missing",
}


class RefusalHooks:
    """``invalid_gateway_secret``, ``missing_headers``, ``permission_denied``, ``invalid_useragent``,
    ``session_not_found``, ``handler_selection_key_missing`` and the deprecated
    ``route_selection_key_missing``: each ``(self, request, *args, **kwargs) -> HttpResponse``.

    A handler may also call them itself (``return self.permission_denied(request)``).
    """

    #: The refusal a hook is answering (``None`` when a handler calls a hook directly).
    refusal: EventRefused | None = None

    def refused(
        self, request: HttpRequest, refusal: EventRefused, *args: Any, **kwargs: Any
    ) -> HttpResponseBase:
        """The answer to ``refusal``: its hook's answer, or the refusal's own JSON answer."""
        hook_name = HOOK_FOR_REFUSAL.get(refusal.code)
        if hook_name is None:
            return refusal.response()
        self.refusal = refusal
        try:
            answer = getattr(self, hook_name)(request, *args, **kwargs)
        finally:
            self.refusal = None
        return answer if isinstance(answer, HttpResponseBase) else refusal.response()

    def _refusal_or(self, status: int, code: str, message: str) -> HttpResponseBase:
        refusal = self.refusal
        return refusal.response() if refusal is not None else error_response(status, code, message)

    def _return_bad_request(self, msg: str) -> HttpResponseBase:
        """A 400 answer with ``msg`` (the reference's helper, used by its subclasses' handlers)."""
        return error_response(400, "bad_request", msg)

    def invalid_gateway_secret(self, request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponseBase:
        """The event did not carry a valid gateway secret (403)."""
        return self._refusal_or(403, "invalid_secret", "The gateway secret is missing or wrong.")

    def missing_headers(self, request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponseBase:
        """A header API Gateway always sends is missing (400)."""
        return self._refusal_or(400, "missing_headers", "Invalid request headers.")

    def invalid_useragent(self, request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponseBase:
        """``$connect`` did not carry API Gateway's User-Agent (400; ``CHECK_CONNECT_USERAGENT``)."""
        return self._refusal_or(400, "invalid_user_agent", "Unexpected User-Agent.")

    def permission_denied(self, request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponseBase:
        """The user may not do this: run the handler, join the channel, connect (403)."""
        return self._refusal_or(403, "permission_denied", "Permission denied.")

    def session_not_found(self, request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponseBase:
        """The message's connection has no live session (404 unknown, 410 closed)."""
        return self._refusal_or(404, "unknown_connection", "No session has this connection id.")

    def handler_selection_key_missing(
        self, request: HttpRequest, *args: Any, **kwargs: Any
    ) -> HttpResponseBase:
        """The message names no handler (400)."""
        return self._refusal_or(
            400, "missing_handler", "Name a handler in the message ('handler' or 'action')."
        )

    def route_selection_key_missing(
        self, request: HttpRequest, *args: Any, **kwargs: Any
    ) -> HttpResponseBase:
        """Deprecated in the reference package: use :meth:`handler_selection_key_missing`."""
        warnings.warn(
            "route_selection_key_missing is deprecated; use handler_selection_key_missing.",
            DeprecationWarning,
            stacklevel=2,
        )
        return self.handler_selection_key_missing(request, *args, **kwargs)
