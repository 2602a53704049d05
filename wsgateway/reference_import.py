"""Importing an installation of django-aws-api-gateway-websockets (the reference package).

A project that switches from the reference to wsgateway keeps the reference's tables in its
database. :func:`import_reference_rows` copies their rows into wsgateway's tables: gateways,
additional routes, WebSocket sessions, channel permissions and their rules. It reads the tables
with plain SQL (the reference app need not be installed) and copes with the columns older
versions lack.

Idempotent: each row is matched by its natural key — a gateway by ``api_name``, a route by
gateway and ``route_key``, a session by ``connection_id``, a channel permission by
``channel_name``, a rule by its set of permissions — so a second run creates nothing and
brings changed rows up to date. Rows are written with ``QuerySet`` methods: importing never
enqueues an AWS push (``ApiGateway.save()`` would). Tokens and connection attempts are not
imported: tokens live 60 seconds (and the reference stored them in the clear), attempts only
feed the rate limit.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from django.conf import settings
from django.contrib.auth import get_user_model
from django.core.exceptions import ValidationError
from django.db import connections, transaction
from django.db.backends.utils import truncate_name
from django.utils import timezone
from django.utils.crypto import constant_time_compare, salted_hmac
from django.utils.dateparse import parse_datetime

from wsgateway.models import (
    ApiGateway,
    ApiGatewayAdditionalRoute,
    ChannelPermission,
    ChannelPermissionRule,
    ProvisioningStatus,
    WebSocketSession,
)

#: The reference's app label: every table name starts with it.
REFERENCE_APP = "django_aws_api_gateway_websockets"
GATEWAY_TABLE = f"{REFERENCE_APP}_apigateway"
ROUTE_TABLE = f"{REFERENCE_APP}_apigatewayadditionalroute"
SESSION_TABLE = f"{REFERENCE_APP}_websocketsession"
CHANNEL_TABLE = f"{REFERENCE_APP}_channelpermission"
RULE_TABLE = f"{REFERENCE_APP}_channelpermissionrule"
RULE_PERMISSIONS_TABLE = f"{REFERENCE_APP}_channelpermissionrule_permissions"

# The salt under which the reference stored a session's auth hash (its hash_user_auth): the
# import recomputes it to tell whether the login a socket was opened under still holds.
_REFERENCE_AUTH_HASH_SALT = f"{REFERENCE_APP}.WebSocketSession.auth_hash"

_GATEWAY_FIELDS = (
    "api_description",
    "default_channel_name",
    "domain_name",
    "target_base_endpoint",
    "certificate_arn",
    "hosted_zone_id",
    "api_key_selection_expression",
    "route_selection_expression",
    "route_key",
    "stage_name",
    "stage_description",
    "deployment_id",
    "tags",
    "api_id",
    "api_endpoint",
    "api_gateway_domain_name",
    "api_mapping_id",
    "api_created",
    "custom_domain_created",
    "provisioning_status",
    "last_error",
)
_BOOLEANS = frozenset({"api_created", "custom_domain_created", "deployed", "connected"})
_DATETIMES = frozenset({"created_on", "updated_on"})
_SESSION_BATCH = 500


class ReferenceImportError(Exception):
    """The reference's rows cannot be imported as they are; nothing was written."""


@dataclass
class Tally:
    """What the import did (or, in a dry run, would do) to one kind of row."""

    created: int = 0
    updated: int = 0
    unchanged: int = 0
    deleted: int = 0

    def __str__(self) -> str:
        text = f"{self.created} created, {self.updated} updated, {self.unchanged} unchanged"
        return f"{text}, {self.deleted} deleted" if self.deleted else text


@dataclass
class ImportReport:
    """Per kind of row, what happened; plus one line per row created or updated."""

    gateways: Tally = field(default_factory=Tally)
    routes: Tally = field(default_factory=Tally)
    sessions: Tally = field(default_factory=Tally)
    channel_permissions: Tally = field(default_factory=Tally)
    rules: Tally = field(default_factory=Tally)
    lines: list[str] = field(default_factory=list)
    missing_tables: list[str] = field(default_factory=list)

    def summary(self) -> list[str]:
        """One line per kind of row."""
        return [
            f"Gateways: {self.gateways}",
            f"Additional routes: {self.routes}",
            f"WebSocket sessions: {self.sessions}",
            f"Channel permissions: {self.channel_permissions}",
            f"Channel permission rules: {self.rules}",
        ]


