"""Provisioning through the real broker (Redis) and a Celery worker in this process, against the
emulator; the provisioned API then carries a real WebSocket client to Django (live server)."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
import websockets.sync.client
from celery.contrib.testing.worker import start_worker
from celery.signals import before_task_publish
from django.db import transaction
from django.utils import timezone

from tests import waiting
from tests.celery_app import app
from wsgateway.models import ApiGateway, ApiGatewayAdditionalRoute, WebSocketSession

from .conftest import count_resources

pytestmark = [pytest.mark.slow, pytest.mark.django_db(transaction=True), pytest.mark.timeout(90)]

WAIT = 30.0


@pytest.fixture
def worker(aws: Any) -> Iterator[None]:
    """A Celery worker on the ``provisioning`` queue in this process (pool solo)."""
    with start_worker(
        app,
        pool="solo",
        concurrency=1,
        perform_ping_check=False,
        queues=["provisioning"],
        shutdown_timeout=10,
    ):
        yield


def wait_until(predicate: Any, timeout: float = WAIT, what: str = "condition") -> None:
    """Poll ``predicate`` until true (bounded), with this module's default timeout."""
    waiting.wait_until(predicate, timeout, what)


def status_of(pk: int) -> str:
    return ApiGateway.objects.values_list("provisioning_status", flat=True).get(pk=pk)


def test_create_gateway_runs_the_chain_on_the_worker_and_routes_follow_their_rows(
    aws: Any, worker: None, gateway: ApiGateway
) -> None:
    with transaction.atomic():
        handle = gateway.create_gateway()
        assert status_of(gateway.pk) == "queued"
    final = handle.result.get(timeout=WAIT)
    assert final["step"] == "finish:create_gateway" and final["status"] == "deployed"
    gateway.refresh_from_db()
    assert gateway.provisioning_status == "deployed" and gateway.api_created
    assert count_resources(aws, gateway.api_id)["deployments"] == 1

    # A new row on a deployed gateway is created in AWS and deployed (save() enqueues on commit).
    route = ApiGatewayAdditionalRoute.objects.create(
        api_gateway=gateway, name="Chat", route_key="chat", integration_url="http://127.0.0.1:9/ws/chat"
    )
    wait_until(lambda: ApiGatewayAdditionalRoute.objects.get(pk=route.pk).deployed, what="route deployed")
    route.refresh_from_db()
    assert route.provisioning_status == "deployed" and route.route_id and route.integration_id
    assert aws.get_route(ApiId=gateway.api_id, RouteId=route.route_id)["RouteKey"] == "chat"
    assert count_resources(aws, gateway.api_id)["deployments"] == 2

    # Update follows the row.
    route.integration_url = "http://127.0.0.1:9/ws/talk"
    route.route_key = "talk"
    route.save()

    def updated() -> bool:
        routes = {r["RouteKey"] for r in aws.get_routes(ApiId=gateway.api_id)["Items"]}
        uri = aws.get_integration(ApiId=gateway.api_id, IntegrationId=route.integration_id)["IntegrationUri"]
        return "talk" in routes and "chat" not in routes and uri.endswith("/ws/talk")

    wait_until(updated, what="route updated in AWS")

    # Delete follows the row: the route and its integration go.
    route.delete()

    def deleted() -> bool:
        counts = count_resources(aws, gateway.api_id)
        return counts["routes"] == 3 and counts["integrations"] == 3

    wait_until(deleted, what="route deleted in AWS")
    wait_until(lambda: ApiGateway.objects.get(pk=gateway.pk).provisioning_lock == "", what="lock released")


def test_provisioned_api_carries_a_websocket_client_to_django(
    aws: Any, worker: None, live_server: Any, settings: Any
) -> None:
    settings.WSGATEWAY = {**settings.WSGATEWAY, "REQUIRE_TOKEN": False}
    gateway = ApiGateway.objects.create(
        api_name="live",
        target_base_endpoint=f"{live_server.url}/ws/",
        stage_name="live",
        default_channel_name="lobby",
    )
    handle = gateway.create_gateway()
    handle.result.get(timeout=WAIT)
    gateway.refresh_from_db()
    assert gateway.websocket_url.startswith("ws://127.0.0.1:")
    with websockets.sync.client.connect(gateway.websocket_url, open_timeout=10) as socket:
        wait_until(
            lambda: WebSocketSession.objects.filter(api_gateway=gateway, connected=True).exists(),
            what="session",
        )
        socket.send('{"action": "ping"}')
    session = WebSocketSession.objects.get(api_gateway=gateway)
    assert session.channel_name == "lobby"
    wait_until(
        lambda: not WebSocketSession.objects.get(pk=session.pk).connected, what="$disconnect reached Django"
    )


def test_a_run_that_finds_the_row_locked_ends_its_chain(aws: Any, worker: None, gateway: ApiGateway) -> None:
    ApiGateway.objects.filter(pk=gateway.pk).update(
        provisioning_lock="other-run", provisioning_locked_at=timezone.now()
    )
    published: list[str] = []

    def record(sender: Any = None, headers: Any = None, **kwargs: Any) -> None:
        published.append((headers or {}).get("id", ""))

    before_task_publish.connect(record, weak=False)
    try:
        handle = gateway.create_gateway()
        first, second = handle.step_results()[:2]
        assert first.get(timeout=WAIT)["message"] == "locked by run other-run"
    finally:
        before_task_publish.disconnect(record)
    # Celery publishes the next task of a chain before it stores the result of the current one,
    # so once the first result is in, a continued chain would already show here.
    assert first.id in published and second.id not in published
    assert second.state == "PENDING"  # the rest of the chain was never sent
    assert aws.get_apis()["Items"] == []
