"""Fixtures of the subscription and presence tests: a gateway, users, sessions written the way
the view writes them, the real Redis broker to count the member events that were enqueued."""

from __future__ import annotations

import itertools
import json
from collections.abc import Iterator
from typing import Any

import pytest
import redis
from django.contrib.auth.models import User
from django.test import override_settings

from tests.ingestion.conftest import queued_tasks
from wsgateway.models import ApiGateway, WebSocketSession

#: Channels matching this pattern have member events in these tests.
PRESENCE_PATTERN = "presence-*"

_ids = itertools.count(1)


def wsgateway_overrides(**changes: Any) -> Any:
    """``override_settings`` of some WSGATEWAY keys, keeping the others."""
    from django.conf import settings

    return override_settings(WSGATEWAY={**settings.WSGATEWAY, **changes})


@pytest.fixture
def presence_channels() -> Iterator[None]:
    """Member events on ``presence-*`` channels."""
    with wsgateway_overrides(PRESENCE_CHANNELS=[PRESENCE_PATTERN]):
        yield


@pytest.fixture
def gateway(db: None) -> ApiGateway:
    return ApiGateway.objects.create(
        api_name="subs",
        api_id="subs123456",
        api_endpoint="wss://subs123456.execute-api.us-east-1.amazonaws.com",
        stage_name="production",
        api_created=True,
    )


def make_user(name: str) -> User:
    return User.objects.create_user(name, password=f"pw-{name}")


def open_session(gateway: ApiGateway | None, channel: str, user: User | None = None) -> WebSocketSession:
    """A live session row, as ``$connect`` writes it (without the presence bookkeeping)."""
    return WebSocketSession.objects.create(
        connection_id=f"conn-{next(_ids)}=", channel_name=channel, user=user, api_gateway=gateway
    )


def member_events(broker: redis.Redis, event: str | None = None) -> list[dict[str, Any]]:
    """The member events enqueued on the broker (decoded bodies), oldest first."""
    found = []
    for task, args, _kwargs in reversed(queued_tasks(broker)):  # LPUSH: newest first
        if task != "wsgateway.send_to_sessions":
            continue
        body = json.loads(args[2])
        if body.get("type") in ("member_added", "member_removed") and event in (None, body["type"]):
            found.append(body)
    return found


@pytest.fixture
def broker(clean_redis: redis.Redis) -> redis.Redis:
    """The real Redis broker, emptied: the tasks enqueued after commit wait there (no worker)."""
    return clean_redis
