"""``run_aws_after_commit`` / ``collect_deferred_sync_errors`` and the admin's messages for them.

Code written for the reference runs its own AWS calls after a commit with
``run_aws_after_commit()``; an ``ApiGatewaySyncError`` they raise is collected while
``collect_deferred_sync_errors()`` is active, and the gateway admins show each one as a message
instead of an error page. A deletion that cannot be pushed is reported the same way.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from django.contrib.auth import get_user_model
from django.db import transaction
from django.db.models.signals import post_delete
from django.test import Client

from wsgateway.admin import SyncErrorMessageMixin
from wsgateway.exceptions import ApiGatewaySyncError
from wsgateway.models import (
    ApiGateway,
    ApiGatewayAdditionalRoute,
    collect_deferred_sync_errors,
    run_aws_after_commit,
)


def _refused(text: str = "AccessDenied") -> Any:
    def operation() -> None:
        raise ApiGatewaySyncError(text)

    return operation


def test_outside_a_transaction_the_operation_runs_at_once_and_its_error_reaches_the_caller() -> None:
    ran: list[int] = []
    run_aws_after_commit(lambda: ran.append(1))
    assert ran == [1]
    with pytest.raises(ApiGatewaySyncError, match="AccessDenied"):
        run_aws_after_commit(_refused())


@pytest.mark.django_db(transaction=True)
def test_at_commit_errors_go_to_the_active_collector_in_order() -> None:
    with collect_deferred_sync_errors() as errors:
        with transaction.atomic():
            run_aws_after_commit(_refused("one"))
            run_aws_after_commit(_refused("two"))
            assert errors == []  # nothing runs before the commit
        assert [str(e) for e in errors] == ["one", "two"]
    with collect_deferred_sync_errors() as later:
        assert later == []


@pytest.mark.django_db(transaction=True)
def test_at_commit_without_a_collector_the_error_is_raised_from_the_commit() -> None:
    with pytest.raises(ApiGatewaySyncError, match="AccessDenied"), transaction.atomic():
        run_aws_after_commit(_refused())


@pytest.mark.django_db(transaction=True)
def test_a_rolled_back_transaction_runs_nothing() -> None:
    ran: list[int] = []
    with pytest.raises(RuntimeError), transaction.atomic():
        run_aws_after_commit(lambda: ran.append(1))
        raise RuntimeError("rollback")
    assert ran == []


@pytest.fixture
def project_hook_refused_by_aws() -> Iterator[None]:
    """A project's own receiver that calls AWS after the commit, and AWS refuses."""

    def receiver(**_: Any) -> None:
        run_aws_after_commit(_refused("ClientError: Denied by the project's hook"))

    post_delete.connect(receiver, sender=ApiGatewayAdditionalRoute, dispatch_uid="compat-refused")
    yield
    post_delete.disconnect(sender=ApiGatewayAdditionalRoute, dispatch_uid="compat-refused")


@pytest.mark.django_db(transaction=True)
def test_the_admin_shows_an_error_raised_at_its_commit_as_a_message(
    project_hook_refused_by_aws: None,
) -> None:
    admin_user = get_user_model().objects.create_superuser("root", "root@example.com", "pw")
    gateway = ApiGateway.objects.create(
        api_name="deferred", target_base_endpoint="https://app.example.com/ws/"
    )
    route = ApiGatewayAdditionalRoute.objects.create(
        api_gateway=gateway, name="chat", route_key="chat", integration_url="https://app.example.com/ws/chat"
    )
    client = Client()
    client.force_login(admin_user)

    response = client.post(
        f"/admin/wsgateway/apigatewayadditionalroute/{route.pk}/delete/", {"post": "yes"}, follow=True
    )

    assert response.status_code == 200
    shown = [str(m) for m in response.context["messages"]]
    assert any("AWS was not updated (ClientError: Denied by the project's hook)" in m for m in shown), shown
    assert not ApiGatewayAdditionalRoute.objects.filter(pk=route.pk).exists()


def test_the_reference_mixin_name_is_the_gateway_admins_mixin() -> None:
    from wsgateway.admin import ApiGatewayAdditionalRouteAdmin, ApiGatewayAdmin

    assert issubclass(ApiGatewayAdmin, SyncErrorMessageMixin)
    assert issubclass(ApiGatewayAdditionalRouteAdmin, SyncErrorMessageMixin)
