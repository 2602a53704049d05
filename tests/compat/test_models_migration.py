"""Migrations 0003-0005 move existing rows to the reference-compatible shapes.

Run on a real database: migrate back to 0002, write rows the old way, migrate forward, and read
them through the new models.
"""

from __future__ import annotations

from typing import Any

import pytest
from django.db import connection
from django.db.migrations.executor import MigrationExecutor

from wsgateway.models import ApiGateway, ApiGatewayAdditionalRoute, ChannelPermission

pytestmark = pytest.mark.django_db(transaction=True)

BEFORE = [("wsgateway", "0002_channel_permission_global_unique")]


def _migrate(target: list[tuple[str, str]]) -> Any:
    executor = MigrationExecutor(connection)
    executor.loader.build_graph()
    executor.migrate(target)
    return executor.loader.project_state(target).apps


def _latest() -> list[tuple[str, str]]:
    """Every app's newest migration: where the rest of the suite expects the schema to be."""
    executor = MigrationExecutor(connection)
    return [node for node in executor.loader.graph.leaf_nodes() if node[0] == "wsgateway"]


@pytest.fixture
def old_apps() -> Any:
    apps = _migrate(BEFORE)
    yield apps
    # Back to the newest schema: the tests read rows through today's models, and later
    # migrations add tables and columns other tests use.
    _migrate(_latest())


def test_statuses_map_onto_the_reference_values(old_apps: Any) -> None:
    gateway_model = old_apps.get_model("wsgateway", "ApiGateway")
    route_model = old_apps.get_model("wsgateway", "ApiGatewayAdditionalRoute")
    rows = {
        "np": ("not_provisioned", False),
        "ip": ("in_progress", False),
        "prov": ("provisioned", False),
        "dom": ("provisioned", True),
        "fail": ("failed", False),
        "q": ("queued", False),
        "del": ("deleted", False),
    }
    for name, (status, domain) in rows.items():
        gateway_model.objects.create(api_name=name, provisioning_status=status, custom_domain_created=domain)
    gw = gateway_model.objects.get(api_name="prov")
    for key, status in (("r1", "provisioned"), ("r2", "not_provisioned"), ("r3", "in_progress")):
        route_model.objects.create(
            api_gateway=gw,
            name=key,
            route_key=key,
            integration_url="https://x.example.com/",
            provisioning_status=status,
        )
    _migrate(_latest())
    got = dict(ApiGateway.objects.values_list("api_name", "provisioning_status"))
    assert got == {
        "np": "pending",
        "ip": "creating",
        "prov": "deployed",
        "dom": "mapped",
        "fail": "failed",
        "q": "queued",
        "del": "deleted",
    }
    routes = dict(ApiGatewayAdditionalRoute.objects.values_list("route_key", "provisioning_status"))
    assert routes == {"r1": "deployed", "r2": "pending", "r3": "creating"}


def test_access_values_and_permissions_become_rules(old_apps: Any) -> None:
    perm_model = old_apps.get_model("auth", "Permission")
    cp = old_apps.get_model("wsgateway", "ChannelPermission")
    add, change = (
        perm_model.objects.get(codename=c) for c in ("add_websocketsession", "change_websocketsession")
    )
    cp.objects.create(channel_name="open", access="all")
    cp.objects.create(channel_name="staff", access="staff")
    cp.objects.create(channel_name="root", access="superuser")
    cp.objects.create(channel_name="users", access="authenticated")
    any_of = cp.objects.create(channel_name="any", access="permissions", require_all=False)
    any_of.permissions.set([add, change])
    all_of = cp.objects.create(channel_name="all", access="permissions", require_all=True)
    all_of.permissions.set([add, change])
    _migrate(_latest())
    access = dict(ChannelPermission.objects.values_list("channel_name", "access"))
    assert access == {
        "open": "allow_all",
        "staff": "staff_only",
        "root": "superuser_only",
        "users": "authenticated",
        "any": "permissions",
        "all": "permissions",
    }

    def shape(name: str) -> list[list[str]]:
        row = ChannelPermission.objects.get(channel_name=name)
        return sorted(sorted(p.codename for p in rule.permissions.all()) for rule in row.rules.all())

    assert shape("any") == [["add_websocketsession"], ["change_websocketsession"]]
    assert shape("all") == [["add_websocketsession", "change_websocketsession"]]


def test_a_rule_of_one_gateway_now_guards_the_channel_on_every_gateway(old_apps: Any) -> None:
    """Issue 12: "vip" was staff-only on gateway A and unguarded on B; after migrating it is
    staff-only everywhere."""
    gateway_model = old_apps.get_model("wsgateway", "ApiGateway")
    cp = old_apps.get_model("wsgateway", "ChannelPermission")
    a = gateway_model.objects.create(api_name="a")
    gateway_model.objects.create(api_name="b")
    cp.objects.create(channel_name="vip", api_gateway=a, access="staff")
    _migrate(_latest())
    from django.contrib.auth import get_user_model

    mallory = get_user_model().objects.create_user("mallory")
    b = ApiGateway.objects.get(api_name="b")
    assert ChannelPermission.user_may_join("vip", mallory, b) is False
    assert ChannelPermission.for_channel("vip").access == ChannelPermission.Access.STAFF_ONLY


def test_disagreeing_per_gateway_rows_merge_closed_and_say_why(old_apps: Any) -> None:
    gateway_model = old_apps.get_model("wsgateway", "ApiGateway")
    cp = old_apps.get_model("wsgateway", "ChannelPermission")
    a = gateway_model.objects.create(api_name="a")
    b = gateway_model.objects.create(api_name="b")
    cp.objects.create(channel_name="room", api_gateway=a, access="all")
    cp.objects.create(channel_name="room", api_gateway=b, access="staff")
    cp.objects.create(channel_name="same", api_gateway=a, access="staff")
    cp.objects.create(channel_name="same", api_gateway=b, access="staff")
    _migrate(_latest())
    room = ChannelPermission.objects.get(channel_name="room")
    assert room.access == ChannelPermission.Access.SUPERUSER_ONLY
    assert "disagreed" in room.description and "staff" in room.description
    same = ChannelPermission.objects.get(channel_name="same")
    assert (same.access, same.description) == (ChannelPermission.Access.STAFF_ONLY, "")
