"""The admin's AWS actions declare their permissions (issue 12) and keep the reference's names
(issue 11). Driven through the admin's own views with the test client; what was queued is read
from the real broker."""

from __future__ import annotations

from typing import Any

import pytest
from django.contrib.auth import get_user_model
from django.contrib.auth.models import Permission
from django.test import Client
from django.urls import reverse

from tests.provisioning.conftest import CERT_ARN
from tests.provisioning.test_admin import queued_tasks
from wsgateway import admin as wsgateway_admin
from wsgateway.models import ApiGateway, WebSocketSession

pytestmark = pytest.mark.django_db

AWS_ACTIONS = (
    "create_api_gateway",
    "create_custom_domain",
    "sync_from_aws",
    "sync_to_aws",
    "redeploy",
    "rotate_secret",
    "delete_from_aws",
    "delete_from_aws_and_row",
)
CHANGE_ACTIONS = AWS_ACTIONS[:6]
DELETE_ACTIONS = AWS_ACTIONS[6:]
CHANGELIST = "admin:wsgateway_apigateway_changelist"


def staff_client(*codenames: str) -> Client:
    """A logged-in staff user holding exactly ``codenames`` of wsgateway's permissions."""
    user = get_user_model().objects.create_user(
        f"staff{get_user_model().objects.count()}", password="pw", is_staff=True
    )
    user.user_permissions.set(
        Permission.objects.filter(content_type__app_label="wsgateway", codename__in=codenames)
    )
    client = Client()
    client.force_login(user)
    return client


def offered_actions(client: Client, url_name: str = CHANGELIST) -> set[str]:
    page = client.get(reverse(url_name))
    assert page.status_code == 200
    form = page.context["action_form"]
    if form is None:  # no action at all is offered
        return set()
    return {name for name, _ in form.fields["action"].choices if name}


@pytest.fixture
def deployed(db: Any) -> ApiGateway:
    """A deployed gateway every action has something to do for (also a custom domain to create)."""
    gateway = ApiGateway.objects.create(api_name="chat-api", target_base_endpoint="http://127.0.0.1:9/ws/")
    ApiGateway.objects.filter(pk=gateway.pk).update(
        api_id="abc123defg",
        api_created=True,
        deployment_id="dep1",
        provisioning_status="deployed",
        domain_name="ws.example.com",
        certificate_arn=CERT_ARN,
    )
    gateway.refresh_from_db()
    return gateway


def test_view_only_staff_is_offered_no_aws_action(deployed: ApiGateway) -> None:
    client = staff_client("view_apigateway")
    assert offered_actions(client) & set(AWS_ACTIONS) == set()


def test_change_permission_offers_the_change_actions_but_not_the_deletions(deployed: ApiGateway) -> None:
    offered = offered_actions(staff_client("view_apigateway", "change_apigateway"))
    assert offered >= set(CHANGE_ACTIONS)
    assert offered & set(DELETE_ACTIONS) == set()
    # Deleting the rows alone does not allow deleting what AWS holds either.
    offered = offered_actions(staff_client("view_apigateway", "delete_apigateway"))
    assert offered & set(AWS_ACTIONS) == set()
    everything = staff_client("view_apigateway", "change_apigateway", "delete_apigateway")
    assert offered_actions(everything) >= set(AWS_ACTIONS)


@pytest.mark.parametrize("action", AWS_ACTIONS)
def test_a_view_only_post_of_an_aws_action_changes_and_queues_nothing(
    action: str, deployed: ApiGateway, clean_redis: Any, django_capture_on_commit_callbacks: Any
) -> None:
    client = staff_client("view_apigateway")
    before = ApiGateway.objects.values().get(pk=deployed.pk)
    with django_capture_on_commit_callbacks(execute=True) as callbacks:
        answer = client.post(
            reverse(CHANGELIST), {"action": action, "_selected_action": [deployed.pk]}, follow=True
        )
    assert answer.status_code == 200
    # The admin offers the user no action, so the POST is just a changelist request.
    assert [str(m) for m in answer.context["messages"]] in ([], ["No action selected."])
    assert callbacks == []
    assert queued_tasks(clean_redis, "provisioning") == []
    assert ApiGateway.objects.values().get(pk=deployed.pk) == before


@pytest.mark.parametrize("action", AWS_ACTIONS)
def test_the_same_post_by_a_user_with_the_permissions_queues_the_run(
    action: str, deployed: ApiGateway, clean_redis: Any, django_capture_on_commit_callbacks: Any
) -> None:
    if action == "create_api_gateway":  # only an API that is not complete needs creating
        ApiGateway.objects.filter(pk=deployed.pk).update(api_created=False, provisioning_status="pending")
    client = staff_client("view_apigateway", "change_apigateway", "delete_apigateway")
    with django_capture_on_commit_callbacks(execute=True):
        answer = client.post(
            reverse(CHANGELIST), {"action": action, "_selected_action": [deployed.pk]}, follow=True
        )
    text = [str(m) for m in answer.context["messages"]]
    assert len(text) == 1 and text[0].startswith("chat-api: queued "), text
    run_id = text[0].split("(run ")[1].split(")")[0]
    [task] = queued_tasks(clean_redis, "provisioning")
    assert task["args"][0][2] == run_id