class _Source:
    """Reads the reference's tables with plain SQL on one database connection."""

    def __init__(self, using: str) -> None:
        self.connection = connections[using]
        self.tables = set(self.connection.introspection.table_names())

    def name(self, table: str) -> str:
        """The table's name in this database: Django shortens names past the backend's limit
        (PostgreSQL's 63 characters) as the reference's migrations did when they created it."""
        return truncate_name(table, self.connection.ops.max_name_length())

    def has(self, table: str) -> bool:
        return self.name(table) in self.tables

    def columns(self, table: str) -> list[str]:
        with self.connection.cursor() as cursor:
            description = self.connection.introspection.get_table_description(cursor, self.name(table))
            return [column.name for column in description]

    def rows(self, table: str, wanted: tuple[str, ...]) -> Iterator[dict[str, Any]]:
        """Every row of ``table`` as a dict of the ``wanted`` columns the table has, in id order."""
        present = set(self.columns(table))
        names = [name for name in wanted if name in present]
        quote = self.connection.ops.quote_name
        columns = ", ".join(quote(n) for n in names)
        # Identifiers only (quoted), no values: nothing from a user reaches this string.
        sql = f"SELECT {columns} FROM {quote(self.name(table))} ORDER BY {quote('id')}"  # noqa: S608
        with self.connection.cursor() as cursor:
            cursor.execute(sql)
            for values in cursor.fetchall():
                yield {name: _python_value(name, value) for name, value in zip(names, values, strict=True)}


def _python_value(name: str, value: Any) -> Any:
    """A column's value as the ORM would give it (SQLite returns text and integers)."""
    if value is None:
        return None
    if name in _BOOLEANS:
        return bool(value)
    if name in _DATETIMES and not isinstance(value, datetime):
        value = parse_datetime(str(value))
    if isinstance(value, datetime) and settings.USE_TZ and timezone.is_naive(value):
        return value.replace(tzinfo=UTC)  # Django stores UTC on databases without time zones
    if name == "tags" and isinstance(value, str | bytes):
        return json.loads(value)
    return value


def _invalid(label: str, err: ValidationError) -> str:
    details = "; ".join(f"{name}: {' '.join(messages)}" for name, messages in err.message_dict.items())
    return f"{label}: {details}"


def _stamps(row: dict[str, Any]) -> dict[str, Any]:
    """The row's ``created_on`` / ``updated_on``, kept as the reference recorded them."""
    return {name: row[name] for name in _DATETIMES if row.get(name)}


def _differences(instance: Any, values: dict[str, Any]) -> dict[str, Any]:
    return {name: value for name, value in values.items() if getattr(instance, name) != value}


def _status(value: Any) -> str:
    """The reference's provisioning status is also one of ours; an unknown one restarts at pending."""
    return value if value in ProvisioningStatus.values else ProvisioningStatus.PENDING


@dataclass
class _Upsert:
    """Writes one kind of row: matched by its natural key, validated, created or updated."""

    model: type[Any]
    using: str
    report: ImportReport
    tally: Tally
    errors: list[str] = field(default_factory=list)

    def __call__(
        self,
        label: str,
        key: dict[str, Any],
        values: dict[str, Any],
        stamps: dict[str, Any],
        exclude: tuple[str, ...] = (),
    ) -> int | None:
        """The row's pk in wsgateway's table; ``None`` (and an error noted) when it is invalid."""
        manager = self.model.objects.using(self.using)
        existing = manager.filter(**key).first()
        candidate = existing or self.model(**key)
        for name, value in values.items():
            setattr(candidate, name, value)
        try:
            candidate.full_clean(exclude=list(exclude), validate_unique=False)
        except ValidationError as err:
            self.errors.append(_invalid(label, err))
            return None
        if existing is None:
            # A bulk insert: save() of a gateway or route would enqueue AWS work.
            manager.bulk_create([self.model(**key, **values)])
            pk: int = manager.get(**key).pk
            manager.filter(pk=pk).update(**stamps)  # auto_now(_add) would overwrite them in save()
            self.tally.created += 1
            self.report.lines.append(f"{label}: created")
            return pk
        changed = _differences(manager.get(pk=existing.pk), values)
        if changed:
            manager.filter(pk=existing.pk).update(**changed, **stamps)
            self.tally.updated += 1
            self.report.lines.append(f"{label}: updated {', '.join(sorted(changed))}")
        else:
            self.tally.unchanged += 1
        return int(existing.pk)

    def check(self) -> None:
        """Raise with every invalid row of this kind: the transaction then writes nothing."""
        if self.errors:
            raise ReferenceImportError("Invalid rows (nothing was imported):\n  " + "\n  ".join(self.errors))


