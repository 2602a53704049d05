"""Management commands: reference names plus the new operations; --here runs in-process, --wait
follows a chain run by a real worker."""

from __future__ import annotations

from datetime import timedelta
from io import StringIO
from typing import Any

import pytest
from celery.contrib.testing.worker import start_worker
from django.contrib.auth import get_user_model
from django.core.management import CommandError, call_command
from django.utils import timezone

from tests.celery_app import app
from wsgateway.models import ApiGateway, ConnectionRateLimit, WebSocketSession, WebSocketToken

from .conftest import count_resources


def run(name: str, *args: str) -> str:
    out = StringIO()
    call_command(name, *args, stdout=out)
    return out.getvalue()


@pytest.mark.django_db
def test_create_sync_redeploy_rotate_delete_here(aws: Any, gateway: ApiGateway) -> None:
    pk = str(gateway.pk)
    output = run("createApiGateway", "--pk", pk, "--here")
    assert "create_api: created" in output and "deploy: created" in output and "Done." in output
    gateway.refresh_from_db()
    assert gateway.provisioning_status == "deployed"
    aws.update_api(ApiId=gateway.api_id, Description="console")
    output = run("syncApiGateway", "--pk", pk, "--from-aws", "--here")
    assert "differs: api_description: row='Chat' aws='console'" in output
    output = run("syncApiGateway", "--pk", pk, "--here")
    assert "deploy: reused" in output  # nothing changed: no new deployment
    output = run("redeployApiGateway", "--pk", pk, "--here")
    assert "deploy:force: created" in output
    assert count_resources(aws, gateway.api_id)["deployments"] == 2
    assert "rotate_secret: reused" in run("rotateGatewaySecret", "--pk", pk, "--here")
    with pytest.raises(CommandError, match="--from-aws"):
        run("deleteApiGateway", "--pk", pk)
    run("deleteApiGateway", "--pk", pk, "--from-aws", "--here")
    gateway.refresh_from_db()
    assert gateway.provisioning_status == "deleted" and aws.get_apis()["Items"] == []


@pytest.mark.django_db
def test_errors_are_command_errors(aws: Any, gateway: ApiGateway) -> None:
    with pytest.raises(CommandError, match="No ApiGateway with pk 999"):
        run("createApiGateway", "--pk", "999")
    with pytest.raises(CommandError, match="the API does not exist yet: run 'Provision' first"):
        run("redeployApiGateway", "--pk", str(gateway.pk))  # refused before anything is queued
    gateway.refresh_from_db()
    assert gateway.provisioning_status == "pending"
    with pytest.raises(CommandError, match="chat-api is not ready for a custom domain, or already has one"):
        run("createCustomDomain", "--pk", str(gateway.pk), "--here")
    ApiGateway.objects.filter(pk=gateway.pk).update(
        provisioning_lock="someone", provisioning_locked_at=timezone.now()
    )
    with pytest.raises(CommandError, match="locked by run someone"):
        run("createApiGateway", "--pk", str(gateway.pk), "--here")


@pytest.mark.slow
@pytest.mark.timeout(60)
@pytest.mark.django_db(transaction=True)
def test_wait_follows_the_chain_on_a_worker(aws: Any, gateway: ApiGateway) -> None:
    with start_worker(
        app,
        pool="solo",
        concurrency=1,
        perform_ping_check=False,
        queues=["provisioning"],
        shutdown_timeout=10,
    ):
        output = run("createApiGateway", "--pk", str(gateway.pk), "--wait", "--timeout", "30")
    lines = output.splitlines()
    assert lines[0].startswith(f"Queued create_gateway of gateway {gateway.pk}")
    steps = [line.split(":")[0].strip() for line in lines[1:-1]]
    assert steps == [
        "lock",
        "create_api",
        "integrations",
        "routes",
        "additional_routes",
        "stage",
        "deploy",
        "finish",
    ]
    assert lines[-1] == "Done."


@pytest.mark.django_db
def test_clear_sessions_and_cleanup_tokens() -> None:
    WebSocketSession.objects.create(connection_id="a=", connected=True)
    WebSocketSession.objects.create(connection_id="b=", connected=False)
    assert run("clearWebSocketSessions") == "Deleted 1 WebSocket session row(s).\n"
    assert run("clearWebSocketSessions", "--all") == "Deleted 1 WebSocket session row(s).\n"
    user = get_user_model().objects.create_user("u", password="x")
    WebSocketToken.generate_token(user, "s1")
    WebSocketToken.generate_token(user, "s2")
    WebSocketToken.objects.filter(session_key__isnull=False).update(
        created_at=timezone.now() - timedelta(seconds=100)
    )
    ConnectionRateLimit.objects.create(
        ip_address="192.0.2.1", attempt_time=timezone.now() - timedelta(days=3)
    )
    # The reference's flags: --token-age seconds, --rate-limit-age days; both tables are cleaned.
    out = run("cleanupWebSocketTokens", "--token-age", "200", "--rate-limit-age", "5")
    assert "Successfully deleted 0 expired WebSocket tokens (older than 200s)" in out
    assert "Successfully deleted 0 old rate limit records (older than 5 days)" in out
    out = run("cleanupWebSocketTokens", "--token-age", "50", "--rate-limit-age", "2")
    assert "Successfully deleted 2 expired WebSocket tokens (older than 50s)" in out
    assert "Successfully deleted 1 old rate limit records (older than 2 days)" in out
    assert not WebSocketToken.objects.exists() and not ConnectionRateLimit.objects.exists()
    with pytest.raises(CommandError):
        run("cleanupWebSocketTokens", "--token-age", "-1")
