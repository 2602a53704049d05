"""``importReferenceData`` against the reference's own tables, created here with raw SQL as its
migrations leave them (4.1.0, and an older 3.x schema without the later columns and tables), on
the test database (SQLite by default, PostgreSQL with WSGATEWAY_TEST_DATABASE_URL)."""

from __future__ import annotations

import json
from io import StringIO
from typing import Any

import pytest
from django.contrib.auth import get_user_model
from django.contrib.auth.models import Permission
from django.core.management import CommandError, call_command
from django.db import connection
from django.db.backends.utils import truncate_name
from django.utils.crypto import salted_hmac

from tests.provisioning.test_admin import queued_tasks
from wsgateway.models import (
    ApiGateway,
    ApiGatewayAdditionalRoute,
    ChannelPermission,
    ChannelPermissionRule,
    WebSocketSession,
)

pytestmark = pytest.mark.django_db

APP = "django_aws_api_gateway_websockets"
REFERENCE_TABLES = {
    "apigateway": """id {pk}, api_name varchar(255) NOT NULL UNIQUE, api_description varchar(255) NOT NULL,
        default_channel_name varchar(128) NOT NULL, domain_name varchar(255) NOT NULL,
        target_base_endpoint varchar(200) NULL, certificate_arn varchar(255) NOT NULL,
        hosted_zone_id varchar(32) NOT NULL, api_key_selection_expression varchar(255) NOT NULL,
        route_selection_expression varchar(255) NOT NULL, route_key varchar(255) NOT NULL,
        stage_name varchar(63) NOT NULL, stage_description varchar(63) NOT NULL,
        deployment_id varchar(32) NOT NULL, tags {json} NOT NULL, api_id varchar(32) NOT NULL,
        api_endpoint varchar(255) NOT NULL, api_gateway_domain_name varchar(255) NOT NULL,
        api_mapping_id varchar(128) NOT NULL, api_created {bool} NOT NULL,
        custom_domain_created {bool} NOT NULL, {v4:provisioning_status varchar(16) NOT NULL,}
        {v4:last_error varchar(255) NOT NULL,} created_on {ts} NOT NULL, updated_on {ts} NOT NULL""",
    "apigatewayadditionalroute": """id {pk}, api_gateway_id bigint NOT NULL, name varchar(63) NOT NULL,
        route_key varchar(64) NOT NULL, integration_url varchar(200) NOT NULL, deployed {bool} NOT NULL,
        {v4:route_id varchar(32) NOT NULL,} {v4:integration_id varchar(32) NOT NULL,}
        created_on {ts} NOT NULL, updated_on {ts} NOT NULL""",
    "websocketsession": """id {pk}, connection_id varchar(255) NOT NULL UNIQUE,
        channel_name varchar(128) NOT NULL, user_id integer NULL, connected {bool} NOT NULL,
        api_gateway_id bigint NULL, request_count bigint NOT NULL,
        {v4:session_key_hash varchar(64) NOT NULL,} {v4:auth_hash varchar(64) NOT NULL,}
        created_on {ts} NOT NULL, updated_on {ts} NOT NULL""",
    "channelpermission": """id {pk}, channel_name varchar(128) NOT NULL UNIQUE, access varchar(16) NOT NULL,
        description varchar(255) NOT NULL, created_on {ts} NOT NULL, updated_on {ts} NOT NULL""",
    "channelpermissionrule": "id {pk}, channel_permission_id bigint NOT NULL",
    "channelpermissionrule_permissions": """id {pk}, channelpermissionrule_id bigint NOT NULL,
        permission_id integer NOT NULL""",
}
TYPES = {
    "sqlite": {"pk": "integer NOT NULL PRIMARY KEY", "bool": "bool", "ts": "datetime", "json": "text"},
    "postgresql": {
        "pk": "bigint NOT NULL PRIMARY KEY",
        "bool": "boolean",
        "ts": "timestamp with time zone",
        "json": "jsonb",
    },
}
CREATED = "2025-06-01 10:00:00"
UPDATED = "2025-06-02 11:30:00"