def import_reference_rows(*, using: str = "default", dry_run: bool = False) -> ImportReport:
    """Copy the reference's rows into wsgateway's tables in one transaction (rolled back on ``dry_run``).

    Raises :class:`ReferenceImportError` — with every invalid row named, and nothing written —
    when the gateway table is missing or a row fails wsgateway's validation.
    """
    source = _Source(using)
    if not source.has(GATEWAY_TABLE):
        raise ReferenceImportError(
            f"No {GATEWAY_TABLE} table in database {using!r}: nothing of "
            "django-aws-api-gateway-websockets to import."
        )
    report = ImportReport()
    report.missing_tables = [
        t for t in (ROUTE_TABLE, SESSION_TABLE, CHANNEL_TABLE, RULE_TABLE) if not source.has(t)
    ]
    with transaction.atomic(using=using):
        gateway_ids = _import_gateways(source, report, using)
        if source.has(ROUTE_TABLE):
            _import_routes(source, report, using, gateway_ids)
        if source.has(SESSION_TABLE):
            _import_sessions(source, report, using, gateway_ids)
        if source.has(CHANNEL_TABLE):
            _import_channel_permissions(source, report, using)
        if dry_run:
            transaction.set_rollback(True, using=using)
    return report


def _import_gateways(source: _Source, report: ImportReport, using: str) -> dict[int, int]:
    """Gateways by ``api_name``; returns the reference's gateway id → wsgateway's."""
    ids: dict[int, int] = {}
    upsert = _Upsert(ApiGateway, using, report, report.gateways)
    for row in source.rows(GATEWAY_TABLE, ("id", "api_name", *_GATEWAY_FIELDS, *sorted(_DATETIMES))):
        values = {name: row[name] for name in _GATEWAY_FIELDS if name in row}
        values["provisioning_status"] = _status(values.get("provisioning_status"))
        values["stage_created"] = bool(values.get("api_created") and values.get("deployment_id"))
        pk = upsert(f"gateway {row['api_name']}", {"api_name": row["api_name"]}, values, _stamps(row))
        if pk is not None:
            ids[row["id"]] = pk
    upsert.check()
    return ids


def _import_routes(source: _Source, report: ImportReport, using: str, gateway_ids: dict[int, int]) -> None:
    """Additional routes by gateway and ``route_key``."""
    upsert = _Upsert(ApiGatewayAdditionalRoute, using, report, report.routes)
    wanted = ("id", "api_gateway_id", "name", "route_key", "integration_url", "deployed", "route_id")
    for row in source.rows(ROUTE_TABLE, (*wanted, "integration_id", *sorted(_DATETIMES))):
        deployed = bool(row.get("deployed"))
        values = {
            "name": row["name"],
            "integration_url": row["integration_url"],
            "deployed": deployed,
            "route_id": row.get("route_id") or "",
            "integration_id": row.get("integration_id") or "",
            "provisioning_status": ProvisioningStatus.DEPLOYED if deployed else ProvisioningStatus.PENDING,
        }
        key = {"api_gateway_id": gateway_ids[row["api_gateway_id"]], "route_key": row["route_key"]}
        label = f"route {row['route_key']} of gateway {key['api_gateway_id']}"
        upsert(label, key, values, _stamps(row), exclude=("api_gateway",))
    upsert.check()


def _auth_hash(reference_hash: str, user: Any) -> str:
    """wsgateway's form of a session's auth hash, given the reference's.

    The reference kept a keyed hash of the user's session auth hash; wsgateway keeps the session
    auth hash itself. When the reference's value still matches the user's current login it is
    translated; otherwise (the password changed since) it is kept as it is, which never matches,
    so the socket is closed on its next message — as the reference would have.
    """
    get_auth_hash = getattr(user, "get_session_auth_hash", None)
    if not reference_hash or get_auth_hash is None:
        return reference_hash or ""
    current = get_auth_hash()
    expected = salted_hmac(_REFERENCE_AUTH_HASH_SALT, current, algorithm="sha256").hexdigest()
    return current if constant_time_compare(reference_hash, expected) else reference_hash


