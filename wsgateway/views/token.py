"""``WebSocketTokenView``: the page asks for a one-time connect token."""

from __future__ import annotations

from typing import Any

from django.http import HttpRequest, HttpResponse, JsonResponse
from django.utils.decorators import method_decorator
from django.views import View
from django.views.decorators.cache import never_cache
from django.views.decorators.csrf import csrf_protect

from wsgateway.conf import wsgateway_settings
from wsgateway.models import WebSocketToken
from wsgateway.views.errors import error_response

__all__ = ["WebSocketTokenView"]


@method_decorator([csrf_protect, never_cache], name="dispatch")
class WebSocketTokenView(View):
    """``POST`` (CSRF-protected, logged-in users only) → ``{"token": …, "expires_in": seconds}``.

    The token is bound to the caller's Django session and is good for one ``$connect`` within
    ``WSGATEWAY["TOKEN_MAX_AGE_SECONDS"]``; the client puts it in the ``TOKEN_QUERY_PARAM`` of the
    socket URL. Anonymous callers get a 401 JSON answer (not a login redirect: the caller is a
    script), callers over ``TOKEN_RATE_LIMIT_PER_MINUTE`` a 429.
    """

    http_method_names = ["post"]

    def post(self, request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponse:
        """Issue a token."""
        user = request.user
        if not user.is_authenticated:
            return error_response(401, "authentication_required", "Log in to open a socket.")
        if not WebSocketToken.check_rate_limit(user, wsgateway_settings.TOKEN_RATE_LIMIT_PER_MINUTE):
            return error_response(429, "rate_limited", "Too many tokens requested; try again in a minute.")
        session = request.session
        if not session.session_key:
            # Logged-in users normally have one; a session-less auth backend gets one now so the
            # token can be bound to the cookie the socket handshake will carry.
            session.save()
        session_key = session.session_key
        assert session_key is not None
        token = WebSocketToken.generate_token(user, session_key)
        return JsonResponse({"token": token, "expires_in": wsgateway_settings.TOKEN_MAX_AGE_SECONDS})

    def http_method_not_allowed(self, request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponse:
        """405 as JSON."""
        response = error_response(405, "method_not_allowed", "Request a token with POST.")
        response["Allow"] = "POST"
        return response