def table_name(model: str) -> str:
    """The name the reference's migrations give a table on this database (shortened past 63
    characters on PostgreSQL, as Django does)."""
    return truncate_name(f"{APP}_{model}", connection.ops.max_name_length())


class Reference:
    """The reference's tables in the test database, and inserts into them."""

    def __init__(self, version: str) -> None:
        self.v4 = version == "4.1.0"
        types = TYPES[connection.vendor]
        with connection.cursor() as cursor:
            for name, columns in REFERENCE_TABLES.items():
                if not self.v4 and name.startswith("channelpermission"):
                    continue  # added in 4.x
                for optional in [part.split("}")[0] for part in columns.split("{v4:")[1:]]:
                    columns = columns.replace("{v4:" + optional + "}", optional if self.v4 else "")
                body = columns.format(**types)
                cursor.execute(f"CREATE TABLE {table_name(name)} ({body})")

    def insert(self, table: str, **values: Any) -> None:
        if not self.v4:
            for name in (
                "provisioning_status",
                "last_error",
                "route_id",
                "integration_id",
                "session_key_hash",
                "auth_hash",
            ):
                values.pop(name, None)
        for name in ("created_on", "updated_on"):
            if name in REFERENCE_TABLES[table] and name not in values:
                values[name] = CREATED if name == "created_on" else UPDATED
        names = ", ".join(values)
        marks = ", ".join(["%s"] * len(values))
        with connection.cursor() as cursor:
            sql = f"INSERT INTO {table_name(table)} ({names}) VALUES ({marks})"  # noqa: S608 (test's own names)
            cursor.execute(sql, list(values.values()))

    def execute(self, sql: str, params: list[Any]) -> None:
        """``sql`` with ``{table}`` names as ``{apigateway}``."""
        with connection.cursor() as cursor:
            cursor.execute(sql.format(**{name: table_name(name) for name in REFERENCE_TABLES}), params)


def gateway_row(**values: Any) -> dict[str, Any]:
    row = {
        "id": 7,
        "api_name": "Chat API",
        "api_description": "chat",
        "default_channel_name": "lobby",
        "domain_name": "ws.example.com",
        "target_base_endpoint": "https://www.example.com/ws/",
        "certificate_arn": "",
        "hosted_zone_id": "",
        "api_key_selection_expression": "$request.header.x-api-key",
        "route_selection_expression": "$request.body.action",
        "route_key": "$default",
        "stage_name": "production",
        "stage_description": "prod",
        "deployment_id": "dep42",
        "tags": json.dumps({"team": "web"}),
        "api_id": "abc123defg",
        "api_endpoint": "wss://abc123defg.execute-api.eu-west-1.amazonaws.com",
        "api_gateway_domain_name": "",
        "api_mapping_id": "",
        "api_created": True,
        "custom_domain_created": False,
        "provisioning_status": "deployed",
        "last_error": "",
    }
    row.update(values)
    return row


def reference_auth_hash(user: Any) -> str:
    """What the reference stored for a session opened under the user's current login."""
    return salted_hmac(
        f"{APP}.WebSocketSession.auth_hash", user.get_session_auth_hash(), algorithm="sha256"
    ).hexdigest()


def run(*args: str) -> str:
    out = StringIO()
    call_command("importReferenceData", *args, stdout=out)
    return out.getvalue()


def snapshot() -> dict[str, Any]:
    """Every imported row's values, to compare runs."""
    return {
        "gateways": list(ApiGateway.objects.order_by("pk").values()),
        "routes": list(ApiGatewayAdditionalRoute.objects.order_by("pk").values()),
        "sessions": list(WebSocketSession.objects.order_by("pk").values()),
        "channels": list(ChannelPermission.objects.order_by("pk").values()),
        "rules": [
            (r.pk, r.channel_permission_id, sorted(p.pk for p in r.permissions.all()))
            for r in ChannelPermissionRule.objects.order_by("pk")
        ],
    }


