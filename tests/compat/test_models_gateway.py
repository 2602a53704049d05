"""ApiGateway and ApiGatewayAdditionalRoute as in django-aws-api-gateway-websockets 4.1.0, with
every AWS call enqueued: statuses, validation on save, pushes of what changed, push_to_aws=."""

from __future__ import annotations

from typing import Any

import pytest
import redis
from django.core.exceptions import ValidationError
from django.test import override_settings

from tests.compat.models_support import queued_tasks
from tests.ingestion.conftest import wsgateway
from wsgateway.exceptions import ApiGatewaySyncError
from wsgateway.models import ApiGateway, ApiGatewayAdditionalRoute, ProvisioningStatus, WebSocketSession

pytestmark = pytest.mark.django_db
Status = ApiGateway.ProvisioningStatus


def _deployed(**fields: Any) -> ApiGateway:
    values = {
        "api_name": "chat",
        "target_base_endpoint": "https://www.example.com/ws/",
        "api_id": "abc123defg",
        "api_created": True,
        "deployment_id": "dep1",
        "provisioning_status": Status.DEPLOYED,
        **fields,
    }
    return ApiGateway.objects.create(**values)


def _runs(clean_redis: redis.Redis) -> list[str]:
    """The operations of the provisioning runs waiting in the clean_redis, oldest first.

    Each run is a chain whose first task is its ``lock:<operation>`` step (kombu pushes on the
    left, so the list is read backwards)."""
    tasks = reversed(queued_tasks(clean_redis, "provisioning"))
    return [args[3].split(":", 1)[1] for _name, args, _ in tasks]


def test_status_values_are_the_references() -> None:
    assert ApiGateway.ProvisioningStatus is ProvisioningStatus
    assert {
        "PENDING": "pending",
        "CREATING": "creating",
        "API_CREATED": "api_created",
        "ROUTES_CREATED": "routes_created",
        "DEPLOYED": "deployed",
        "DOMAIN_CREATED": "domain_created",
        "MAPPED": "mapped",
    }.items() <= {m.name: m.value for m in Status}.items()
    assert ApiGateway().provisioning_status == "pending"


@pytest.mark.parametrize(
    ("status", "api_created", "domain", "effective", "needs_api", "needs_domain"),
    [
        ("pending", False, False, "pending", True, False),
        ("pending", True, False, "deployed", False, True),  # a row older than the status
        ("pending", True, True, "mapped", False, False),
        ("creating", False, False, "creating", True, False),
        ("creating", True, False, "creating", True, False),  # a claim: not known to be finished
        ("creating", True, True, "creating", True, False),
        ("api_created", False, False, "api_created", True, False),
        ("routes_created", False, False, "routes_created", True, False),
        ("deployed", True, False, "deployed", False, True),
        ("domain_created", True, True, "domain_created", False, True),
        ("mapped", True, True, "mapped", False, False),
        ("queued", True, False, "deployed", False, True),  # a push queued on a deployed API
        ("failed", False, False, "pending", True, False),
    ],
)
def test_effective_status_and_what_is_needed(
    status: str, api_created: bool, domain: bool, effective: str, needs_api: bool, needs_domain: bool
) -> None:
    gw = ApiGateway(provisioning_status=status, api_created=api_created, custom_domain_created=domain)
    assert gw.effective_provisioning_status == effective
    assert (gw.needs_api_creation, gw.needs_custom_domain) == (needs_api, needs_domain)


def test_is_deployed_needs_the_api_its_id_and_a_deployment() -> None:
    assert ApiGateway(api_created=True, api_id="a", deployment_id="d").is_deployed
    assert not ApiGateway(api_created=True, api_id="a").is_deployed
    assert not ApiGateway(api_id="a", deployment_id="d").is_deployed


