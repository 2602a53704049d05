"""The admin through its own views: actions enqueue on the real broker and say what they queued."""

from __future__ import annotations

import base64
import json
from typing import Any

import pytest
from django.contrib.auth import get_user_model
from django.test import Client
from django.urls import reverse

from wsgateway.models import (
    ApiGateway,
    ApiGatewayAdditionalRoute,
    ChannelPermission,
    ConnectionRateLimit,
    WebSocketSession,
    WebSocketToken,
)

from .conftest import CERT_ARN

pytestmark = pytest.mark.django_db


@pytest.fixture
def admin_client_logged_in(db: Any) -> Client:
    user = get_user_model().objects.create_superuser("root", "root@example.com", "pw")
    client = Client()
    client.force_login(user)
    return client


def queued_tasks(redis_client: Any, queue: str) -> list[dict[str, Any]]:
    """The messages waiting in a kombu Redis queue (a list named after the queue), bodies decoded."""
    messages = [json.loads(raw) for raw in redis_client.lrange(queue, 0, -1)]
    for message in messages:
        message["args"] = json.loads(base64.b64decode(message["body"]))
    return messages


ACTIONS = {
    "create_api_gateway": "lock:create_gateway",
    "create_custom_domain": "lock:create_custom_domain",
    "redeploy": "lock:redeploy",
    "sync_to_aws": "lock:sync_to_aws",
    "sync_from_aws": "lock:sync_from_aws",
    "rotate_secret": "lock:rotate_secret",
    "delete_from_aws": "lock:delete_from_aws",
    "delete_from_aws_and_row": "lock:delete_gateway",
}


@pytest.mark.parametrize(("action", "first_step"), list(ACTIONS.items()))
def test_each_action_enqueues_a_run_on_the_provisioning_queue(
    action: str,
    first_step: str,
    admin_client_logged_in: Client,
    gateway: ApiGateway,
    clean_redis: Any,
    django_capture_on_commit_callbacks: Any,
) -> None:
    # Deployed and able to take a custom domain, so every action has something to queue.
    deployed = dict(api_created=True, deployment_id="dep1", provisioning_status="deployed")
    if action == "create_api_gateway":
        deployed = {}
    ApiGateway.objects.filter(pk=gateway.pk).update(
        api_id="abc123defg", domain_name="ws.example.com", certificate_arn=CERT_ARN, **deployed
    )
    url = reverse("admin:wsgateway_apigateway_changelist")
    with django_capture_on_commit_callbacks(execute=True):
        answer = admin_client_logged_in.post(
            url, {"action": action, "_selected_action": [gateway.pk]}, follow=True
        )
    assert answer.status_code == 200
    text = [str(m) for m in answer.context["messages"]]
    assert len(text) == 1 and text[0].startswith("chat-api: queued ") and " (run " in text[0]
    gateway.refresh_from_db()
    assert gateway.provisioning_status == "queued"
    tasks = queued_tasks(clean_redis, "provisioning")
    assert len(tasks) == 1
    assert tasks[0]["headers"]["task"] == "wsgateway.provisioning_step"
    positional = tasks[0]["args"][0]
    run_id = text[0].split("(run ")[1].split(")")[0]
    assert positional == [None, gateway.pk, run_id, first_step]
    remaining = [sig["args"][-1] for sig in tasks[0]["args"][2]["chain"]]
    assert remaining[0].startswith(("finish:", "delete_row"))  # the chain is kept last step first


def test_changelist_shows_status_ids_and_filters(admin_client_logged_in: Client, gateway: ApiGateway) -> None:
    ApiGateway.objects.filter(pk=gateway.pk).update(
        provisioning_status="failed", last_error="step stage: BadRequestException: nope", api_id="abc123defg"
    )
    url = reverse("admin:wsgateway_apigateway_changelist")
    page = admin_client_logged_in.get(url, {"provisioning_status__exact": "failed"}).content.decode()
    assert "abc123defg" in page and "Failed" in page
    assert (
        admin_client_logged_in.get(url, {"provisioning_status__exact": "deployed"}).context["cl"].result_count
        == 0
    )
    change = admin_client_logged_in.get(reverse("admin:wsgateway_apigateway_change", args=[gateway.pk]))
    assert "step stage: BadRequestException: nope" in change.content.decode()


