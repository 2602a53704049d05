"""Fixtures for the ingestion tests: a gateway, users with sessions, and an event client that
speaks to the view the way API Gateway does (headers of section 4 of the design)."""

from __future__ import annotations

import base64
import itertools
import json
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

import pytest
import redis
from django.conf import settings
from django.contrib.auth.models import User
from django.core.cache import cache
from django.test import Client

from tests.gateway_rows import event_gateway_fields
from wsgateway.models import ApiGateway, WebSocketToken

SECRET = "test-secret-current"
PREVIOUS_SECRET = "test-secret-previous"
API_ID = "abc123defg"
ORIGIN = "https://app.example.com"
CLIENT_IP = "203.0.113.7"

_ids = itertools.count(1)


def wsgateway(**overrides: Any) -> dict[str, Any]:
    """The test settings' ``WSGATEWAY`` dict with ``overrides``, for ``override_settings``."""
    from tests import settings as test_settings

    return {**test_settings.WSGATEWAY, **overrides}


def new_connection_id() -> str:
    """A fresh id shaped like AWS's (base64, 16 characters)."""
    return base64.b64encode(next(_ids).to_bytes(11, "big")).decode()


@dataclass
class EventClient:
    """Posts events to the WebSocket view as API Gateway would (no cookie jar of its own)."""

    client: Client
    api_id: str = API_ID
    secret: str | None = SECRET
    base: str = "/ws/"

    def headers(self, connection_id: str | None, extra: dict[str, str] | None = None) -> dict[str, str]:
        headers = {"X-Amzn-Apigateway-Api-Id": self.api_id, "X-Forwarded-For": CLIENT_IP}
        if self.secret is not None:
            headers["X-Ws-Gateway-Secret"] = self.secret
        if connection_id is not None:
            headers["Connectionid"] = connection_id
        headers.update(extra or {})
        return {k: v for k, v in headers.items() if v is not None}

    def connect(
        self,
        connection_id: str | None = None,
        *,
        token: str | None = None,
        channel: str | None = None,
        session_key: str | None = None,
        origin: str | None = ORIGIN,
        query: str | None = None,
        **extra: Any,
    ) -> Any:
        params = []
        if token is not None:
            params.append(f"token={token}")
        if channel is not None:
            params.append(f"channel={channel}")
        qs = query if query is not None else "&".join(params)
        hdrs: dict[str, Any] = {"Origin": origin, **extra}
        if session_key is not None:
            hdrs["Cookie"] = f"{settings.SESSION_COOKIE_NAME}={session_key}"
        url = f"{self.base}connect" + (f"?{qs}" if qs else "")
        return self.client.post(url, data=b"", content_type="", headers=self.headers(connection_id, hdrs))

    def open(self, browser: Browser, connection_id: str | None = None, **kwargs: Any) -> Any:
        """``$connect`` from ``browser`` with a fresh token (and a fresh connection id)."""
        cid = connection_id if connection_id is not None else new_connection_id()
        return self.connect(cid, token=browser.token(), session_key=browser.session_key, **kwargs)

    def message(
        self, connection_id: str, body: Any, *, route: str = "default", raw: bytes | None = None, **extra: Any
    ) -> Any:
        data = raw if raw is not None else json.dumps(body).encode()
        return self.client.post(
            f"{self.base}{route}",
            data=data,
            content_type="application/json",
            headers=self.headers(connection_id, {"User-Agent": f"AmazonAPIGateway_{self.api_id}", **extra}),
        )

    def disconnect(self, connection_id: str, **extra: Any) -> Any:
        return self.client.post(
            f"{self.base}disconnect", data=b"", content_type="", headers=self.headers(connection_id, extra)
        )


@dataclass
class Browser:
    """A logged-in user's browser: its Django session and a way to get tokens."""

    user: User
    client: Client
    tokens: list[str] = field(default_factory=list)

    @property
    def session_key(self) -> str:
        return str(self.client.cookies[settings.SESSION_COOKIE_NAME].value)

    def token(self) -> str:
        value = WebSocketToken.generate_token(self.user, self.session_key).token
        self.tokens.append(value)
        return value


@pytest.fixture(autouse=True)
def _project_urls(settings: Any) -> None:
    # The app's URLs plus a project's subclass of the view at /custom/ws/.
    settings.ROOT_URLCONF = "tests.ingestion.urls"


@pytest.fixture(autouse=True)
def _fresh_cache() -> Iterator[None]:
    # The gateway cache lives in the default (per-process) cache; tests must not share entries.
    cache.clear()
    yield
    cache.clear()


@pytest.fixture
def gateway(db: None) -> ApiGateway:
    return ApiGateway.objects.create(api_name="test-api", **event_gateway_fields(API_ID))


@pytest.fixture
def events(gateway: ApiGateway) -> EventClient:
    return EventClient(Client())


def make_browser(username: str, **fields: Any) -> Browser:
    user = User.objects.create_user(username, password="pw-" + username, **fields)
    client = Client()
    client.force_login(user)
    return Browser(user, client)


@pytest.fixture
def browser(db: None) -> Browser:
    return make_browser("alice")


@pytest.fixture
def connected(events: EventClient, browser: Browser) -> str:
    """The connection id of a live session of ``browser``'s user."""
    connection_id = new_connection_id()
    response = events.connect(connection_id, token=browser.token(), session_key=browser.session_key)
    assert response.status_code == 200, response.content
    return connection_id


def error_code(response: Any) -> str:
    payload = json.loads(response.content)
    assert set(payload) == {"error", "message"}, payload
    return str(payload["error"])


def queued_tasks(client: redis.Redis, queue: str = "fanout") -> list[tuple[str, list[Any], dict[str, Any]]]:
    """The Celery tasks waiting in a Redis queue: (task name, args, kwargs)."""
    found = []
    for raw in client.lrange(queue, 0, -1):
        message = json.loads(raw)
        body = json.loads(base64.b64decode(message["body"]))
        found.append((message["headers"]["task"], body[0], body[1]))
    return found


@pytest.fixture
def broker(clean_redis: redis.Redis) -> redis.Redis:
    """The real Redis broker, emptied. Wrap requests in ``django_capture_on_commit_callbacks(
    execute=True)`` so their on-commit enqueues run inside the test's transaction."""
    return clean_redis