def test_full_save_validates_and_writes_nothing_when_invalid() -> None:
    with pytest.raises(ValidationError) as err:
        ApiGateway(api_name="bad/name", target_base_endpoint="https://www.example.com/ws/").save()
    assert "api_name" in err.value.message_dict
    assert not ApiGateway.objects.exists()


def test_update_fields_save_skips_validation() -> None:
    gw = ApiGateway.objects.create(api_name="ok")
    gw.api_name = "bad/name"
    gw.save(update_fields=["api_name"])
    assert ApiGateway.objects.get().api_name == "bad/name"


@override_settings(WSGATEWAY=wsgateway(ALLOWED_INTEGRATION_HOSTS=["www.example.com", "*.apps.example.com"]))
@pytest.mark.parametrize(
    ("url", "ok"),
    [
        ("https://www.example.com/ws/", True),
        ("https://one.apps.example.com/ws/", True),
        ("https://apps.example.com/ws/", False),  # "*." matches sub-domains only
        ("https://evil.example.net/ws/", False),
    ],
)
def test_integration_hosts_are_checked_on_gateways_and_routes(url: str, ok: bool) -> None:
    gw = ApiGateway(api_name="hosts", target_base_endpoint=url)
    route = ApiGatewayAdditionalRoute(
        api_gateway=ApiGateway(api_name="x"), name="r", route_key="r", integration_url=url
    )
    if ok:
        gw.full_clean()
        route.clean()
        return
    with pytest.raises(ValidationError) as err:
        gw.full_clean()
    assert "target_base_endpoint" in err.value.message_dict
    with pytest.raises(ValidationError) as err:
        route.clean()
    assert "integration_url" in err.value.message_dict


def test_saving_a_deployed_gateway_enqueues_a_push_of_what_changed(
    clean_redis: redis.Redis, django_capture_on_commit_callbacks: Any
) -> None:
    gw = ApiGateway.objects.get(pk=_deployed().pk)
    with django_capture_on_commit_callbacks(execute=True):
        gw.save()  # nothing changed: nothing to push
    assert _runs(clean_redis) == [] and gw.last_push is None
    gw.target_base_endpoint = "https://www.example.com/socket/"
    with django_capture_on_commit_callbacks(execute=True):
        gw.save()
    assert _runs(clean_redis) == ["push_changes"]
    assert gw.last_push is not None and gw.last_push.operation == "push_changes"
    assert ApiGateway.objects.get().target_base_endpoint == "https://www.example.com/socket/"


@pytest.mark.parametrize(
    ("setting", "argument", "pushed"),
    [(True, None, True), (False, None, False), (False, True, True), (True, False, False)],
)
def test_push_to_aws_argument_wins_over_the_setting(
    clean_redis: redis.Redis,
    django_capture_on_commit_callbacks: Any,
    setting: bool,
    argument: bool | None,
    pushed: bool,
) -> None:
    gw = ApiGateway.objects.get(pk=_deployed().pk)
    gw.api_description = "changed"
    with (
        override_settings(WSGATEWAY=wsgateway(PUSH_CHANGES_TO_AWS=setting)),
        django_capture_on_commit_callbacks(execute=True),
    ):
        gw.save(push_to_aws=argument)
    assert _runs(clean_redis) == (["push_changes"] if pushed else [])


def test_a_gateway_not_deployed_never_pushes(
    clean_redis: redis.Redis, django_capture_on_commit_callbacks: Any
) -> None:
    gw = ApiGateway.objects.create(api_name="draft", target_base_endpoint="https://www.example.com/ws/")
    gw = ApiGateway.objects.get(pk=gw.pk)
    gw.api_description = "changed"
    with django_capture_on_commit_callbacks(execute=True):
        gw.save(push_to_aws=True)
    assert _runs(clean_redis) == []


def test_a_push_that_cannot_be_queued_keeps_the_local_change_and_raises() -> None:
    gw = ApiGateway.objects.get(pk=_deployed().pk)
    gw.api_description = "changed"
    with (
        override_settings(WSGATEWAY=wsgateway(GATEWAY_SECRETS=[])),
        pytest.raises(ApiGatewaySyncError, match="GATEWAY_SECRETS"),
    ):
        gw.save()
    assert ApiGateway.objects.get().api_description == "changed"


