"""``WebSocketView``: the endpoint API Gateway POSTs every socket event to (design §4, §9).

The view records and enqueues; it never calls AWS. See :mod:`wsgateway.views` for mounting and
the settings it reads.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any, ClassVar, cast

from django.conf import settings
from django.contrib import auth
from django.contrib.auth.models import AnonymousUser
from django.core.cache import cache
from django.db import DatabaseError, IntegrityError, transaction
from django.db.models import F
from django.http import HttpRequest, HttpResponse, HttpResponseBase, JsonResponse
from django.utils import timezone
from django.utils.crypto import constant_time_compare
from django.utils.decorators import method_decorator
from django.views import View
from django.views.decorators.csrf import csrf_exempt

from wsgateway import ratelimit, security, signals
from wsgateway.conf import wsgateway_settings
from wsgateway.gateway_cache import get_gateway
from wsgateway.hashing import session_key_hash
from wsgateway.models import (
    ApiGateway,
    ChannelPermission,
    ConnectionRateLimit,
    WebSocketSession,
    WebSocketToken,
)
from wsgateway.views.body import parse_message_body
from wsgateway.views.errors import EventRefused, error_response
from wsgateway.views.permissions import HandlerPermissions, declared_on

if TYPE_CHECKING:
    from django.contrib.auth.base_user import AbstractBaseUser

__all__ = ["WebSocketView"]

log = logging.getLogger(__name__)

CONNECT, DISCONNECT, DEFAULT = "connect", "disconnect", "default"
_CLOSE_DEDUP_SECONDS = 5

# Names a message can never select, whatever a subclass lists: the view's own machinery.
_RESERVED_HANDLERS = frozenset(
    {
        "as_view",
        "check_connect",
        "connect",
        "connected",
        "default",
        "disconnect",
        "dispatch",
        "http_method_not_allowed",
        "options",
        "post",
        "reply",
        "send_to_channel",
        "setup",
    }
)


@method_decorator(csrf_exempt, name="dispatch")
class WebSocketView(View):
    """Receives ``$connect``, ``$disconnect`` and message events from API Gateway.

    Mount it with a ``route`` slug (``path("ws/<slug:route>", WebSocketView.as_view())``): the
    integrations POST to ``…/ws/connect``, ``…/ws/disconnect``, ``…/ws/default`` and, for each
    additional route listed in :attr:`custom_routes`, ``…/ws/<route>``.

    Messages name their handler in the body: ``{"handler": "change_channel", …}``, falling back
    to ``"action"`` (the key API Gateway's default route selection uses), then, on a custom
    route, to the route's name. Only names in :attr:`allowed_handlers` run, never one starting
    with ``_``. A handler is a method ``def name(self, body: dict) -> dict | HttpResponse | None``;
    inside it ``self.request.user``, ``self.session``, ``self.gateway`` and
    ``self.connection_id`` describe the sender, and :meth:`reply` / :meth:`send_to_channel`
    enqueue messages. Raise :class:`~wsgateway.views.errors.EventRefused` for a clear 4xx.

    Extension points: :meth:`check_connect` (project checks on ``$connect``), :meth:`connected`
    (e.g. a welcome message), :meth:`default` (a message naming no handler), and the
    ``websocket_connected`` / ``websocket_message_received`` / ``websocket_disconnected``
    signals of :mod:`wsgateway.signals` (sender: the view class).
    """

    http_method_names = ["post"]

    #: Handler methods a message may select by name. ``heartbeat`` is what the shipped JS client
    #: sends to keep API Gateway's 10-minute idle timer from closing a quiet socket.
    allowed_handlers: ClassVar[Sequence[str]] = ("change_channel", "heartbeat")
    #: Handler name -> ``{"any_of": [perm, …], "all_of": [perm, …]}``.
    handler_permissions: ClassVar[Mapping[str, Mapping[str, Sequence[str]]]] = {}
    #: Route slugs besides connect/disconnect/default this view accepts (additional routes).
    custom_routes: ClassVar[Sequence[str]] = ()

    # Set while an event is handled.
    request: HttpRequest
    route: str
    gateway: ApiGateway
    connection_id: str
    session: WebSocketSession | None = None
    body: dict[str, Any]
    client_ip: str | None = None
    connect_user: AbstractBaseUser | None = None

    # ------------------------------------------------------------------ entry

    def post(self, request: HttpRequest, route: str = DEFAULT, **kwargs: Any) -> HttpResponseBase:
        """Dispatch one event; every refusal becomes its JSON 4xx answer."""
        self.route = route
        self.body = {}
        try:
            self._check_transport(request)
            if route not in (CONNECT, DISCONNECT, DEFAULT) and route not in self.custom_routes:
                raise EventRefused(404, "unknown_route", f"This endpoint has no route {route[:64]!r}.")
            self.gateway = self._gateway(request)
            self.connection_id = self._connection_id(request)
            if route == CONNECT:
                return self.handle_connect(request)
            if route == DISCONNECT:
                return self.handle_disconnect(request)
            return self.handle_message(request)
        except EventRefused as refusal:
            return refusal.response()
        except DatabaseError:
            # The database is down or overloaded: a clean 503 (API Gateway refuses the socket or
            # drops the message); transactions have rolled back, nothing is half-written.
            log.exception("wsgateway: %s event failed on the database", route)
            return error_response(503, "database_unavailable", "Try again shortly.")

    def http_method_not_allowed(self, request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponse:
        """405 as JSON: API Gateway integrations only ever POST."""
        response = error_response(405, "method_not_allowed", "Events are POSTed.")
        response["Allow"] = "POST"
        return response

    # ------------------------------------------------------------------ checks on every event

    def _check_transport(self, request: HttpRequest) -> None:
        if not security.host_allowed(request):
            raise EventRefused(400, "disallowed_host", "The Host header is not an allowed host.")
        if not security.secret_is_valid(request):
            # A forged event: the same answer whether the header is missing or wrong.
            raise EventRefused(403, "invalid_secret", "The gateway secret is missing or wrong.")

    def _gateway(self, request: HttpRequest) -> ApiGateway:
        api_id = request.headers.get("X-Amzn-Apigateway-Api-Id", "")
        if not api_id:
            raise EventRefused(400, "missing_api_id", "The X-Amzn-Apigateway-Api-Id header is missing.")
        gateway = get_gateway(api_id)
        if gateway is None:
            raise EventRefused(404, "unknown_gateway", "No API Gateway is registered with this API id.")
        return gateway

    def _connection_id(self, request: HttpRequest) -> str:
        connection_id = request.headers.get("Connectionid", "")
        if not connection_id:
            raise EventRefused(
                400,
                "missing_connection_id",
                "The connectionId header is missing (map context.connectionId on the integration).",
            )
        if not security.connection_id_valid(connection_id):
            raise EventRefused(400, "invalid_connection_id", "The connection id is malformed.")
        return connection_id

    # ------------------------------------------------------------------ $connect

    def handle_connect(self, request: HttpRequest) -> HttpResponse:
        """Run the ``$connect`` checks, then write the session row and a successful attempt.

        A refused connection writes one failed ``ConnectionRateLimit`` row (when the client's IP
        is known) and nothing else: the token is not consumed, no session row exists.
        """
        try:
            self.client_ip = security.client_ip(request)
        except security.ClientIpError as err:
            raise EventRefused(400, "invalid_forwarded_for", str(err)) from None
        try:
            if not security.origin_allowed(request.headers.get("Origin")):
                raise EventRefused(403, "origin_not_allowed", "This Origin may not open a socket.")
            channel_name = self._requested_channel(request)
            try:
                with transaction.atomic():
                    session = self._open_session(request, channel_name)
            except IntegrityError:
                raise EventRefused(
                    409, "duplicate_connection", "A session with this connection id already exists."
                ) from None
        except EventRefused:
            self._record_failed_attempt()
            raise
        except DatabaseError:
            log.exception("wsgateway: $connect failed on the database (connection %s)", self.connection_id)
            self._record_failed_attempt()
            return error_response(503, "database_unavailable", "Try again shortly.")
        self.session = session
        signals.websocket_connected.send(sender=type(self), request=request, session=session)
        return JsonResponse({"status": "connected"})

    def _requested_channel(self, request: HttpRequest) -> str:
        requested = request.GET.get(wsgateway_settings.CHANNEL_QUERY_PARAM)
        channel_name = self.gateway.default_channel_name if requested is None else requested
        if not security.channel_name_valid(channel_name):
            raise EventRefused(400, "invalid_channel", "The channel name is malformed or too long.")
        return channel_name

    def _open_session(self, request: HttpRequest, channel_name: str) -> WebSocketSession:
        # Inside one transaction: any refusal rolls back the token consumption with it.
        user, auth_refusal = self._authenticate_connect(request)
        self.connect_user = user
        # Atomic count-and-check (wsgateway.ratelimit); a refusal rolls it back and
        # _record_failed_attempt counts the attempt again, outside the transaction.
        allowed, _count = ratelimit.count_attempt(self.client_ip or "", user)
        if not allowed:
            raise EventRefused(429, "rate_limited", "Too many connection attempts; try again later.")
        if auth_refusal is not None:
            raise auth_refusal
        request.user = user if user is not None else AnonymousUser()  # type: ignore[assignment]
        if not ChannelPermission.user_may_join(channel_name, user, self.gateway):
            raise EventRefused(403, "channel_forbidden", "You may not join this channel.")
        self.check_connect(request, user, channel_name)
        ConnectionRateLimit.record_attempt(self.client_ip or "", user, successful=True)
        now = timezone.now()
        session_key = request.COOKIES.get(settings.SESSION_COOKIE_NAME, "")
        session = WebSocketSession.objects.create(
            connection_id=self.connection_id,
            channel_name=channel_name,
            user=cast(Any, user),
            api_gateway=self.gateway,
            session_key_hash=session_key_hash(session_key) if session_key else "",
            auth_hash=user.get_session_auth_hash() if user is not None else "",
            source_ip=self.client_ip,
            connected_at=now,
            last_seen_at=now,
        )
        self.session = session
        self.connected(session)
        return session

    def _authenticate_connect(
        self, request: HttpRequest
    ) -> tuple[AbstractBaseUser | None, EventRefused | None]:
        """The connecting user, and the refusal to raise if authentication failed.

        The refusal is returned rather than raised so the rate limit (which counts per user when
        one is known) decides first: a flood of bad tokens gets 429, not endless 401s.
        """
        session_key = request.COOKIES.get(settings.SESSION_COOKIE_NAME, "")
        if not wsgateway_settings.REQUIRE_TOKEN:
            return self._user_from_session(request, session_key), None
        token = request.GET.get(wsgateway_settings.TOKEN_QUERY_PARAM, "")
        if not token:
            return None, EventRefused(401, "missing_token", "A connect token is required.")
        # The token row is bound to the session key's hash and names its user: two queries,
        # and the Django session itself is never loaded.
        valid, user = WebSocketToken.validate_and_consume(
            token, session_key, max_age_seconds=wsgateway_settings.TOKEN_MAX_AGE_SECONDS
        )
        if not valid or user is None:
            return None, EventRefused(
                401, "invalid_token", "The token is unknown, used, expired or not issued to this session."
            )
        if not user.is_active:
            return user, EventRefused(403, "user_inactive", "This account is disabled.")
        return user, None

    def _user_from_session(self, request: HttpRequest, session_key: str) -> AbstractBaseUser | None:
        # REQUIRE_TOKEN=False: load the user from the Django session: the session row and the
        # user row, in place of the token's read and consume.
        if not session_key or not hasattr(request, "session"):
            return None
        user = auth.get_user(request)
        return user if user.is_authenticated and user.is_active else None

    def _record_failed_attempt(self) -> None:
        if self.client_ip is None:
            return
        try:
            ratelimit.count_attempt(self.client_ip, self.connect_user)
            ConnectionRateLimit.record_attempt(self.client_ip, self.connect_user, successful=False)
        except DatabaseError:
            log.exception("wsgateway: could not record a refused $connect attempt")

    # ------------------------------------------------------------------ $disconnect

    def handle_disconnect(self, request: HttpRequest) -> HttpResponse:
        """Mark the session disconnected. Idempotent; an unknown connection id is fine."""
        session = (
            WebSocketSession.objects.select_related("user")
            .filter(connection_id=self.connection_id, api_gateway=self.gateway)
            .first()
        )
        if session is None:
            return JsonResponse({"status": "unknown"})
        self.session = session
        if session.connected and self._mark_disconnected(session):
            request.user = session.user if session.user is not None else AnonymousUser()
            signals.websocket_disconnected.send(sender=type(self), request=request, session=session)
        return JsonResponse({"status": "disconnected"})

    def _mark_disconnected(self, session: WebSocketSession) -> bool:
        now = timezone.now()
        # Conditional: of a $disconnect and a concurrent kick, only one performs the transition.
        changed = WebSocketSession.objects.filter(pk=session.pk, connected=True).update(
            connected=False, disconnected_at=now, updated_on=now
        )
        session.connected, session.disconnected_at, session.updated_on = False, now, now
        return changed == 1

    # ------------------------------------------------------------------ messages

    def handle_message(self, request: HttpRequest) -> HttpResponseBase:
        """Check the sender's session and user, then run the handler the message names.

        Two queries on a live session: the session joined with its user, and the update of its
        counters. The gateway comes from the cache.
        """
        self.body = parse_message_body(request, wsgateway_settings.MAX_MESSAGE_BYTES)
        session = (
            WebSocketSession.objects.select_related("user").filter(connection_id=self.connection_id).first()
        )
        if session is None or session.api_gateway_id != self.gateway.pk:
            raise EventRefused(404, "unknown_connection", "No session has this connection id.")
        self.session = session
        if not session.connected:
            # API Gateway still holds a socket we consider closed (e.g. swept as idle): close it
            # there too, so the client notices and reconnects with a fresh session.
            self._close_at_gateway()
            raise EventRefused(410, "connection_closed", "This connection is closed.")
        user = session.user
        if user is not None:
            if not user.is_active:
                self._kick(request)
                raise EventRefused(403, "user_inactive", "This account is disabled.")
            if not self._auth_hash_current(session, user):
                self._kick(request)
                raise EventRefused(403, "credentials_changed", "The password changed; reconnect.")
        now = timezone.now()
        updated = WebSocketSession.objects.filter(pk=session.pk, connected=True).update(
            request_count=F("request_count") + 1, last_seen_at=now
        )
        if updated != 1:
            raise EventRefused(410, "connection_closed", "This connection is closed.")
        session.last_seen_at = now
        request.user = user if user is not None else AnonymousUser()
        name = self._handler_name()
        if name is None:
            result = self.default(self.body)
        else:
            method = self._resolve_handler(name, request)
            signals.websocket_message_received.send(
                sender=type(self), request=request, session=session, handler=name, body=self.body
            )
            result = method(self.body)
        return self._as_response(result)

    @staticmethod
    def _auth_hash_current(session: WebSocketSession, user: AbstractBaseUser) -> bool:
        if not session.auth_hash:
            return True
        if constant_time_compare(session.auth_hash, user.get_session_auth_hash()):
            return True
        # A rotated SECRET_KEY (old one in SECRET_KEY_FALLBACKS) must not log everyone out.
        fallbacks = getattr(user, "get_session_auth_fallback_hash", None)
        return fallbacks is not None and any(constant_time_compare(session.auth_hash, h) for h in fallbacks())

    def _kick(self, request: HttpRequest) -> None:
        # Marked at once, so no fan-out reaches this user any more; then closed at API Gateway.
        session = self.session
        assert session is not None
        if self._mark_disconnected(session):
            request.user = AnonymousUser()
            signals.websocket_disconnected.send(sender=type(self), request=request, session=session)
        self._close_at_gateway()

    def _close_at_gateway(self) -> None:
        from wsgateway import sending  # sending imports models and tasks; keep the import lazy

        # A client that keeps sending on a refused socket would otherwise queue one DELETE per
        # message; one per connection every few seconds is enough.
        if cache.add(f"wsgateway:close:{self.connection_id}", 1, _CLOSE_DEDUP_SECONDS):
            sending.disconnect_connection(self.connection_id)

    def _handler_name(self) -> str | None:
        for key in ("handler", "action"):
            value = self.body.get(key)
            if value is None or value == "":
                continue
            if not isinstance(value, str):
                raise EventRefused(400, "invalid_handler", f"{key!r} must be a string.")
            return value
        return self.route if self.route != DEFAULT else None

    def _resolve_handler(self, name: str, request: HttpRequest) -> Any:
        if (
            name.startswith("_")
            or name in _RESERVED_HANDLERS
            or name.startswith("handle_")
            or name not in self.allowed_handlers
        ):
            raise EventRefused(400, "unknown_handler", f"There is no handler {name[:64]!r}.")
        method = getattr(self, name, None)
        if not callable(method):
            raise EventRefused(400, "unknown_handler", f"There is no handler {name[:64]!r}.")
        declared = [declared_on(method)]
        mapping = self.handler_permissions.get(name)
        if mapping is not None:
            declared.append(HandlerPermissions.from_mapping(mapping))
        if not all(p.allows(request.user) for p in declared if p is not None):
            raise EventRefused(403, "permission_denied", f"You may not run {name!r}.")
        return method

    @staticmethod
    def _as_response(result: Any) -> HttpResponseBase:
        if isinstance(result, HttpResponseBase):
            return result
        if result is None:
            return JsonResponse({"status": "ok"})
        return JsonResponse(result, safe=not isinstance(result, list))

    # ------------------------------------------------------------------ extension points

    def check_connect(self, request: HttpRequest, user: AbstractBaseUser | None, channel_name: str) -> None:
        """Project checks on ``$connect``, run after the built-in ones, inside the transaction.

        Raise :class:`~wsgateway.views.errors.EventRefused` to refuse (nothing is written).
        ``self.gateway``, ``self.connection_id`` and ``self.client_ip`` are available.
        """

    def connected(self, session: WebSocketSession) -> None:
        """Called with the new session row inside the ``$connect`` transaction.

        Override to welcome the client: ``self.reply({...})`` enqueues the send after the
        transaction commits. API Gateway answers 410 to sends until ``$connect`` has returned;
        the fan-out task retries such a young connection within its grace period.
        """

    def default(self, body: dict[str, Any]) -> Any:
        """A message naming no handler (no ``handler``/``action`` on the default route)."""
        raise EventRefused(400, "missing_handler", "Name a handler in the message ('handler' or 'action').")

    # ------------------------------------------------------------------ built-in handlers

    def change_channel(self, body: dict[str, Any]) -> dict[str, Any]:
        """Move this connection to ``body["channel"]`` if the user may join it."""
        channel_name = body.get("channel")
        if not isinstance(channel_name, str) or not security.channel_name_valid(channel_name):
            raise EventRefused(400, "invalid_channel", "'channel' must be a valid channel name.")
        if not ChannelPermission.user_may_join(channel_name, self.request.user, self.gateway):
            raise EventRefused(403, "channel_forbidden", "You may not join this channel.")
        session = self.session
        assert session is not None
        WebSocketSession.objects.filter(pk=session.pk).update(channel_name=channel_name)
        session.channel_name = channel_name
        return {"channel": channel_name}

    def heartbeat(self, body: dict[str, Any]) -> dict[str, Any]:
        """Keep-alive from the client: nothing to do, the message itself reset the idle timer."""
        return {"status": "ok"}

    # ------------------------------------------------------------------ sending helpers

    def reply(self, data: dict[str, Any], *, message_id: str | None = None) -> Any:
        """Enqueue ``data`` to this connection (sent after the transaction commits)."""
        from wsgateway import sending

        return sending.send_to_connection(self.connection_id, data, message_id=message_id)

    def send_to_channel(
        self,
        data: dict[str, Any],
        channel_name: str | None = None,
        *,
        include_self: bool = False,
        message_id: str | None = None,
    ) -> Any:
        """Enqueue ``data`` to a channel on this gateway (default: the sender's), without the sender."""
        from wsgateway import sending

        session = self.session
        channel = channel_name if channel_name is not None else (session.channel_name if session else "")
        return sending.send_to_channel(
            channel,
            data,
            exclude=None if include_self else self.connection_id,
            api_gateway=self.gateway,
            message_id=message_id,
        )
