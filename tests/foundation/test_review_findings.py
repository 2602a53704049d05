"""Behaviour the foundation must have that a review found missing (each test fails before its fix)."""

from __future__ import annotations

import socket
import threading
from collections.abc import Iterator

import pytest
from botocore.config import Config
from botocore.stub import Stubber
from django.contrib.auth.models import AnonymousUser
from django.db import IntegrityError, transaction

from wsgateway import exceptions as exc
from wsgateway.aws import aws_call, clear_client_cache, get_boto3_client
from wsgateway.models import ChannelPermission, WebSocketSession


@pytest.fixture(autouse=True)
def _fresh_clients() -> Iterator[None]:
    clear_client_cache()
    yield
    clear_client_cache()


@pytest.fixture
def closing_server() -> Iterator[str]:
    """A local TCP server that accepts HTTP connections and closes them without answering."""
    server = socket.socket()
    server.bind(("127.0.0.1", 0))
    server.listen(16)
    server.settimeout(0.2)
    stop = threading.Event()

    def serve() -> None:
        while not stop.is_set():
            try:
                conn, _ = server.accept()
            except TimeoutError:
                continue
            conn.recv(65536)
            conn.close()

    thread = threading.Thread(target=serve, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.getsockname()[1]}"
    stop.set()
    thread.join(5)
    server.close()


def test_a_connection_closed_without_answer_is_a_retryable_connection_error(closing_server: str) -> None:
    # botocore raises ConnectionClosedError (an HTTPClientError, not a ConnectionError):
    # docs/architecture.md §5 says connection errors are retried, so it must not become a plain,
    # non-retryable AwsError.
    client = get_boto3_client(
        "apigatewayv2", endpoint_url=closing_server, config=Config(retries={"total_max_attempts": 1})
    )
    with pytest.raises(exc.AwsError) as err, aws_call("GetApis"):
        client.get_apis()
    assert isinstance(err.value, exc.AwsConnectionError)
    assert err.value.retryable


@pytest.mark.parametrize("code", ["Throttling", "PriorRequestNotComplete"])
def test_route53_throttling_codes_are_retryable(code: str) -> None:
    # Route 53 throttles with HTTP 400 and these codes; nothing local answers them (Stubber).
    client = get_boto3_client("route53")
    with Stubber(client) as stub:
        stub.add_client_error("get_change", service_error_code=code, http_status_code=400)
        with pytest.raises(exc.AwsError) as err, aws_call("GetChange"):
            client.get_change(Id="C123")
    assert isinstance(err.value, exc.ThrottledError)
    assert err.value.retryable


@pytest.mark.django_db
@pytest.mark.parametrize("user", [None, AnonymousUser()])
def test_for_user_without_a_user_never_selects_the_anonymous_sessions(user: object) -> None:
    # send_to_user(request.user) for a logged-out request must not reach every anonymous socket.
    WebSocketSession.objects.create(connection_id="AAAAAAAAAAAAAAA=", user=None)
    WebSocketSession.objects.create(connection_id="BBBBBBBBBBBBBBB=", user=None)
    try:
        selected = list(WebSocketSession.objects.for_user(user))
    except (ValueError, TypeError):
        return  # refusing is fine too
    assert selected == []


@pytest.mark.django_db(transaction=True)
def test_only_one_rule_per_channel() -> None:
    # Channel permissions are global: a second row for the same channel would leave
    # user_may_join to pick one of them arbitrarily.
    ChannelPermission.objects.create(channel_name="room", access=ChannelPermission.Access.STAFF_ONLY)
    with pytest.raises(IntegrityError), transaction.atomic():
        ChannelPermission.objects.create(channel_name="room", access=ChannelPermission.Access.ALLOW_ALL)


@pytest.mark.django_db
@pytest.mark.parametrize("user", [None, AnonymousUser()])
def test_sending_to_no_user_is_refused_not_a_broadcast(user: object) -> None:
    # A Target with user_id=None has no filter at all: "every live session" (fanout/targets.py).
    # send_to_user(request.user, ...) on a logged-out request must not message everyone, and
    # disconnect_user must fail in the caller, not later in the worker.
    from wsgateway import sending

    with pytest.raises((ValueError, TypeError)):
        sending.send_to_user(user, {"msg": "private"})
    with pytest.raises((ValueError, TypeError)):
        sending.disconnect_user(user)
