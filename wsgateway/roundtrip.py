"""A timed round trip through a deployed gateway (``checkApiGateway --round-trip``).

Stages, each timed, as a browser and a worker would go through them:

1. ``connect`` — a WebSocket handshake on the stage URL (``ApiGateway.websocket_url``) as
   ``user``: a Django session is logged in for the check (and deleted after), a one-time token is
   issued to it when ``REQUIRE_TOKEN`` is on, the Origin is ``ALLOWED_ORIGINS[0]``, and the session
   cookie is sent unless ``send_cookie`` is off (a browser sends none to the default
   ``execute-api`` host);
2. ``recorded`` — Django's ``$connect`` view wrote the session row;
3. ``message`` — a ``heartbeat`` message reached Django (the session's request count grew);
4. ``broadcast`` — a message POSTed to the connection through the management API, signed with
   this process's credentials, exactly as a fan-out worker sends it;
5. ``received`` — the socket received that message (matched by its ``message_id``);
6. ``disconnect`` — the socket closed and Django's ``$disconnect`` view marked the session.

A failing stage raises :class:`RoundTripFailed` naming it; the stages before it are kept.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from importlib import import_module
from typing import Any

from django.conf import settings
from django.contrib.auth import BACKEND_SESSION_KEY, HASH_SESSION_KEY, SESSION_KEY
from django.contrib.auth.base_user import AbstractBaseUser
from websockets.exceptions import InvalidHandshake, InvalidStatus
from websockets.typing import Origin

from wsgateway.aws.clients import tls_context
from wsgateway.conf import wsgateway_settings
from wsgateway.fanout.delivery import send
from wsgateway.fanout.messages import encode_message
from wsgateway.fanout.planner import POST, make_chunk
from wsgateway.hashing import session_key_hash
from wsgateway.models import ApiGateway, WebSocketSession, WebSocketToken
from wsgateway.wsclient import connect  # its open_timeout holds over wss too

POLL_SECONDS = 0.05


@dataclass(frozen=True)
class Stage:
    """One timed stage of the round trip."""

    name: str
    seconds: float
    detail: str = ""


class RoundTripFailed(Exception):
    """A stage failed; ``stages`` holds the ones that passed before it."""

    def __init__(self, stage: str, reason: str, stages: list[Stage]) -> None:
        super().__init__(f"{stage}: {reason}")
        self.stage = stage
        self.reason = reason
        self.stages = stages


@dataclass
class _Trip:
    gateway: ApiGateway
    timeout: float
    stages: list[Stage] = field(default_factory=list)

    def timed(self, name: str, action: Callable[[], str]) -> None:
        started = time.monotonic()
        try:
            detail = action()
        except RoundTripFailed:
            raise
        except Exception as err:  # every failure becomes a line naming the stage
            raise RoundTripFailed(name, f"{type(err).__name__}: {err}", self.stages) from err
        self.stages.append(Stage(name, time.monotonic() - started, detail))

    def wait(self, name: str, condition: Callable[[], Any], what: str) -> Any:
        """Poll ``condition`` until it returns something truthy, at most ``timeout`` seconds."""
        deadline = time.monotonic() + self.timeout
        for _ in range(int(self.timeout / POLL_SECONDS) + 2):
            value = condition()
            if value:
                return value
            if time.monotonic() > deadline:
                break
            time.sleep(POLL_SECONDS)
        raise RoundTripFailed(name, f"{what} within {self.timeout:g}s", self.stages)


def _login_session(user: AbstractBaseUser) -> Any:
    """A Django session logged in as ``user`` (what a browser holds after logging in)."""
    store = import_module(settings.SESSION_ENGINE).SessionStore()
    store[SESSION_KEY] = user._meta.pk.value_to_string(user)
    store[BACKEND_SESSION_KEY] = settings.AUTHENTICATION_BACKENDS[0]
    store[HASH_SESSION_KEY] = user.get_session_auth_hash()
    store.save()
    return store


def round_trip(
    gateway: ApiGateway,
    user: AbstractBaseUser,
    *,
    origin: str | None = None,
    send_cookie: bool = True,
    timeout: float = 10.0,
) -> list[Stage]:
    """Run the six stages against ``gateway``; return them timed or raise :class:`RoundTripFailed`."""
    url = gateway.websocket_url
    if not url:
        raise RoundTripFailed("connect", f"gateway {gateway.pk} has no endpoint yet: provision it", [])
    if origin is None and wsgateway_settings.ALLOWED_ORIGINS:
        origin = str(wsgateway_settings.ALLOWED_ORIGINS[0])
    trip = _Trip(gateway, timeout)
    store = _login_session(user)
    try:
        query = ""
        if wsgateway_settings.REQUIRE_TOKEN:
            token = WebSocketToken.generate_token(user, store.session_key).token  # the raw value
            query = f"?{wsgateway_settings.TOKEN_QUERY_PARAM}={token}"
        headers = {"Cookie": f"{settings.SESSION_COOKIE_NAME}={store.session_key}"} if send_cookie else {}
        started = time.time()
        opened = time.monotonic()
        try:
            with connect(
                url + query,
                origin=Origin(origin) if origin else None,
                additional_headers=headers,
                open_timeout=timeout,
                # wss: trust what boto3 and the fan-out client trust (AWS_CA_BUNDLE or the system).
                ssl=tls_context() if url.startswith("wss://") else None,
            ) as socket:
                trip.stages.append(Stage("connect", time.monotonic() - opened, url))
                _exchange(trip, socket, user, store.session_key if send_cookie else None, started)
        except InvalidStatus as err:
            body = err.response.body.decode(errors="replace")[:300] if err.response.body else ""
            reason = f"refused with HTTP {err.response.status_code} {body}".strip()
            raise RoundTripFailed("connect", reason, trip.stages) from err
        except (OSError, TimeoutError, InvalidHandshake) as err:
            raise RoundTripFailed("connect", f"{type(err).__name__}: {err}", trip.stages) from err
    finally:
        store.delete()
    return trip.stages


def _exchange(
    trip: _Trip, socket: Any, user: AbstractBaseUser, session_key: str | None, started: float
) -> None:
    """Stages 2 to 6 on an open socket."""
    from datetime import UTC, datetime

    sessions = WebSocketSession.objects.filter(api_gateway=trip.gateway, user_id=user.pk)
    if session_key:
        sessions = sessions.filter(session_key_hash=session_key_hash(session_key))
    since = datetime.fromtimestamp(started - 1, tz=UTC)
    holder: dict[str, WebSocketSession] = {}

    def recorded() -> str:
        session = trip.wait(
            "recorded",
            lambda: (
                sessions.filter(connected=True, connected_at__gte=since).order_by("-connected_at").first()
            ),
            "Django recorded no session",
        )
        holder["session"] = session
        return f"connection {session.connection_id}"

    trip.timed("recorded", recorded)
    session = holder["session"]

    def session_is(**lookup: Any) -> Callable[[], bool]:
        return lambda: WebSocketSession.objects.filter(pk=session.pk, **lookup).exists()

    def message() -> str:
        socket.send(json.dumps({"action": "heartbeat"}))
        trip.wait(
            "message", session_is(request_count__gt=session.request_count), "the message did not reach Django"
        )
        return "heartbeat"

    trip.timed("message", message)
    message_id = _broadcast(trip, session)

    def received() -> str:
        deadline = time.monotonic() + trip.timeout
        for _ in range(100):  # other messages (e.g. a handler's answer) may come first
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                break
            raw = socket.recv(timeout=remaining)
            try:
                if json.loads(raw).get("message_id") == message_id:
                    return f"message {message_id}"
            except (ValueError, AttributeError):
                continue
        raise RoundTripFailed("received", f"message {message_id} did not arrive", trip.stages)

    trip.timed("received", received)

    def disconnect() -> str:
        socket.close()
        trip.wait("disconnect", session_is(connected=False), "Django did not mark the session disconnected")
        return ""

    trip.timed("disconnect", disconnect)


def _broadcast(trip: _Trip, session: WebSocketSession) -> str:
    """POST a check message to the connection through the management API, as fan-out does."""
    message_id, body = encode_message({"type": "wsgateway.check", "gateway": trip.gateway.pk})
    chunk = make_chunk(
        message_id=message_id,
        op=POST,
        body=body,
        endpoint=trip.gateway.management_endpoint_url,
        chunk="check",
        connections=[[session.connection_id, session.created_on.timestamp()]],
    )

    def post() -> str:
        answer = send(chunk, [session.connection_id])[0]
        if not 200 <= answer.status < 300:
            reason = f"the management API answered {answer.status or 'nothing'} {answer.error_type or ''}"
            raise RoundTripFailed("broadcast", reason.strip(), trip.stages)
        return trip.gateway.management_endpoint_url

    trip.timed("broadcast", post)
    return message_id
