"""``WebSocketView``: the endpoint API Gateway POSTs every socket event to (docs/architecture.md §4, §9).

The view records and enqueues; it never calls AWS. See :mod:`wsgateway.views` for mounting and
the settings it reads.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Collection, Mapping, Sequence
from typing import TYPE_CHECKING, Any, ClassVar, cast

from django.conf import settings
from django.contrib import auth
from django.contrib.auth.models import AnonymousUser
from django.core.cache import cache
from django.db import DatabaseError, IntegrityError, transaction
from django.db.models import F
from django.http import HttpRequest, HttpResponse, HttpResponseBase
from django.utils import timezone
from django.utils.decorators import method_decorator
from django.views import View
from django.views.decorators.csrf import csrf_exempt

from wsgateway import presence, ratelimit, security, sending, signals, strict_json, subscriptions
from wsgateway.conf import wsgateway_settings
from wsgateway.exceptions import PayloadTooLargeError
from wsgateway.gateway_cache import get_gateway
from wsgateway.hashing import session_key_hash
from wsgateway.models import (
    ApiGateway,
    ChannelPermission,
    ConnectionRateLimit,
    WebSocketSession,
    WebSocketToken,
    auth_hash_matches,
)
from wsgateway.strict_json import StrictJsonResponse
from wsgateway.views import handlers as handler_table
from wsgateway.views import live_session
from wsgateway.views.body import parse_message_body
from wsgateway.views.errors import EventRefused, error_response
from wsgateway.views.hooks import RefusalHooks
from wsgateway.views.permissions import HandlerPermissions, ViewPermissionsMixin, declared_on
from wsgateway.views.recovery import RecoveryHandlers

if TYPE_CHECKING:
    from django.contrib.auth.base_user import AbstractBaseUser

__all__ = ["WebSocketView"]

log = logging.getLogger(__name__)

CONNECT, DISCONNECT, DEFAULT = "connect", "disconnect", "default"
_CLOSE_DEDUP_SECONDS = 5
#: The built-in channel messages and the methods answering them (docs/architecture.md §12).
SUBSCRIPTION_HANDLERS = {
    "subscribe": "subscribe_channel",
    "unsubscribe": "unsubscribe_channel",
    "presence": "channel_presence",
}
#: Members listed in a ``presence`` answer (an answer must fit in ``MAX_MESSAGE_BYTES``).
PRESENCE_ANSWER_LIMIT = 500


#: Bytes kept free in a ``presence`` answer for the ``message_id`` the send adds.
_MESSAGE_ID_ROOM = 64


def fit_members(answer: dict[str, Any]) -> dict[str, Any]:
    """``answer`` with as many of its first ``members`` as fit in ``MAX_MESSAGE_BYTES`` (the
    counts stay exact): long non-ASCII names (6 bytes a character in JSON) must shorten the
    list, not turn the answer into a 413 the client never hears of."""
    limit = int(wsgateway_settings.MAX_MESSAGE_BYTES) - _MESSAGE_ID_ROOM
    members = answer["members"]
    size = len(strict_json.dumps({**answer, "members": []}).encode())
    kept = 0
    for member in members:
        size += len(strict_json.dumps(member).encode()) + 1  # and its comma
        if size > limit:
            break
        kept += 1
    return answer if kept == len(members) else {**answer, "members": members[:kept]}


#: The query parameter the reference package's pages and clients put the token in.
REFERENCE_TOKEN_PARAM = "ws_token"  # noqa: S105 (a parameter name, not a secret)


def connect_token(request: HttpRequest) -> str:
    """The ``$connect`` token: ``WSGATEWAY["TOKEN_QUERY_PARAM"]``, else the reference's ``ws_token``.

    Pages and clients written for the reference keep connecting without a settings change; the
    token is checked the same way whichever parameter carried it (docs/migrating.md).
    """
    token = request.GET.get(wsgateway_settings.TOKEN_QUERY_PARAM, "")
    return token or request.GET.get(REFERENCE_TOKEN_PARAM, "")


class _UnknownClient(Exception):
    """A ``$connect`` refused before anyone is known: rolls the transaction back, and
    :meth:`WebSocketView.handle_connect` decides between the refusal and 429."""

    def __init__(self, refusal: EventRefused) -> None:
        super().__init__(refusal.code)
        self.refusal = refusal


@method_decorator(csrf_exempt, name="dispatch")
class WebSocketView(RecoveryHandlers, RefusalHooks, ViewPermissionsMixin, View):
    """Receives ``$connect``, ``$disconnect`` and message events from API Gateway.

    Mount it with a ``route`` slug (``path("ws/<slug:route>", WebSocketView.as_view())``): the
    integrations POST to ``…/ws/connect``, ``…/ws/disconnect``, ``…/ws/default`` and, for an
    additional route, ``…/ws/<route>`` (listed in :attr:`custom_routes`, or a handler's name).

    Messages name their handler in the body: ``{"handler": "change_channel", …}``, falling back
    to ``"action"`` (the key API Gateway's default route selection uses), then, on an additional
    route, to the route's name. Handlers are looked up in the class's handler table, never as
    plain attributes (see :mod:`wsgateway.views.handlers`): a name listed in
    :attr:`allowed_handlers` (or the reference package's ``ALLOWED_HANDLERS``), or registered
    with :func:`~wsgateway.views.handlers.handler`. A name starting with ``_`` or belonging to
    the view itself (``post``, ``dispatch``, ``reply`` …) never runs, and a class that tries to
    redefine one as a handler is refused when it is created.

    A handler is ``def name(self, body: dict) -> dict | HttpResponse | None`` (wsgateway), or
    ``def name(self, request, *args, **kwargs) -> HttpResponse | None`` (the reference package,
    reading ``self.body``). Inside it ``self.request.user``, ``self.session``, ``self.gateway``
    and ``self.connection_id`` describe the sender, and :meth:`reply` / :meth:`send_to_channel`
    enqueue messages. Raise :class:`~wsgateway.views.errors.EventRefused` for a clear 4xx.

    Extension points: :meth:`check_connect` (project checks on ``$connect``), :meth:`connected`
    (e.g. a welcome message), :meth:`default` (a message naming no handler),
    :meth:`can_join_channel`, the reference package's :meth:`connect` / :meth:`disconnect`
    (call ``super()``), its response hooks (:class:`~wsgateway.views.hooks.RefusalHooks`) and
    permission lists (:class:`~wsgateway.views.permissions.ViewPermissionsMixin`), and the
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
    #: The ``subscribe`` / ``unsubscribe`` / ``presence`` messages (:data:`SUBSCRIPTION_HANDLERS`).
    #: ``None``: on, unless the class answers unknown names with a reference-style
    #: ``default(self, request)`` (such a view may already handle these names itself). A handler
    #: of the same name the class registers or lists wins either way.
    subscription_messages: ClassVar[bool | None] = None

    # --- the reference package's class attributes (same names and meanings) ---
    #: Handlers a message may select. Empty: the reference's automatic list (``"default"``,
    #: ``ADDITIONAL_ALLOWED_HANDLERS`` and the class's own ``(self, request, …)`` methods).
    ALLOWED_HANDLERS: Collection[str] = frozenset()
    #: Added to the automatic list when ``ALLOWED_HANDLERS`` is empty.
    ADDITIONAL_ALLOWED_HANDLERS: ClassVar[Collection[str]] = ()
    #: Body keys naming the handler: ``handler_selection_key`` first, then ``route_selection_key``.
    handler_selection_key: ClassVar[str] = "handler"
    route_selection_key: ClassVar[str] = "action"
    #: A channel without a ``ChannelPermission`` row is open to everyone (``False``: closed).
    ALLOW_UNLISTED_CHANNELS: ClassVar[bool] = True
    #: Require a one-time token on ``$connect`` (``False`` for this view only; see ``REQUIRE_TOKEN``).
    USE_WS_TOKEN: ClassVar[bool] = True
    #: Count ``$connect`` attempts per IP and user; 0 means the ``WSGATEWAY``/``WEBSOCKETS`` setting.
    RATE_LIMIT_ENABLED: ClassVar[bool] = True
    RATE_LIMIT_MAX_ATTEMPTS: int = 0
    RATE_LIMIT_WINDOW_MINUTES: int = 0
    #: Accept events from this API id only (``None``: any registered ``ApiGateway``).
    aws_api_gateway_id: ClassVar[str | None] = None
    #: With ``CHECK_CONNECT_USERAGENT``, ``$connect`` must come with ``<prefix><api id>``.
    expected_useragent_prefix: ClassVar[str] = "AmazonAPIGateway_"
    CHECK_CONNECT_USERAGENT: ClassVar[bool] = False

    # Set while an event is handled.
    request: HttpRequest
    route: str = DEFAULT
    gateway: ApiGateway
    connection_id: str
    session: WebSocketSession | None = None
    client_ip: str | None = None
    connect_user: AbstractBaseUser | None = None
    #: Keyed hash of the Django session a ``$connect`` binds its socket to (see _authenticate_connect).
    connect_session_hash: str = ""

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        handler_table.validate_view_class(cls, WebSocketView)
        cls._registered_handlers = handler_table.registered_handlers(cls)

    _registered_handlers: ClassVar[dict[str, str]] = {}

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        # As the reference does per instance: the effective handler list and rate limits, readable
        # (and changeable) as attributes.
        if not self.ALLOWED_HANDLERS:
            automatic = handler_table.automatic_handlers(type(self), WebSocketView)
            self.ALLOWED_HANDLERS = {"default", *self.ADDITIONAL_ALLOWED_HANDLERS, *automatic}
        if not self.RATE_LIMIT_MAX_ATTEMPTS:
            self.RATE_LIMIT_MAX_ATTEMPTS = wsgateway_settings.CONNECT_RATE_LIMIT_ATTEMPTS
        if not self.RATE_LIMIT_WINDOW_MINUTES:
            self.RATE_LIMIT_WINDOW_MINUTES = wsgateway_settings.CONNECT_RATE_LIMIT_WINDOW_MINUTES

    @property
    def body(self) -> dict[str, Any]:
        """The message as a dict (``{}`` for no body or one that is not a JSON object).

        :meth:`handle_message` reads it strictly (refusing bad JSON) before a handler runs; read
        elsewhere, e.g. in a hook, a body that cannot be used is ``{}``, as in the reference.
        """
        parsed = self.__dict__.get("_body")
        if parsed is None:
            request = getattr(self, "request", None)
            parsed = {}
            if request is not None and request.method == "POST":
                try:
                    parsed = parse_message_body(request, wsgateway_settings.MAX_MESSAGE_BYTES)
                except EventRefused:
                    parsed = {}
            self.__dict__["_body"] = parsed
        return parsed

    @body.setter
    def body(self, value: dict[str, Any]) -> None:
        self.__dict__["_body"] = value

    # --- the reference package's names for the event's gateway and session ---

    @property
    def api_gateway(self) -> ApiGateway | None:
        """The event's ``ApiGateway`` (the reference package's name for :attr:`gateway`)."""
        return getattr(self, "gateway", None)

    @api_gateway.setter
    def api_gateway(self, value: ApiGateway) -> None:
        self.gateway = value

    @property
    def websocket_session(self) -> WebSocketSession | None:
        """The sender's session row (the reference package's name for :attr:`session`)."""
        return self.session

    @websocket_session.setter
    def websocket_session(self, value: WebSocketSession | None) -> None:
        self.session = value

    # ------------------------------------------------------------------ entry

    def dispatch(self, request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponseBase:
        """Handle one event; every refusal becomes its 4xx answer (through the response hooks).

        The view answers POST itself, here: no method a subclass defines (not even one named
        ``post``) can take its place.
        """
        if (request.method or "").lower() not in self.http_method_names:
            return self.http_method_not_allowed(request, *args, **kwargs)
        route = str(kwargs.get("route", DEFAULT))
        self.route = route
        try:
            try:
                self._check_transport(request)
                if not self._route_exists(route):
                    raise EventRefused(404, "unknown_route", f"This endpoint has no route {route[:64]!r}.")
                self.gateway = self._gateway(request)
                self.connection_id = self._connection_id(request)
                if route == CONNECT:
                    self._check_connect_user_agent(request)
                    return self._as_response(self.connect(request, *args, **kwargs))
                if route == DISCONNECT:
                    return self._as_response(
                        self.disconnect(request, *args, **kwargs), empty={"status": "disconnected"}
                    )
                return self._as_response(self.handle_message(request, *args, **kwargs))
            except EventRefused as refusal:
                return self.refused(request, refusal, *args, **kwargs)
        except PayloadTooLargeError as err:
            # A handler's self.reply()/send_to_channel() of more than API Gateway carries.
            return error_response(413, "reply_too_large", str(err))
        except DatabaseError:
            # The database is down or overloaded: a clean 503 (API Gateway refuses the socket or
            # drops the message); transactions have rolled back, nothing is half-written.
            log.exception("wsgateway: %s event failed on the database", route)
            return error_response(503, "database_unavailable", "Try again shortly.")

    def _route_exists(self, route: str) -> bool:
        if route in (CONNECT, DISCONNECT, DEFAULT) or route in self.custom_routes:
            return True
        # An additional route named after a handler (the reference package routes by body only).
        return self._handler_method(route) is not None

    def http_method_not_allowed(self, request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponse:
        """405 as JSON: API Gateway integrations only ever POST."""
        response = error_response(405, "method_not_allowed", "Events are POSTed.")
        response["Allow"] = "POST"
        return response

    # ------------------------------------------------------------------ checks on every event

    def _check_transport(self, request: HttpRequest) -> None:
        # The secret first, as in the reference: a forged event gets 403 whatever else it sends.
        if not security.secret_is_valid(request):
            # A forged event: the same answer whether the header is missing or wrong, and a log
            # line that never shows what was sent.
            log.warning("wsgateway: refused an event without a valid gateway secret (route %s)", self.route)
            raise EventRefused(403, "invalid_secret", "The gateway secret is missing or wrong.")
        # The Host matters where a browser is involved, on $connect (WSGATEWAY["ALLOWED_HOSTS"]);
        # later events are proven by the secret alone, as in the reference.
        if self.route == CONNECT and not security.host_allowed(request):
            raise EventRefused(400, "disallowed_host", "The Host header is not an allowed host.")
        self.__dict__["_transport_checked"] = request

    def _gateway(self, request: HttpRequest) -> ApiGateway:
        api_id = request.headers.get("X-Amzn-Apigateway-Api-Id", "")
        if not api_id:
            raise EventRefused(400, "missing_api_id", "The X-Amzn-Apigateway-Api-Id header is missing.")
        pinned = self.aws_api_gateway_id
        # Plain comparisons: API ids and User-Agents are public, not secrets.
        gateway = get_gateway(api_id) if not pinned or pinned == api_id else None
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

    def _ensure_event_context(self, request: HttpRequest) -> None:
        # connect()/disconnect() called directly (as the reference's subclasses and tests may)
        # rather than through dispatch(): the same checks, also on a view built with
        # api_gateway= (the secret, and the Host on $connect), and the gateway and connection id
        # read the same way.
        if self.__dict__.get("_transport_checked") is not request:
            self._check_transport(request)
        if "gateway" not in self.__dict__:
            self.gateway = self._gateway(request)
        if "connection_id" not in self.__dict__:
            self.connection_id = self._connection_id(request)

    def _check_connect_user_agent(self, request: HttpRequest) -> None:
        # Off by default, as in the reference: API Gateway forwards the browser's User-Agent on
        # $connect for some APIs. A sanity check, not authentication (the secret is that).
        if not self.CHECK_CONNECT_USERAGENT:
            return
        expected = f"{self.expected_useragent_prefix}{self.gateway.api_id}"
        if request.headers.get("User-Agent", "") != expected:
            raise EventRefused(400, "invalid_user_agent", "Unexpected User-Agent.")

    # ------------------------------------------------------------------ $connect

    def connect(self, request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponseBase:
        """``$connect`` (the reference package's hook): run the checks and open the session.

        Override it and call ``super().connect(request, *args, **kwargs)`` to act on the answer;
        a refusal comes back as its response (through the response hooks), not as an exception.
        """
        self.route = CONNECT
        try:
            self._ensure_event_context(request)
            return self.handle_connect(request)
        except EventRefused as refusal:
            return self.refused(request, refusal, *args, **kwargs)

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
        except _UnknownClient as refusal:
            # Nobody to count per user: the failed attempt's own count decides, as the count in
            # the transaction would have (a flood of bad tokens gets 429, not endless 401s).
            if not self._record_failed_attempt(limited=True):
                raise EventRefused(
                    429, "rate_limited", "Too many connection attempts; try again later."
                ) from None
            raise refusal.refusal from None
        except EventRefused:
            self._record_failed_attempt()
            raise
        except DatabaseError:
            log.exception("wsgateway: $connect failed on the database (connection %s)", self.connection_id)
            self._record_failed_attempt()
            return error_response(503, "database_unavailable", "Try again shortly.")
        self.session = session
        signals.websocket_connected.send(sender=type(self), request=request, session=session)
        return StrictJsonResponse({"status": "connected"})

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
        if auth_refusal is not None and user is None and self.RATE_LIMIT_ENABLED:
            # No user (e.g. an unknown token): counting here would be rolled back and counted
            # again; handle_connect counts it once, outside, and answers 429 over the limit.
            raise _UnknownClient(auth_refusal)
        if self.RATE_LIMIT_ENABLED:
            # Atomic count-and-check (wsgateway.ratelimit); a refusal rolls it back and
            # _record_failed_attempt counts the attempt again, outside the transaction.
            allowed, _count = ratelimit.count_attempt(
                self.client_ip or "",
                user,
                max_attempts=self.RATE_LIMIT_MAX_ATTEMPTS,
                window_minutes=self.RATE_LIMIT_WINDOW_MINUTES,
            )
            if not allowed:
                raise EventRefused(429, "rate_limited", "Too many connection attempts; try again later.")
        if auth_refusal is not None:
            raise auth_refusal
        request.user = user if user is not None else AnonymousUser()  # type: ignore[assignment]
        if self.CHECK_PERMISSIONS_ON_CONNECT and not self._passes_permission_checks(request):
            raise EventRefused(403, "permission_denied", "You may not connect.")
        if not self.can_join_channel(request, channel_name):
            raise EventRefused(403, "channel_forbidden", "You may not join this channel.")
        self.check_connect(request, user, channel_name)
        passed, reason = self._additional_connection_checks(request)
        if not passed:
            raise EventRefused(400, "connection_refused", reason or "The connection was refused.")
        ConnectionRateLimit.log_attempt(self.client_ip or "", user, successful=True)
        now = timezone.now()
        session = WebSocketSession.objects.create(
            connection_id=self.connection_id,
            channel_name=channel_name,
            user=cast(Any, user),
            api_gateway=self.gateway,
            session_key_hash=self.connect_session_hash,
            # The hash the token was issued under (a password changed since refuses the token).
            auth_hash=self._session_auth_hash(user),
            source_ip=self.client_ip,
            connected_at=now,
            last_seen_at=now,
        )
        self.session = session
        # On a presence channel the user's first connection announces member_added.
        presence.joined(session, channel_name)
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
        if not (wsgateway_settings.REQUIRE_TOKEN and self.USE_WS_TOKEN):
            self.connect_session_hash = session_key_hash(session_key) if session_key else ""
            return self._user_from_session(request, session_key), None
        token = connect_token(request)
        if not token:
            return None, EventRefused(401, "missing_token", "A connect token is required.")
        # The token row names its user, the hash of the Django session it was issued to and the
        # user's auth hash at issue: two queries, and the Django session itself is never loaded.
        # A browser sends the site's cookie only to a host in the site's cookie domain (a custom
        # domain), never to the default {api}.execute-api.{region}.amazonaws.com: without a
        # cookie the token alone proves the user and binds the socket to its session; with one,
        # it must be that session.
        consumed = self._consume_token(token, session_key or None)
        user = consumed.user if consumed is not None else None
        self.connect_auth_hash = consumed.auth_hash if consumed is not None else ""
        self.connect_session_hash = consumed.session_key if consumed is not None else ""
        if user is None:
            return None, EventRefused(
                401, "invalid_token", "The token is unknown, used, expired or not issued to this session."
            )
        if not user.is_active:
            return user, EventRefused(403, "user_inactive", "This account is disabled.")
        return user, None

    @staticmethod
    def _consume_token(token: str, session_key: str | None) -> WebSocketToken | None:
        # WebSocketToken.consume's rules in one statement where the database can (a token read
        # and its consumption otherwise). Consumed before the auth hash is checked: a refusal
        # raises inside the $connect transaction, which rolls the consumption back.
        max_age = wsgateway_settings.TOKEN_MAX_AGE_SECONDS
        if len(token) > 512:
            return None
        row = live_session.consume_token(token, session_key, timezone.now(), max_age)
        if row is live_session.UNSUPPORTED:
            return WebSocketToken.consume(token, session_key, max_age_seconds=max_age)
        if not isinstance(row, WebSocketToken) or not auth_hash_matches(row.auth_hash, row.user):
            return None
        return row

    def _session_auth_hash(self, user: AbstractBaseUser | None) -> str:
        token_hash = getattr(self, "connect_auth_hash", "")
        if token_hash:
            return str(token_hash)
        return user.get_session_auth_hash() if user is not None else ""

    def _user_from_session(self, request: HttpRequest, session_key: str) -> AbstractBaseUser | None:
        # REQUIRE_TOKEN=False (or the view's USE_WS_TOKEN=False): the user Django's
        # AuthenticationMiddleware put on the request, as the reference used, else the session
        # cookie's: the session row and the user row, in place of the token's read and consume.
        user: Any = getattr(request, "user", None)
        if user is None:
            if not session_key or not hasattr(request, "session"):
                return None
            user = auth.get_user(request)
        return cast("AbstractBaseUser", user) if user.is_authenticated and user.is_active else None

    def _record_failed_attempt(self, *, limited: bool = False) -> bool:
        """Count and log a refused attempt; whether it is within the view's limit (``limited``:
        counted against the view's own limit and window, else the settings')."""
        if self.client_ip is None:
            return True
        limits: dict[str, int] = {}
        if limited:
            limits = {
                "max_attempts": self.RATE_LIMIT_MAX_ATTEMPTS,
                "window_minutes": self.RATE_LIMIT_WINDOW_MINUTES,
            }
        try:
            # One transaction: the count and the row commit together (one commit, not two).
            with transaction.atomic():
                allowed, _count = ratelimit.count_attempt(self.client_ip, self.connect_user, **limits)
                ConnectionRateLimit.log_attempt(self.client_ip, self.connect_user, successful=False)
        except DatabaseError:
            log.exception("wsgateway: could not record a refused $connect attempt")
            return True
        return allowed

    # ------------------------------------------------------------------ $disconnect

    def disconnect(self, request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponseBase:
        """``$disconnect`` (the reference package's hook): mark the session disconnected.

        Override it and call ``super().disconnect(request, *args, **kwargs)``. As in the
        reference, it returns ``None`` once the connection's session is marked disconnected
        (``self.websocket_session``), and a response otherwise: a refusal, or
        ``{"status": "unknown"}`` for a connection with no session. ``dispatch()`` answers
        ``None`` with ``{"status": "disconnected"}``.
        """
        self.route = DISCONNECT
        self.session = None
        try:
            self._ensure_event_context(request)
            response = self.handle_disconnect(request)
        except EventRefused as refusal:
            return self.refused(request, refusal, *args, **kwargs)
        return None if self.session is not None else response

    def handle_disconnect(self, request: HttpRequest) -> HttpResponse:
        """Mark the session disconnected. Idempotent; an unknown connection id is fine.

        One query for a live session (``UPDATE … RETURNING`` where the database has it, see
        :mod:`wsgateway.views.live_session`); else, or for a session that is not live, a read
        first.
        """
        closed = live_session.close_live_session(self.connection_id, self.gateway.pk, timezone.now())
        if isinstance(closed, WebSocketSession):
            self.session = closed
            self._release(closed)
            request.user = closed.user if closed.user is not None else AnonymousUser()
            signals.websocket_disconnected.send(sender=type(self), request=request, session=closed)
            return StrictJsonResponse({"status": "disconnected"})
        session = (
            WebSocketSession.objects.select_related("user")
            .filter(connection_id=self.connection_id, api_gateway=self.gateway)
            .first()
        )
        if session is None:
            return StrictJsonResponse({"status": "unknown"})
        self.session = session
        if session.connected and self._mark_disconnected(session):
            self._release(session)
            request.user = session.user if session.user is not None else AnonymousUser()
            signals.websocket_disconnected.send(sender=type(self), request=request, session=session)
        return StrictJsonResponse({"status": "disconnected"})

    def _mark_disconnected(self, session: WebSocketSession) -> bool:
        now = timezone.now()
        # The fields the bulk marking sets (wsgateway.querysets), live rows only: of a $disconnect
        # and a concurrent kick, only one performs the transition. Released by the caller.
        changed = WebSocketSession.objects.filter(pk=session.pk).mark_disconnected(now, release=False)
        session.connected, session.disconnected_at, session.updated_on = False, now, now
        return changed == 1

    @staticmethod
    def _release(session: WebSocketSession) -> None:
        # The closed connection's subscriptions go; presence hears that it left.
        subscriptions.release_sessions([(session.pk, session.user_id, session.channel_name)])

    # ------------------------------------------------------------------ messages

    def handle_message(self, request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponseBase:
        """Check the sender's session and user, then run the handler the message names.

        One query on a live session (PostgreSQL, SQLite >= 3.35): the request is counted and the
        session with its user read back by the same ``UPDATE … RETURNING``
        (:mod:`wsgateway.views.live_session`); elsewhere a read and a conditional update. The
        gateway comes from the cache. A message refused for its user (disabled, password
        changed) has been counted as a request before its session is closed.
        """
        self.body = parse_message_body(request, wsgateway_settings.MAX_MESSAGE_BYTES)
        now = timezone.now()
        counted = live_session.count_live_message(self.connection_id, self.gateway.pk, now)
        session = counted if isinstance(counted, WebSocketSession) else self._read_session_for_message()
        self.session = session
        user = session.user
        if user is not None:
            if not user.is_active:
                self._kick(request)
                raise EventRefused(403, "user_inactive", "This account is disabled.")
            if not self._auth_hash_current(session, user):
                self._kick(request)
                raise EventRefused(403, "credentials_changed", "The password changed; reconnect.")
        if counted is not session:  # not counted yet (fallback, or a row that turned live meanwhile)
            updated = WebSocketSession.objects.filter(pk=session.pk, connected=True).update(
                request_count=F("request_count") + 1, last_seen_at=now
            )
            if updated != 1:
                raise EventRefused(410, "connection_closed", "This connection is closed.")
            session.last_seen_at = now
        request.user = user if user is not None else AnonymousUser()
        name = self._handler_name()
        method = self._select_handler(name)
        self._check_handler_permissions(name, method, request)
        if name is not None:
            signals.websocket_message_received.send(
                sender=type(self), request=request, session=session, handler=name, body=self.body
            )
        if handler_table.takes_request(getattr(method, "__func__", method)):
            # The reference package's convention; it answers an empty object for None.
            return self._as_response(method(request, *args, **kwargs), empty={})
        return self._as_response(method(self.body))

    def _read_session_for_message(self) -> WebSocketSession:
        """The sender's session read on its own: the fallback of the one-statement count, and
        the way to tell an unknown connection (404) from a closed one (410)."""
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
        return session

    @staticmethod
    def _auth_hash_current(session: WebSocketSession, user: AbstractBaseUser) -> bool:
        # The same rule as a token's (SECRET_KEY_FALLBACKS honoured): one home, in the models.
        return auth_hash_matches(session.auth_hash, user)

    def _kick(self, request: HttpRequest) -> None:
        # Marked at once, so no fan-out reaches this user any more; then closed at API Gateway.
        session = self.session
        assert session is not None
        if self._mark_disconnected(session):
            self._release(session)
            request.user = AnonymousUser()
            signals.websocket_disconnected.send(sender=type(self), request=request, session=session)
        self._close_at_gateway()

    def _close_at_gateway(self) -> None:
        # A client that keeps sending on a refused socket would otherwise queue one DELETE per
        # message; one per connection every few seconds is enough.
        if cache.add(f"wsgateway:close:{self.connection_id}", 1, _CLOSE_DEDUP_SECONDS):
            sending.disconnect_connection(self.connection_id)

    def _handler_name(self) -> str | None:
        for key in (self.handler_selection_key, self.route_selection_key):
            value = self.body.get(key)
            if value is None or value == "":
                continue
            if not isinstance(value, str):
                raise EventRefused(400, "invalid_handler", f"{key!r} must be a string.")
            return value
        return self.route if self.route != DEFAULT else None

    def _allowed_handler_names(self) -> set[str]:
        # ALLOWED_HANDLERS holds the reference's automatic list when the class set none (__init__).
        return set(self.allowed_handlers) | set(self.ALLOWED_HANDLERS)

    def _handler_method(self, name: str) -> Any:
        """The bound method messages naming ``name`` run, or ``None``: never a view attribute."""
        registered = self._registered_handlers.get(name)
        if registered is not None:
            return getattr(self, registered)
        if (
            name.startswith("_")
            or name in handler_table.protected_names(WebSocketView)
            or name not in self._allowed_handler_names()
        ):
            return self._builtin_handler(name)
        method = getattr(self, name, None)
        return method if callable(method) else None

    def _builtin_handler(self, name: str) -> Any:
        """The built-in channel message ``name`` (:data:`SUBSCRIPTION_HANDLERS`), or ``None``."""
        attribute = SUBSCRIPTION_HANDLERS.get(name)
        if attribute is None:
            return None
        enabled = self.subscription_messages
        if enabled is None:
            enabled = not self._default_takes_request()
        return getattr(self, attribute) if enabled else None

    def _default_takes_request(self) -> bool:
        # A subclass overriding default(self, request, ...) gets the reference's routing.
        return handler_table.takes_request(type(self).default)

    def _select_handler(self, name: str | None) -> Any:
        if name is None:
            if self._default_takes_request():
                # The reference answers a message without a handler key from this hook.
                raise EventRefused(
                    400, "missing_handler", "Name a handler in the message ('handler' or 'action')."
                )
            return self.default
        method = self._handler_method(name)
        if method is not None:
            return method
        if self._default_takes_request():
            return self.default  # the reference sends unknown names to default()
        raise EventRefused(400, "unknown_handler", f"There is no handler {name[:64]!r}.")

    def _check_handler_permissions(self, name: str | None, method: Any, request: HttpRequest) -> None:
        declared = [declared_on(method)]
        mapping = self.handler_permissions.get(name) if name is not None else None
        if mapping is not None:
            declared.append(HandlerPermissions.from_mapping(mapping))
        if not all(p.allows(request.user) for p in declared if p is not None):
            raise EventRefused(403, "permission_denied", f"You may not run {name!r}.")
        if not self._passes_permission_checks(request):
            raise EventRefused(403, "permission_denied", "You may not send messages here.")

    def _as_response(self, result: Any, *, empty: dict[str, Any] | None = None) -> HttpResponseBase:
        """A handler's result as the answer API Gateway relays: strict JSON, at most
        ``MAX_MESSAGE_BYTES`` (a larger answer is a 413, never a 500)."""
        if isinstance(result, HttpResponseBase):
            response = result
        else:
            if result is None:
                result = {"status": "ok"} if empty is None else empty
            try:
                response = StrictJsonResponse(result, safe=not isinstance(result, list))
            except (TypeError, ValueError):
                log.exception(
                    "wsgateway: %s.%s answered with data JSON cannot hold", type(self).__name__, self.route
                )
                return error_response(500, "invalid_reply", "The handler's answer is not valid JSON.")
        limit = wsgateway_settings.MAX_MESSAGE_BYTES
        if isinstance(response, HttpResponse) and len(response.content) > limit:
            return error_response(413, "reply_too_large", f"The answer exceeds {limit} bytes.")
        return response

    # ------------------------------------------------------------------ extension points

    def check_connect(self, request: HttpRequest, user: AbstractBaseUser | None, channel_name: str) -> None:
        """Project checks on ``$connect``, run after the built-in ones, inside the transaction.

        Raise :class:`~wsgateway.views.errors.EventRefused` to refuse (nothing is written).
        ``self.gateway``, ``self.connection_id`` and ``self.client_ip`` are available.
        """

    def _additional_connection_checks(
        self, request: HttpRequest, *args: Any, **kwargs: Any
    ) -> tuple[bool, str]:
        """The reference package's connect hook: ``(False, reason)`` refuses with a 400.

        Runs after :meth:`check_connect`, inside the ``$connect`` transaction.
        """
        return True, ""

    def get_channel_permission(self, channel_name: str) -> ChannelPermission | None:
        """The ``ChannelPermission`` that decides ``channel_name`` on this gateway, or ``None``.

        A rule for this gateway wins over one for every gateway. Override to find the rule
        elsewhere; :meth:`can_join_channel` then uses yours.
        """
        rules = list(ChannelPermission.objects.filter(channel_name=channel_name))
        gateway = self.api_gateway
        # getattr: rows without a gateway field apply to every gateway.
        for wanted in (gateway.pk if gateway is not None else None, None):
            for rule in rules:
                if getattr(rule, "api_gateway_id", None) == wanted:
                    return rule
        return None

    def can_join_channel(self, request: HttpRequest, channel_name: str) -> bool:
        """Whether ``request.user`` may be in ``channel_name`` (on ``$connect`` and ``change_channel``).

        Applies the channel's ``ChannelPermission``; a channel without one is open unless
        ``ALLOW_UNLISTED_CHANNELS`` is ``False``. Override to add rules, calling ``super()`` to keep
        the rows. ``False`` answers 403 through :meth:`permission_denied`.
        """
        if (
            self.ALLOW_UNLISTED_CHANNELS
            and type(self).get_channel_permission is WebSocketView.get_channel_permission
        ):
            # The model's rule (ChannelPermission.user_may_join: no row, open), the same rule
            # sending to a channel follows; the row read by a statement built once.
            rule = live_session.channel_rule(channel_name)
            return True if rule is None else rule.allows(getattr(request, "user", None))
        rule = self.get_channel_permission(channel_name)
        if rule is None:
            return self.ALLOW_UNLISTED_CHANNELS
        return rule.allows(getattr(request, "user", None))

    def _is_valid_channel_name(self, channel_name: Any) -> bool:
        return isinstance(channel_name, str) and security.channel_name_valid(channel_name)

    def connected(self, session: WebSocketSession) -> None:
        """Called with the new session row inside the ``$connect`` transaction.

        Override to welcome the client: ``self.reply({...})`` enqueues the send after the
        transaction commits. API Gateway answers 410 to sends until ``$connect`` has returned;
        the fan-out task retries such a young connection within its grace period.
        """

    def default(self, body: Any = None, *args: Any, **kwargs: Any) -> Any:
        """A message naming no handler (no ``handler``/``action`` on the default route).

        Also callable the reference's way, ``super().default(request, *args, **kwargs)`` from an
        override; the answer is the same 400 (the reference raised ``NotImplementedError``).
        """
        raise EventRefused(400, "missing_handler", "Name a handler in the message ('handler' or 'action').")

    # ------------------------------------------------------------------ built-in handlers

    def change_channel(self, body: dict[str, Any] | HttpRequest) -> Any:
        """Move this connection to ``body["channel"]`` if the user may join it.

        Also callable the reference's way, ``change_channel(request)``: it then reads ``self.body``,
        returns ``None`` on success and a refusal as its response instead of an exception.
        """
        request = getattr(self, "request", None)
        if isinstance(body, HttpRequest):
            request, body = body, self.body
            try:
                self._move_to_channel(request, body)
            except EventRefused as refusal:
                return self.refused(request, refusal)
            return None  # the reference's answer: dispatch() then answers {}
        assert request is not None
        return self._move_to_channel(request, body)

    def _move_to_channel(self, request: HttpRequest, body: dict[str, Any]) -> dict[str, Any]:
        channel_name = body.get("channel")
        if not isinstance(channel_name, str) or not self._is_valid_channel_name(channel_name):
            raise EventRefused(400, "invalid_channel", "'channel' must be a valid channel name.")
        if not self.can_join_channel(request, channel_name):
            raise EventRefused(403, "channel_forbidden", "You may not join this channel.")
        session = self.session
        assert session is not None
        old = session.channel_name
        with transaction.atomic():
            WebSocketSession.objects.filter(pk=session.pk).update(
                channel_name=channel_name, updated_on=timezone.now()
            )
            session.channel_name = channel_name
            subscriptions.changed_channel(session, old, channel_name)
        return {"channel": channel_name}

    def heartbeat(self, body: dict[str, Any]) -> dict[str, Any]:
        """Keep-alive from the client: nothing to do, the message itself reset the idle timer."""
        return {"status": "ok"}

    def _message_channel(self, body: dict[str, Any], default: str | None = None) -> str:
        channel_name = body.get("channel", default)
        # "" is "no channel" (valid for change_channel): no subscription, and no presence of every
        # socket without a channel.
        if not (isinstance(channel_name, str) and channel_name and self._is_valid_channel_name(channel_name)):
            raise EventRefused(400, "invalid_channel", "'channel' must be a valid channel name.")
        return channel_name

    def _answer_by_reply(
        self, action: str, body: dict[str, Any], answer: Callable[[], dict[str, Any]]
    ) -> Any:
        """Run a built-in channel message and send its result to the connection as a message.

        A gateway provisioned by wsgateway has no route responses (an integration's answer is
        not relayed to the client), so the result travels like any message, with a
        ``message_id``; a refusal too, as ``{"type": "error", "action", "channel", "error",
        "message"}``, before the 4xx answer. The HTTP answer names the reply's message id.
        """
        try:
            result = answer()
        except EventRefused as refusal:
            channel = body.get("channel")
            # A malformed name is not echoed: escaped, it could make the frame too large to send.
            echoed = isinstance(channel, str) and len(channel) <= security.CHANNEL_NAME_MAX_LENGTH
            self.reply(
                {
                    "type": "error",
                    "action": action,
                    "channel": channel if echoed else None,
                    "error": refusal.code,
                    "message": refusal.message,
                }
            )
            raise
        handle = self.reply(result)
        return {"status": "queued", "message_id": handle.message_id}

    def _count_subscription_change(self) -> None:
        # Each change may broadcast a member event to a whole presence channel: a client
        # toggling a subscription in a loop must not turn into a broadcast storm.
        limit = int(wsgateway_settings.SUBSCRIPTION_CHANGES_PER_MINUTE)
        if not ratelimit.count_event(f"subscriptions:{self.connection_id}", limit):
            raise EventRefused(429, "rate_limited", f"At most {limit} subscription changes a minute.")

    def subscribe_channel(self, body: dict[str, Any]) -> Any:
        """``{"action": "subscribe", "channel": "room-2"}``: add a channel to this connection.

        The same permission check as joining on ``$connect`` (:meth:`can_join_channel`; 403
        ``channel_forbidden``). At most ``MAX_SUBSCRIPTIONS_PER_CONNECTION`` channels (409
        ``too_many_subscriptions``), and ``SUBSCRIPTION_CHANGES_PER_MINUTE`` subscribe and
        unsubscribe messages a minute (429 ``rate_limited``). Idempotent. The connection gets
        ``{"type": "subscribed", "channel": …}`` (or an error message, see :meth:`_answer_by_reply`).
        """

        def answer() -> dict[str, Any]:
            channel_name = self._message_channel(body)
            self.subscribe_resume_request(channel_name, body)  # a malformed "since": 400, no row
            self._count_subscription_change()
            if not self.can_join_channel(self.request, channel_name):
                raise EventRefused(403, "channel_forbidden", "You may not join this channel.")
            session = self.session
            assert session is not None
            try:
                subscriptions.subscribe(session, channel_name)
            except subscriptions.SubscriptionLimitError as err:
                raise EventRefused(409, "too_many_subscriptions", str(err)) from None
            self.resume_subscribed(channel_name, body)  # with "since": what it missed there (recovery)
            return {"type": "subscribed", "channel": channel_name}

        return self._answer_by_reply("subscribe", body, answer)

    def unsubscribe_channel(self, body: dict[str, Any]) -> Any:
        """``{"action": "unsubscribe", "channel": "room-2"}``: drop a subscription (idempotent).

        The connection's own channel (``channel_name``) is not a subscription and stays until
        ``change_channel``: the message ``{"type": "unsubscribed", "channel", "subscribed"}`` says
        whether the connection is still on the channel.
        """

        def answer() -> dict[str, Any]:
            channel_name = self._message_channel(body)
            self._count_subscription_change()
            session = self.session
            assert session is not None
            subscriptions.unsubscribe(session, channel_name)
            still = channel_name == session.channel_name
            return {"type": "unsubscribed", "channel": channel_name, "subscribed": still}

        return self._answer_by_reply("unsubscribe", body, answer)

    def channel_presence(self, body: dict[str, Any]) -> Any:
        """``{"action": "presence", "channel": "room-2"}`` (default: the connection's own channel):
        who is there (:func:`wsgateway.presence.presence`), as the message ``{"type":
        "presence", "channel", "members": [{"user_id", "name", "connections"}],
        "anonymous_connections", "connections"}``, for a connection on that channel (403
        ``not_subscribed`` otherwise) whose user the channel's permission still admits (403
        ``channel_forbidden``). At most :data:`PRESENCE_ANSWER_LIMIT` members listed
        (fewer when their names would not fit ``MAX_MESSAGE_BYTES``: :func:`fit_members`).
        """

        def answer() -> dict[str, Any]:
            session = self.session
            assert session is not None
            channel_name = self._message_channel(body, session.channel_name)
            if channel_name not in subscriptions.channels_of(session):
                raise EventRefused(403, "not_subscribed", "Subscribe to the channel first.")
            # Checked again as resume does: a permission tightened since the socket joined
            # stops it from reading who is there.
            if not self.can_join_channel(self.request, channel_name):
                raise EventRefused(403, "channel_forbidden", "You may not join this channel.")
            found = presence.presence(channel_name, limit=PRESENCE_ANSWER_LIMIT)
            return fit_members({"type": "presence", **found.as_dict()})

        return self._answer_by_reply("presence", body, answer)

    # ------------------------------------------------------------------ sending helpers

    def reply(self, data: dict[str, Any], *, message_id: str | None = None) -> Any:
        """Enqueue ``data`` to this connection (sent after the transaction commits)."""
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
        session = self.session
        channel = channel_name if channel_name is not None else (session.channel_name if session else "")
        return sending.send_to_channel(
            channel,
            data,
            exclude=None if include_self else self.connection_id,
            api_gateway=self.gateway,
            message_id=message_id,
        )


# Subclasses get their table in __init_subclass__; the view itself has handlers of its own
# (recovery's "wsgateway.resume") when mounted as it is.
WebSocketView._registered_handlers = handler_table.registered_handlers(WebSocketView)