def _import_sessions(source: _Source, report: ImportReport, using: str, gateway_ids: dict[int, int]) -> None:
    """WebSocket sessions by ``connection_id``, written in batches."""
    manager = WebSocketSession.objects.using(using)
    wanted = (
        "id",
        "connection_id",
        "channel_name",
        "user_id",
        "connected",
        "api_gateway_id",
        "request_count",
    )
    rows = list(
        source.rows(SESSION_TABLE, (*wanted, "session_key_hash", "auth_hash", "created_on", "updated_on"))
    )
    user_ids = {row["user_id"] for row in rows if row.get("user_id") is not None}
    users = get_user_model()._default_manager.using(using).in_bulk(user_ids)
    existing = manager.in_bulk([row["connection_id"] for row in rows], field_name="connection_id")
    new: list[WebSocketSession] = []
    changed_rows: list[WebSocketSession] = []
    changed_fields: set[str] = set()
    for row in rows:
        user = users.get(row.get("user_id"))
        values = {
            "channel_name": row.get("channel_name") or "",
            "user_id": user.pk if user is not None else None,
            "connected": bool(row.get("connected")),
            "api_gateway_id": gateway_ids.get(row["api_gateway_id"]) if row.get("api_gateway_id") else None,
            "request_count": row.get("request_count") or 0,
            "session_key_hash": row.get("session_key_hash") or "",
            "auth_hash": _auth_hash(row.get("auth_hash") or "", user),
        }
        stamps = _stamps(row)
        if "created_on" in stamps:
            values["connected_at"] = stamps["created_on"]
        if "updated_on" in stamps:
            values["last_seen_at"] = stamps["updated_on"]
        current = existing.get(row["connection_id"])
        if current is None:
            new.append(WebSocketSession(connection_id=row["connection_id"], **values, **stamps))
            continue
        differences = _differences(current, values)
        if differences:
            for name, value in {**differences, **stamps}.items():
                setattr(current, name, value)
            changed_rows.append(current)
            changed_fields.update(differences, stamps)
        else:
            report.sessions.unchanged += 1
    # bulk_create keeps the given created_on/updated_on (auto_now only applies in save()).
    manager.bulk_create(new, batch_size=_SESSION_BATCH)
    if changed_rows:
        manager.bulk_update(changed_rows, sorted(changed_fields), batch_size=_SESSION_BATCH)
    report.sessions.created += len(new)
    report.sessions.updated += len(changed_rows)
    if new or changed_rows:
        report.lines.append(f"sessions: {len(new)} created, {len(changed_rows)} updated")


def _import_channel_permissions(source: _Source, report: ImportReport, using: str) -> None:
    """Channel permissions by ``channel_name``; their rules mirror the reference's."""
    channel_ids: dict[int, int] = {}
    upsert = _Upsert(ChannelPermission, using, report, report.channel_permissions)
    for row in source.rows(
        CHANNEL_TABLE, ("id", "channel_name", "access", "description", *sorted(_DATETIMES))
    ):
        values = {"access": row["access"], "description": row.get("description") or ""}
        key = {"channel_name": row["channel_name"]}
        pk = upsert(f"channel permission {row['channel_name']}", key, values, _stamps(row))
        if pk is not None:
            channel_ids[row["id"]] = pk
    upsert.check()
    if source.has(RULE_TABLE):
        _import_rules(source, report, using, channel_ids)


def _import_rules(source: _Source, report: ImportReport, using: str, channel_ids: dict[int, int]) -> None:
    """Make each imported channel's rules the reference's: a rule is its set of permissions."""
    permissions: dict[int, set[int]] = {}
    if source.has(RULE_PERMISSIONS_TABLE):
        for link in source.rows(RULE_PERMISSIONS_TABLE, ("id", "channelpermissionrule_id", "permission_id")):
            permissions.setdefault(link["channelpermissionrule_id"], set()).add(link["permission_id"])
    wanted: dict[int, list[frozenset[int]]] = {pk: [] for pk in channel_ids.values()}
    for source_rule in source.rows(RULE_TABLE, ("id", "channel_permission_id")):
        channel_pk = channel_ids[source_rule["channel_permission_id"]]
        wanted[channel_pk].append(frozenset(permissions.get(source_rule["id"], ())))
    for channel_pk, rules in wanted.items():
        unmatched = list(rules)
        existing = ChannelPermissionRule.objects.using(using).filter(channel_permission_id=channel_pk)
        for rule in existing.prefetch_related("permissions").order_by("pk"):
            held = frozenset(p.pk for p in rule.permissions.all())
            if held in unmatched:
                unmatched.remove(held)
                report.rules.unchanged += 1
            else:
                rule.delete()  # a rule the reference no longer has
                report.rules.deleted += 1
        for permission_ids in unmatched:
            rule = ChannelPermissionRule.objects.using(using).create(channel_permission_id=channel_pk)
            rule.permissions.set(sorted(permission_ids))
            report.rules.created += 1