def test_sync_and_provisioning_methods_enqueue_and_return_handles(
    clean_redis: redis.Redis, django_capture_on_commit_callbacks: Any
) -> None:
    gw = _deployed(
        certificate_arn="arn:aws:acm:eu-west-1:123456789012:certificate/abc", domain_name="ws.example.com"
    )
    with django_capture_on_commit_callbacks(execute=True):
        handles = [gw.sync_to_aws(), gw.sync_from_aws(), gw.create_custom_domain(), gw.deploy_api()]
    assert [h.operation for h in handles] == [
        "sync_to_aws",
        "sync_from_aws",
        "create_custom_domain",
        "redeploy",
    ]
    assert _runs(clean_redis) == ["sync_to_aws", "sync_from_aws", "create_custom_domain", "redeploy"]
    assert gw.create_gateway() is False  # already complete, as the reference answers


def test_sync_needs_a_deployed_api() -> None:
    gw = ApiGateway.objects.create(api_name="draft")
    for method in (gw.sync_to_aws, gw.sync_from_aws):
        with pytest.raises(ValueError, match="deployed"):
            method()
    with pytest.raises(ValueError, match="created"):
        gw.create_custom_domain()


def test_create_gateway_saves_a_new_row_and_enqueues(
    clean_redis: redis.Redis, django_capture_on_commit_callbacks: Any
) -> None:
    gw = ApiGateway(api_name="fresh", target_base_endpoint="https://www.example.com/ws")
    with django_capture_on_commit_callbacks(execute=True):
        handle = gw.create_gateway()
    assert gw.pk and handle.operation == "create_gateway" and _runs(clean_redis) == ["create_gateway"]
    assert ApiGateway.objects.get().target_base_endpoint == "https://www.example.com/ws/"
    with pytest.raises(ValueError, match="target_base_endpoint"):
        ApiGateway(api_name="no-target").create_gateway()


@pytest.mark.parametrize(
    ("lock", "locked_seconds_ago", "refused"),
    [
        ("", None, True),  # claimed without a run of ours (the reference's claim, imported)
        ("run-1", 5, True),  # a live run is creating it
        ("run-1", 10_000, False),  # that run's worker died: the next run resumes it
    ],
)
def test_create_gateway_refuses_a_gateway_that_is_being_created(
    clean_redis: redis.Redis,
    django_capture_on_commit_callbacks: Any,
    lock: str,
    locked_seconds_ago: int | None,
    refused: bool,
) -> None:
    from datetime import timedelta

    from django.utils import timezone

    gw = ApiGateway.objects.create(api_name="busy", target_base_endpoint="https://www.example.com/ws/")
    locked_at = timezone.now() - timedelta(seconds=locked_seconds_ago) if locked_seconds_ago else None
    ApiGateway.objects.filter(pk=gw.pk).update(
        provisioning_status=Status.CREATING, provisioning_lock=lock, provisioning_locked_at=locked_at
    )
    # The copy loaded before the claim says "pending"; the row decides, as in the reference.
    for copy in (gw, ApiGateway.objects.get(pk=gw.pk)):
        with django_capture_on_commit_callbacks(execute=True):
            if refused:
                with pytest.raises(ValueError, match="already being created"):
                    copy.create_gateway()
            else:
                assert copy.create_gateway()
    assert _runs(clean_redis) == ([] if refused else ["create_gateway", "create_gateway"])
    assert ApiGateway.objects.get(pk=gw.pk).provisioning_status == Status.CREATING


