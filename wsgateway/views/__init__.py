"""Event ingestion: the views API Gateway and the page talk to (docs/architecture.md §4, §9).

Mounting — include the app's URLs (namespace ``wsgateway``)::

    urlpatterns = [path("", include("wsgateway.urls"))]
    # ws/<slug:route>  -> WebSocketView        (name "wsgateway:websocket")
    # ws-token/        -> WebSocketTokenView   (name "wsgateway:websocket-token")

and set the gateway's ``target_base_endpoint`` to ``https://<your host>/ws/``. To add handlers,
subclass :class:`WebSocketView` and mount the subclass yourself with the same pattern::

    path("ws/<slug:route>", ChatView.as_view())

What happens on each event (the view records and enqueues; it never calls AWS):

- every event: ``Host`` allowed, gateway secret valid (constant time, any of the configured
  secrets), ``X-Amzn-Apigateway-Api-Id`` names a known ``ApiGateway`` (cached), ``connectionId``
  well formed;
- ``$connect``: client IP from trusted hops, ``Origin`` allowed, channel name valid, token valid
  for the session cookie (or the session's user when tokens are off), rate limit per IP and user,
  channel permission, :meth:`WebSocketView.check_connect`; then one transaction writes the
  session row and a successful attempt. A refusal writes one failed attempt and nothing else.
- message: body is a JSON object of at most ``MAX_MESSAGE_BYTES``; the session is live and on
  this gateway; its user is still active with an unchanged password (else the row is marked
  disconnected and ``sending.disconnect_connection`` closes the socket from a worker); the named
  handler is allowed and its permissions are held.
- ``$disconnect``: the session is marked disconnected (idempotent).

Answers: 200 JSON on success; refusals ``{"error": code, "message": text}`` with 400 (malformed),
401 (token), 403 (secret, origin, permission, disabled user), 404 (unknown route, gateway or
connection), 405, 409 (duplicate connection id), 410 (closed connection), 413 (too large),
429 (rate limited), 503 (database unavailable). Never a 500 for bad input.

Settings read (``WSGATEWAY`` dict, see :mod:`wsgateway.conf`): ``GATEWAY_SECRETS``,
``SECRET_HEADER``, ``ALLOWED_ORIGINS``, ``ALLOWED_HOSTS``, ``TRUSTED_PROXY_HOPS``,
``REQUIRE_TOKEN``, ``TOKEN_QUERY_PARAM``, ``CHANNEL_QUERY_PARAM``, ``TOKEN_MAX_AGE_SECONDS``,
``TOKEN_RATE_LIMIT_PER_MINUTE``, ``CONNECT_RATE_LIMIT_ATTEMPTS``,
``CONNECT_RATE_LIMIT_WINDOW_MINUTES``, ``MAX_MESSAGE_BYTES``, ``GATEWAY_CACHE_SECONDS``; and
Django's ``DEBUG``, ``ALLOWED_HOSTS``, ``USE_X_FORWARDED_HOST``, ``SESSION_COOKIE_NAME``.

``REQUIRE_TOKEN=False`` lets any holder of a valid session cookie connect (anonymous visitors
connect as anonymous); against cross-site WebSocket hijacking it then relies on the Origin
allow-list alone, so keep ``ALLOWED_ORIGINS`` exact.

Failed attempts count: every refused ``$connect`` that came through the gateway (secret valid,
client IP readable) writes one ``ConnectionRateLimit(successful=False)`` row, so repeated bad
tokens or origins run into the per-IP limit. That row is the only write of a refusal; the token
is consumed only by a connection that succeeds.

Query cost (asserted in tests/ingestion): a message on a live session costs 1 query with the
gateway cached (one ``UPDATE … RETURNING`` counts it and reads the session with its user:
:mod:`wsgateway.views.live_session`); a successful ``$connect`` with a token costs 5 with the
gateway cached (token consumed and read in one statement, rate limit, channel rule, attempt,
session), 6 on a cold cache; a ``$disconnect`` of a live session 1, a ``$connect`` refused
for an unknown token 3. On a database without ``UPDATE … RETURNING`` (SQLite before 3.35)
each of those reads and updates is two queries. With
``REQUIRE_TOKEN=False`` the Django session and the user are loaded instead of the token row
(2 queries either way; add Django's own session flush if the session hash is stale). A channel
rule restricted to permissions, and per-handler permissions, add the auth backend's queries.
"""

# The reference's views module imported its models by name; code that reaches them as
# ``views.WebSocketToken`` (or patches ``views.WebSocketToken.check_rate_limit``) keeps working.
from wsgateway.models import ApiGateway, ConnectionRateLimit, WebSocketSession, WebSocketToken
from wsgateway.views.errors import EventRefused
from wsgateway.views.handlers import handler
from wsgateway.views.permissions import HandlerPermissions, requires_permissions
from wsgateway.views.token import WebSocketTokenView
from wsgateway.views.websocket import WebSocketView

__all__ = [
    "ApiGateway",
    "ConnectionRateLimit",
    "EventRefused",
    "HandlerPermissions",
    "WebSocketSession",
    "WebSocketToken",
    "WebSocketTokenView",
    "WebSocketView",
    "handler",
    "requires_permissions",
]
