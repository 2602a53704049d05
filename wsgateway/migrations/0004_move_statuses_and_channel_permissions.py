# Moves the data to the reference-compatible shapes:
#
# - provisioning statuses: not_provisioned -> pending, in_progress -> creating, provisioned ->
#   deployed (mapped for a gateway with its custom domain); queued, failed, deleted stay.
# - channel permissions: old access values map onto the reference's (all -> allow_all, staff ->
#   staff_only, superuser -> superuser_only; permissions and authenticated stay). A row's
#   permissions become rules: "require all" is one rule holding all of them, "any of" is one
#   rule per permission. Permissions are global now: rows of one channel name on several
#   gateways become one row; when they disagreed, the row is closed (superuser_only) and its
#   description says what the old rows allowed, for an administrator to decide.

from django.db import migrations

GATEWAY_STATUS = {
    "not_provisioned": "pending",
    "in_progress": "creating",
    "deleting": "queued",
}
ROUTE_STATUS = {
    "not_provisioned": "pending",
    "in_progress": "creating",
    "provisioned": "deployed",
    "deleting": "queued",
}
STATUS_BACK = {
    "pending": "not_provisioned",
    "creating": "in_progress",
    "api_created": "not_provisioned",
    "routes_created": "not_provisioned",
    "deployed": "provisioned",
    "domain_created": "provisioned",
    "mapped": "provisioned",
}
ACCESS = {"all": "allow_all", "staff": "staff_only", "superuser": "superuser_only"}
ACCESS_BACK = {new: old for old, new in ACCESS.items()}


def forward_statuses(apps, schema_editor):
    ApiGateway = apps.get_model("wsgateway", "ApiGateway")
    Route = apps.get_model("wsgateway", "ApiGatewayAdditionalRoute")
    for old, new in GATEWAY_STATUS.items():
        ApiGateway.objects.filter(provisioning_status=old).update(provisioning_status=new)
    ApiGateway.objects.filter(provisioning_status="provisioned", custom_domain_created=True).update(
        provisioning_status="mapped"
    )
    ApiGateway.objects.filter(provisioning_status="provisioned").update(provisioning_status="deployed")
    for old, new in ROUTE_STATUS.items():
        Route.objects.filter(provisioning_status=old).update(provisioning_status=new)


def backward_statuses(apps, schema_editor):
    for name in ("ApiGateway", "ApiGatewayAdditionalRoute"):
        model = apps.get_model("wsgateway", name)
        for new, old in STATUS_BACK.items():
            model.objects.filter(provisioning_status=new).update(provisioning_status=old)


def _rules_of(row):
    if row.access != "permissions":
        return ()
    ids = sorted(row.permissions.values_list("pk", flat=True))
    if not ids:
        return ()
    if row.require_all:
        return (tuple(ids),)
    return tuple((pk,) for pk in ids)


def _describe(row):
    scope = f"gateway {row.api_gateway_id}" if row.api_gateway_id else "all gateways"
    suffix = " (all of)" if row.require_all else ""
    return f"{scope}: {row.access}{suffix}"


def forward_channel_permissions(apps, schema_editor):
    ChannelPermission = apps.get_model("wsgateway", "ChannelPermission")
    Rule = apps.get_model("wsgateway", "ChannelPermissionRule")
    groups = {}
    # The global row (no gateway) first: it is the one kept.
    for row in ChannelPermission.objects.order_by("channel_name", "api_gateway_id", "pk"):
        groups.setdefault(row.channel_name, []).append(row)
    for rows in groups.values():
        if any(r.api_gateway_id is None for r in rows):
            rows.sort(key=lambda r: r.api_gateway_id is not None)
        shapes = {(ACCESS.get(r.access, r.access), _rules_of(r)) for r in rows}
        kept = rows[0]
        if len(shapes) == 1:
            access, rules = shapes.pop()
            description = ""
        else:
            access, rules = "superuser_only", ()
            described = "; ".join(_describe(r) for r in rows)
            description = f"Closed when merging per-gateway rows that disagreed: {described}"[:255]
        ChannelPermission.objects.filter(pk__in=[r.pk for r in rows[1:]]).delete()
        ChannelPermission.objects.filter(pk=kept.pk).update(access=access, description=description)
        for permission_ids in rules:
            rule = Rule.objects.create(channel_permission_id=kept.pk)
            rule.permissions.set(permission_ids)


def backward_channel_permissions(apps, schema_editor):
    ChannelPermission = apps.get_model("wsgateway", "ChannelPermission")
    Rule = apps.get_model("wsgateway", "ChannelPermissionRule")
    for row in ChannelPermission.objects.all():
        rules = [
            list(rule.permissions.values_list("pk", flat=True))
            for rule in Rule.objects.filter(channel_permission_id=row.pk)
        ]
        # One rule is "all of"; several single-permission rules are "any of". Other shapes have
        # no old equivalent: they become "any of" their union (documented in docs/migrating.md).
        require_all = len(rules) == 1
        row.access = ACCESS_BACK.get(row.access, row.access)
        row.require_all = require_all
        row.save(update_fields=["access", "require_all"])
        row.permissions.set({pk for rule in rules for pk in rule})
    Rule.objects.all().delete()


class Migration(migrations.Migration):
    dependencies = [
        ("wsgateway", "0003_reference_compatible_models"),
    ]

    operations = [
        migrations.RunPython(forward_statuses, backward_statuses),
        migrations.RunPython(forward_channel_permissions, backward_channel_permissions),
    ]