def test_routes_of_a_deployed_gateway_enqueue_create_update_and_delete(
    clean_redis: redis.Redis, django_capture_on_commit_callbacks: Any
) -> None:
    gw = _deployed()
    with django_capture_on_commit_callbacks(execute=True):
        route = ApiGatewayAdditionalRoute(
            api_gateway=gw, name="chat", route_key="chat", integration_url="https://www.example.com/ws/chat"
        )
        route.save()
    assert _runs(clean_redis) == ["sync_route"]
    ApiGatewayAdditionalRoute.objects.filter(pk=route.pk).update(
        deployed=True, route_id="r1", integration_id="i1"
    )
    route = ApiGatewayAdditionalRoute.objects.get(pk=route.pk)
    with django_capture_on_commit_callbacks(execute=True):
        route.save()  # unchanged: nothing to do
        route.integration_url = "https://www.example.com/ws/chat2"
        route.save(push_to_aws=False)
    assert _runs(clean_redis) == ["sync_route"]
    route.integration_url = "https://www.example.com/ws/chat3"
    with django_capture_on_commit_callbacks(execute=True):
        route.save()
    assert _runs(clean_redis) == ["sync_route", "sync_route"]
    with django_capture_on_commit_callbacks(execute=True):
        route.delete()
    assert _runs(clean_redis) == ["sync_route", "sync_route", "delete_route"]


def test_route_delete_with_push_to_aws_false_leaves_aws_alone(
    clean_redis: redis.Redis, django_capture_on_commit_callbacks: Any
) -> None:
    gw = _deployed()
    route = ApiGatewayAdditionalRoute.objects.create(
        api_gateway=gw, name="r", route_key="r", integration_url="https://www.example.com/ws/r", route_id="r1"
    )
    clean_redis.flushdb()
    with django_capture_on_commit_callbacks(execute=True):
        route.delete(push_to_aws=False)
    assert _runs(clean_redis) == [] and not ApiGatewayAdditionalRoute.objects.exists()


def test_deleting_a_gateway_marks_its_sessions_disconnected() -> None:
    gw = ApiGateway.objects.create(api_name="going")
    other = ApiGateway.objects.create(api_name="staying")
    WebSocketSession.objects.create(connection_id="a=", api_gateway=gw)
    WebSocketSession.objects.create(connection_id="b=", api_gateway=other)
    ApiGateway.objects.filter(pk=gw.pk).delete()  # queryset deletes too
    gone = WebSocketSession.objects.get(connection_id="a=")
    assert (gone.connected, gone.api_gateway_id) == (False, None) and gone.disconnected_at is not None
    assert WebSocketSession.objects.get(connection_id="b=").connected is True


def test_gateway_delete_keeps_aws_unless_push_to_aws_is_true(
    clean_redis: redis.Redis, django_capture_on_commit_callbacks: Any
) -> None:
    kept = _deployed(api_name="kept", api_id="keep123456")
    with django_capture_on_commit_callbacks(execute=True):
        kept.delete()
    assert _runs(clean_redis) == [] and not ApiGateway.objects.filter(api_name="kept").exists()
    gone = _deployed(api_name="gone")
    with django_capture_on_commit_callbacks(execute=True):
        handle = gone.delete(push_to_aws=True)
    assert handle.operation == "delete_gateway" and _runs(clean_redis) == ["delete_gateway"]
    assert ApiGateway.objects.filter(pk=gone.pk).exists()  # the worker deletes the row after AWS


def test_a_run_on_a_complete_api_does_not_make_it_look_unprovisioned() -> None:
    """The provisioning lock writes "creating" only while the API is not complete."""
    from wsgateway.provisioning import lock

    deployed = _deployed()
    fresh = ApiGateway.objects.create(api_name="fresh")
    assert lock.acquire(deployed.pk, "run-1") is None and lock.acquire(fresh.pk, "run-2") is None
    deployed.refresh_from_db()
    fresh.refresh_from_db()
    assert deployed.provisioning_status == Status.DEPLOYED and not deployed.needs_api_creation
    assert fresh.provisioning_status == Status.CREATING and fresh.needs_api_creation