@pytest.fixture
def installation() -> tuple[Reference, Any, Any]:
    """A 4.1.0 installation: a deployed gateway, a route, two sessions, a channel with two rules."""
    reference = Reference("4.1.0")
    alice = get_user_model().objects.create_user("alice", password="pw-1")
    bob = get_user_model().objects.create_user("bob", password="pw-2")
    reference.insert("apigateway", **gateway_row())
    reference.insert(
        "apigatewayadditionalroute",
        id=3,
        api_gateway_id=7,
        name="Chat",
        route_key="chat",
        integration_url="https://www.example.com/ws/chat",
        deployed=True,
        route_id="rt1",
        integration_id="in1",
    )
    common = {"channel_name": "lobby", "connected": True, "api_gateway_id": 7, "request_count": 4}
    reference.insert(
        "websocketsession",
        id=1,
        connection_id="alice=",
        user_id=alice.pk,
        **common,
        session_key_hash="s" * 64,
        auth_hash=reference_auth_hash(alice),
    )
    reference.insert(
        "websocketsession",
        id=2,
        connection_id="bob=",
        user_id=bob.pk,
        **common,
        session_key_hash="t" * 64,
        auth_hash="f" * 64,
    )  # bob's password changed since
    reference.insert("channelpermission", id=5, channel_name="vip", access="permissions", description="VIPs")
    view_user, change_user = (Permission.objects.get(codename=c) for c in ("view_user", "change_user"))
    reference.insert("channelpermissionrule", id=11, channel_permission_id=5)
    reference.insert("channelpermissionrule", id=12, channel_permission_id=5)
    reference.insert(
        "channelpermissionrule_permissions", id=1, channelpermissionrule_id=11, permission_id=view_user.pk
    )
    reference.insert(
        "channelpermissionrule_permissions", id=2, channelpermissionrule_id=11, permission_id=change_user.pk
    )
    reference.insert(
        "channelpermissionrule_permissions", id=3, channelpermissionrule_id=12, permission_id=view_user.pk
    )
    return reference, alice, bob


def test_import_copies_every_kind_of_row_and_a_second_run_creates_nothing(
    installation: tuple[Reference, Any, Any], clean_redis: Any, django_capture_on_commit_callbacks: Any
) -> None:
    _, alice, _ = installation
    with django_capture_on_commit_callbacks(execute=True):
        output = run()
    assert "Gateways: 1 created, 0 updated, 0 unchanged" in output
    assert "WebSocket sessions: 2 created, 0 updated, 0 unchanged" in output
    assert "Channel permission rules: 2 created, 0 updated, 0 unchanged" in output

    gateway = ApiGateway.objects.get()
    assert (gateway.api_name, gateway.api_id, gateway.deployment_id, gateway.tags) == (
        "Chat API",
        "abc123defg",
        "dep42",
        {"team": "web"},
    )
    assert gateway.api_created and gateway.is_deployed and gateway.provisioning_status == "deployed"
    assert gateway.created_on.isoformat().startswith("2025-06-01T10:00:00")
    route = ApiGatewayAdditionalRoute.objects.get()
    assert (route.api_gateway_id, route.route_key, route.route_id, route.deployed) == (
        gateway.pk,
        "chat",
        "rt1",
        True,
    )
    sessions = {s.connection_id: s for s in WebSocketSession.objects.all()}
    assert sessions["alice="].user == alice and sessions["alice="].api_gateway == gateway
    assert sessions["alice="].auth_hash == alice.get_session_auth_hash()  # still her login: translated
    assert sessions["bob="].auth_hash == "f" * 64  # a stale login stays one that never matches
    vip = ChannelPermission.objects.get(channel_name="vip")
    assert vip.access == "permissions" and vip.description == "VIPs"
    assert sorted(str(rule) for rule in vip.rules.all()) == [
        "auth.change_user AND auth.view_user",
        "auth.view_user",
    ]
    assert vip.allows(alice) is False
    alice.user_permissions.add(Permission.objects.get(codename="view_user"))
    assert vip.allows(get_user_model().objects.get(pk=alice.pk)) is True
    # Importing never talks to AWS, not even by enqueueing.
    assert queued_tasks(clean_redis, "provisioning") == []

    before = snapshot()
    output = run()
    assert "Gateways: 0 created, 0 updated, 1 unchanged" in output
    assert "WebSocket sessions: 0 created, 0 updated, 2 unchanged" in output
    assert "Channel permission rules: 0 created, 0 updated, 2 unchanged" in output
    assert snapshot() == before