def test_view_only_staff_cannot_disconnect_sessions(
    deployed: ApiGateway, clean_redis: Any, django_capture_on_commit_callbacks: Any
) -> None:
    session = WebSocketSession.objects.create(connection_id="live=", api_gateway=deployed)
    url_name = "admin:wsgateway_websocketsession_changelist"
    viewer = staff_client("view_websocketsession")
    assert "disconnect" not in offered_actions(viewer, url_name)
    with django_capture_on_commit_callbacks(execute=True):
        viewer.post(reverse(url_name), {"action": "disconnect", "_selected_action": [session.pk]})
    assert queued_tasks(clean_redis, "fanout") == []
    assert "disconnect" in offered_actions(
        staff_client("view_websocketsession", "delete_websocketsession"), url_name
    )


def test_actions_keep_the_reference_names_descriptions_and_permissions() -> None:
    expected = {
        "create_api_gateway": ("Create API Gateway", ["change"]),
        "create_custom_domain": ("Create Custom Domain", ["change"]),
        "sync_from_aws": ("Sync from AWS", ["change"]),
        "sync_to_aws": ("Sync to AWS", ["change"]),
        "delete_from_aws": ("Delete from AWS (keeps the row)", ["aws_delete"]),
    }
    for name, (description, permissions) in expected.items():
        action = getattr(wsgateway_admin, name)
        assert action.__name__ == name
        assert str(action.short_description) == description
        assert list(action.allowed_permissions) == permissions
        assert action in wsgateway_admin.ApiGatewayAdmin.actions
    for action in wsgateway_admin.ApiGatewayAdmin.actions:
        assert getattr(action, "allowed_permissions", None), action


def test_undeployed_and_up_to_date_rows_are_explained_not_queued(
    deployed: ApiGateway, clean_redis: Any, django_capture_on_commit_callbacks: Any
) -> None:
    fresh = ApiGateway.objects.create(api_name="fresh", target_base_endpoint="http://127.0.0.1:9/ws/")
    client = staff_client("view_apigateway", "change_apigateway")
    with django_capture_on_commit_callbacks(execute=True):
        answer = client.post(
            reverse(CHANGELIST), {"action": "sync_to_aws", "_selected_action": [fresh.pk]}, follow=True
        )
        answer2 = client.post(
            reverse(CHANGELIST),
            {"action": "create_api_gateway", "_selected_action": [deployed.pk]},
            follow=True,
        )
    assert [str(m) for m in answer.context["messages"]] == [
        "fresh: The API must be deployed before it can be synced to AWS"
    ]
    assert [str(m) for m in answer2.context["messages"]] == ["chat-api already created"]
    assert queued_tasks(clean_redis, "provisioning") == []


def change_form_data(gateway: ApiGateway, **changes: str) -> dict[str, str]:
    """The POST of the gateway's change form with ``changes`` (no inline routes)."""
    readonly = set(wsgateway_admin.ApiGatewayAdmin.readonly_fields)
    editable = [
        name
        for _, options in wsgateway_admin.ApiGatewayAdmin.fieldsets
        for name in options["fields"]
        if name not in readonly and name != "tags"
    ]
    data = {name: "" if getattr(gateway, name) is None else str(getattr(gateway, name)) for name in editable}
    data["tags"] = "{}"
    for prefix in ("additional_routes",):
        data.update({f"{prefix}-TOTAL_FORMS": "0", f"{prefix}-INITIAL_FORMS": "0"})
    data.update(changes)
    return data


def test_saving_a_deployed_gateway_says_which_push_was_queued(
    deployed: ApiGateway, clean_redis: Any, django_capture_on_commit_callbacks: Any
) -> None:
    client = staff_client("view_apigateway", "change_apigateway")
    url = reverse("admin:wsgateway_apigateway_change", args=[deployed.pk])
    with django_capture_on_commit_callbacks(execute=True):
        answer = client.post(url, change_form_data(deployed, api_description="new text"), follow=True)
    text = [str(m) for m in answer.context["messages"]]
    assert any(m.startswith("chat-api: queued the push of the changes to AWS (run ") for m in text), text
    [task] = queued_tasks(clean_redis, "provisioning")
    assert task["args"][0][3] == "lock:push_changes"
    assert ApiGateway.objects.get(pk=deployed.pk).api_description == "new text"


def test_a_push_that_cannot_be_queued_keeps_the_change_and_says_why(
    deployed: ApiGateway, settings: Any, clean_redis: Any, django_capture_on_commit_callbacks: Any
) -> None:
    settings.WSGATEWAY = {**settings.WSGATEWAY, "GATEWAY_SECRETS": []}
    client = staff_client("view_apigateway", "change_apigateway")
    url = reverse("admin:wsgateway_apigateway_change", args=[deployed.pk])
    with django_capture_on_commit_callbacks(execute=True):
        answer = client.post(url, change_form_data(deployed, api_description="kept"), follow=True)
    assert answer.status_code == 200
    text = [str(m) for m in answer.context["messages"]]
    assert any(
        "The change was saved, but AWS was not updated" in m and "GATEWAY_SECRETS" in m for m in text
    ), text
    assert ApiGateway.objects.get(pk=deployed.pk).api_description == "kept"
    assert queued_tasks(clean_redis, "provisioning") == []