def test_every_model_has_an_admin_page(admin_client_logged_in: Client, gateway: ApiGateway) -> None:
    user = get_user_model().objects.get()
    WebSocketSession.objects.create(connection_id="abc=", channel_name="room", api_gateway=gateway, user=user)
    WebSocketToken.generate_token(user, "session-key")
    ConnectionRateLimit.record_attempt("10.0.0.1", user)
    ChannelPermission.objects.create(channel_name="room")
    ApiGatewayAdditionalRoute.objects.create(
        api_gateway=gateway, name="Chat", route_key="chat", integration_url="http://127.0.0.1:9/ws/chat"
    )
    for model in (
        "apigateway",
        "apigatewayadditionalroute",
        "websocketsession",
        "websockettoken",
        "connectionratelimit",
        "channelpermission",
    ):
        answer = admin_client_logged_in.get(reverse(f"admin:wsgateway_{model}_changelist"))
        assert answer.status_code == 200, model
    token = WebSocketToken.objects.get()
    page = admin_client_logged_in.get(reverse("admin:wsgateway_websockettoken_change", args=[token.pk]))
    assert token.token not in page.content.decode()  # not even the hash is shown
    assert admin_client_logged_in.get(reverse("admin:wsgateway_websockettoken_add")).status_code == 403


def test_disconnect_action_enqueues_delete_for_live_sessions_only(
    admin_client_logged_in: Client,
    gateway: ApiGateway,
    clean_redis: Any,
    django_capture_on_commit_callbacks: Any,
) -> None:
    live = WebSocketSession.objects.create(connection_id="live=", api_gateway=gateway)
    gone = WebSocketSession.objects.create(connection_id="gone=", api_gateway=gateway, connected=False)
    url = reverse("admin:wsgateway_websocketsession_changelist")
    with django_capture_on_commit_callbacks(execute=True):
        answer = admin_client_logged_in.post(
            url, {"action": "disconnect", "_selected_action": [live.pk, gone.pk]}, follow=True
        )
    text = [str(m) for m in answer.context["messages"]]
    assert text == ["Queued disconnection of 1 connection(s) (1 already disconnected)."]
    tasks = queued_tasks(clean_redis, "fanout")
    assert len(tasks) == 1 and tasks[0]["headers"]["task"] == "wsgateway.disconnect"
    assert tasks[0]["args"][1]["connection_id"] == "live="


def test_a_row_that_cannot_run_the_action_is_reported_and_nothing_is_queued(
    admin_client_logged_in: Client,
    gateway: ApiGateway,
    clean_redis: Any,
    django_capture_on_commit_callbacks: Any,
) -> None:
    ready = ApiGateway.objects.create(api_name="ready", target_base_endpoint="http://127.0.0.1:9/ws/")
    ApiGateway.objects.filter(pk=gateway.pk).update(target_base_endpoint=None)
    url = reverse("admin:wsgateway_apigateway_changelist")
    with django_capture_on_commit_callbacks(execute=True):
        answer = admin_client_logged_in.post(
            url, {"action": "create_api_gateway", "_selected_action": [gateway.pk, ready.pk]}, follow=True
        )
    text = sorted(str(m) for m in answer.context["messages"])
    assert len(text) == 2
    assert text[0] == "chat-api: target_base_endpoint is required to create the API Gateway"
    assert text[1].startswith("ready: queued API creation (run ")
    gateway.refresh_from_db()
    assert gateway.provisioning_status == "pending"
    assert len(queued_tasks(clean_redis, "provisioning")) == 1