def test_a_rerun_brings_changed_rows_up_to_date(installation: tuple[Reference, Any, Any]) -> None:
    reference, _, _ = installation
    run()
    reference.execute(
        "UPDATE {apigateway} SET api_description = %s, updated_on = %s",
        ["changed", "2025-07-01 00:00:00"],
    )
    reference.execute("UPDATE {websocketsession} SET connected = %s WHERE id = 1", [False])
    reference.execute(
        "DELETE FROM {channelpermissionrule_permissions} WHERE channelpermissionrule_id = 12", []
    )
    reference.execute("DELETE FROM {channelpermissionrule} WHERE id = 12", [])
    reference.execute("UPDATE {channelpermission} SET access = %s", ["staff_only"])
    output = run()
    assert "gateway Chat API: updated api_description" in output
    assert "channel permission vip: updated access" in output
    assert "WebSocket sessions: 0 created, 1 updated, 1 unchanged" in output
    assert "Channel permission rules: 0 created, 0 updated, 1 unchanged, 1 deleted" in output
    assert ApiGateway.objects.get().api_description == "changed"
    assert ChannelPermission.objects.get().access == "staff_only"
    assert not WebSocketSession.objects.get(connection_id="alice=").connected
    assert [str(rule) for rule in ChannelPermissionRule.objects.all()] == [
        "auth.change_user AND auth.view_user"
    ]


def test_dry_run_writes_nothing(installation: tuple[Reference, Any, Any]) -> None:
    output = run("--dry-run")
    assert "gateway Chat API: would be created" in output and "Dry run: nothing was written." in output
    assert "Gateways: 1 created" in output
    assert not ApiGateway.objects.exists() and not WebSocketSession.objects.exists()
    assert not ChannelPermission.objects.exists() and not ChannelPermissionRule.objects.exists()


def test_an_invalid_row_stops_the_import_with_every_reason_and_writes_nothing(
    installation: tuple[Reference, Any, Any],
) -> None:
    reference, _, _ = installation
    reference.insert("apigateway", **gateway_row(id=8, api_name="Second", stage_name="bad stage!", api_id=""))
    reference.insert(
        "apigateway", **gateway_row(id=9, api_name="Third", target_base_endpoint="not a url", api_id="")
    )
    with pytest.raises(CommandError) as raised:
        run()
    assert "gateway Second: stage_name:" in str(raised.value)
    assert "gateway Third: target_base_endpoint:" in str(raised.value)
    assert not ApiGateway.objects.exists() and not WebSocketSession.objects.exists()


