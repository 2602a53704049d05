"""The reference's management commands under their names, flags and output, on wsgateway's runs:
``updateApiGatewayIntegrations`` against the emulator, the refusals of ``createApiGateway`` /
``createCustomDomain``, and ``cleanupWebSocketTokens``' default age."""

# ruff: noqa: F811  (pytest fixtures imported from the provisioning tests are parameters here)

from __future__ import annotations

from datetime import timedelta
from io import StringIO
from typing import Any

import pytest
from django.contrib.auth import get_user_model
from django.core.management import CommandError, call_command
from django.utils import timezone

# The provisioning tests' fixtures: the emulator as the control plane, and a gateway row.
from tests.provisioning.conftest import aws, count_resources, gateway, wsgateway_overrides  # noqa: F401
from tests.provisioning.test_admin import queued_tasks
from wsgateway.aws import clear_client_cache
from wsgateway.emulator.pytest_plugin import emulator, recording_backend  # noqa: F401
from wsgateway.models import ApiGateway, WebSocketToken

pytestmark = pytest.mark.django_db

OLD_SECRET = "old-secret-0123456789abcdefghijklmnopqrstuvwxyz"
NEW_SECRET = "new-secret-0123456789abcdefghijklmnopqrstuvwxyz"
SECRET_PARAMETER = "integration.request.header.X-Ws-Gateway-Secret"


def run(name: str, *args: str) -> str:
    out = StringIO()
    call_command(name, *args, stdout=out, stderr=StringIO())
    return out.getvalue()


def use_secrets(settings: Any, *secrets: str) -> None:
    settings.WSGATEWAY = {**settings.WSGATEWAY, "GATEWAY_SECRETS": list(secrets)}
    clear_client_cache()


def secrets_on(aws: Any, api_id: str) -> set[str]:
    return {i["RequestParameters"][SECRET_PARAMETER] for i in aws.get_integrations(ApiId=api_id)["Items"]}


def test_update_integrations_dry_run_then_here_then_up_to_date(
    aws: Any, gateway: ApiGateway, settings: Any
) -> None:
    use_secrets(settings, OLD_SECRET)
    run("createApiGateway", "--pk", str(gateway.pk), "--here")
    gateway.refresh_from_db()
    assert secrets_on(aws, gateway.api_id) == {f"'{OLD_SECRET}'"}
    deployments = count_resources(aws, gateway.api_id)["deployments"]

    use_secrets(settings, NEW_SECRET, OLD_SECRET)  # the new one first, the old one still accepted
    output = run("updateApiGatewayIntegrations", "--dry-run")
    ids = {gateway.connect_integration_id, gateway.disconnect_integration_id, gateway.default_integration_id}
    assert output.splitlines() == [f"chat-api: would update {i}" for i in sorted(ids, key=output.index)]
    assert NEW_SECRET not in output and OLD_SECRET not in output
    assert secrets_on(aws, gateway.api_id) == {f"'{OLD_SECRET}'"}  # nothing changed

    output = run("updateApiGatewayIntegrations", "--pk", str(gateway.pk), "--here")
    assert "rotate_secret: updated" in output and "deploy: created" in output
    assert secrets_on(aws, gateway.api_id) == {f"'{NEW_SECRET}'"}
    assert count_resources(aws, gateway.api_id)["deployments"] == deployments + 1
    assert run("updateApiGatewayIntegrations", "--dry-run") == "chat-api: every integration is up to date\n"


def test_update_integrations_enqueues_one_run_per_created_gateway(
    gateway: ApiGateway, settings: Any, clean_redis: Any, django_capture_on_commit_callbacks: Any
) -> None:
    use_secrets(settings, NEW_SECRET)
    ApiGateway.objects.filter(pk=gateway.pk).update(api_id="abc123defg", api_created=True)
    ApiGateway.objects.create(api_name="never-created", target_base_endpoint="http://127.0.0.1:9/ws/")
    with django_capture_on_commit_callbacks(execute=True):
        output = run("updateApiGatewayIntegrations")
    assert output.startswith(f"Queued rotate_secret of gateway {gateway.pk} (chat-api): run ")
    [task] = queued_tasks(clean_redis, "provisioning")
    assert task["args"][0][1:] == [gateway.pk, output.split("run ")[1].strip(), "lock:rotate_secret"]


@pytest.mark.parametrize(
    ("secrets", "message"),
    [
        (["too-short"], "at least 32 characters"),
        (["quote'in-it-0123456789abcdefghijklmnopqrstuvwxyz"], "no quotes"),
        ([], "GATEWAY_SECRETS'] is empty"),
    ],
)
def test_update_integrations_refuses_a_bad_or_missing_secret_before_anything(
    gateway: ApiGateway, settings: Any, clean_redis: Any, secrets: list[str], message: str
) -> None:
    ApiGateway.objects.filter(pk=gateway.pk).update(api_id="abc123defg", api_created=True)
    use_secrets(settings, *secrets)
    with pytest.raises(CommandError, match=message):
        run("updateApiGatewayIntegrations")
    assert queued_tasks(clean_redis, "provisioning") == []


def test_create_commands_refuse_what_does_not_apply(gateway: ApiGateway, clean_redis: Any) -> None:
    ApiGateway.objects.filter(pk=gateway.pk).update(
        api_id="abc123defg", api_created=True, deployment_id="d1", provisioning_status="mapped"
    )
    with pytest.raises(CommandError, match=r"^chat-api is already created$"):
        run("createApiGateway", "--pk", str(gateway.pk))
    with pytest.raises(
        CommandError, match=r"^chat-api is not ready for a custom domain, or already has one$"
    ):
        run("createCustomDomain", "--pk", str(gateway.pk))
    assert queued_tasks(clean_redis, "provisioning") == []


def test_cleanup_tokens_never_deletes_a_token_that_is_still_valid(settings: Any) -> None:
    settings.WSGATEWAY = wsgateway_overrides(TOKEN_MAX_AGE_SECONDS=900)
    user = get_user_model().objects.create_user("alice")
    WebSocketToken.generate_token(user, "session-a")
    WebSocketToken.objects.update(created_at=timezone.now() - timedelta(seconds=400))
    output = run("cleanupWebSocketTokens")
    assert "Successfully deleted 0 expired WebSocket tokens (older than 900s)" in output
    assert "Successfully deleted 0 old rate limit records (older than 7 days)" in output
    assert WebSocketToken.objects.count() == 1
    assert "Successfully deleted 1 expired WebSocket tokens (older than 300s)" in run(
        "cleanupWebSocketTokens", "--token-age", "300"
    )