def test_an_older_reference_schema_is_imported_with_defaults() -> None:
    reference = Reference("3.x")
    reference.insert("apigateway", **gateway_row(api_created=False, deployment_id="", api_id=""))
    reference.insert(
        "apigatewayadditionalroute",
        id=1,
        api_gateway_id=7,
        name="Chat",
        route_key="chat",
        integration_url="https://www.example.com/ws/chat",
        deployed=False,
    )
    reference.insert(
        "websocketsession",
        id=1,
        connection_id="anon=",
        user_id=None,
        channel_name="",
        connected=True,
        api_gateway_id=None,
        request_count=1,
    )
    output = run()
    assert f"No {APP}_channelpermission table: skipped." in output
    gateway = ApiGateway.objects.get()
    assert gateway.provisioning_status == "pending" and gateway.needs_api_creation
    assert ApiGatewayAdditionalRoute.objects.get().route_id == ""
    assert WebSocketSession.objects.get().auth_hash == ""


def test_without_the_reference_tables_the_command_says_so() -> None:
    with pytest.raises(CommandError, match=f"No {APP}_apigateway table in database 'default'"):
        run()


def reference_session_key_hash(session_key: str) -> str:
    """What the reference stored for the Django session a socket was opened under."""
    return salted_hmac(f"{APP}.WebSocketToken.session_key", session_key, algorithm="sha256").hexdigest()


def closed_by_logout(redis_client: Any) -> tuple[list[Any], list[str]]:
    """The users and the single connections whose closing the logout enqueued."""
    kwargs = [
        m["args"][1]
        for m in queued_tasks(redis_client, "fanout")
        if m["headers"]["task"] == "wsgateway.disconnect"
    ]
    return [k["user_id"] for k in kwargs if "user_id" in k], sorted(
        k["connection_id"] for k in kwargs if "connection_id" in k
    )


def test_logging_out_closes_the_imported_sockets_of_that_session(
    installation: tuple[Reference, Any, Any],
    clean_redis: Any,
    client: Any,
    django_capture_on_commit_callbacks: Any,
) -> None:
    reference, alice, _ = installation
    client.force_login(alice)
    session_key = client.session.session_key
    # Opened under alice's browser session under the reference: hers, and one before she was
    # known to the socket (anonymous), plus an anonymous socket of another browser.
    reference.execute(
        "UPDATE {websocketsession} SET session_key_hash = %s WHERE id = 1",
        [reference_session_key_hash(session_key)],
    )
    common = {"channel_name": "lobby", "connected": True, "api_gateway_id": 7, "request_count": 1}
    reference.insert(
        "websocketsession",
        id=3,
        connection_id="anon-same-browser=",
        user_id=None,
        **common,
        session_key_hash=reference_session_key_hash(session_key),
        auth_hash="",
    )
    reference.insert(
        "websocketsession",
        id=4,
        connection_id="anon-other-browser=",
        user_id=None,
        **common,
        session_key_hash=reference_session_key_hash("another-browser-session"),
        auth_hash="",
    )
    run()

    with django_capture_on_commit_callbacks(execute=True):
        client.logout()

    users, connections = closed_by_logout(clean_redis)
    assert users == [alice.pk]  # every socket of hers, imported ones included ("alice=")
    assert connections == ["anon-same-browser="]
    assert WebSocketSession.objects.filter(user=alice, connection_id="alice=").exists()


def test_logging_out_closes_our_anonymous_sockets_of_that_session(
    clean_redis: Any, client: Any, django_capture_on_commit_callbacks: Any
) -> None:
    from wsgateway.hashing import session_key_hash

    alice = get_user_model().objects.create_user("alice", password="pw-1")
    client.force_login(alice)
    session_key = client.session.session_key
    WebSocketSession.objects.create(
        connection_id="mine=", user=alice, session_key_hash=session_key_hash(session_key)
    )
    WebSocketSession.objects.create(connection_id="anon=", session_key_hash=session_key_hash(session_key))
    WebSocketSession.objects.create(
        connection_id="closed=", session_key_hash=session_key_hash(session_key), connected=False
    )
    WebSocketSession.objects.create(connection_id="elsewhere=", session_key_hash=session_key_hash("other"))

    with django_capture_on_commit_callbacks(execute=True):
        client.logout()

    assert closed_by_logout(clean_redis) == ([alice.pk], ["anon="])
