"""Django admin for every wsgateway model.

``ApiGateway``: actions that *enqueue* provisioning runs ("Provision", "Create custom domain",
"Redeploy", "Sync to AWS", "Sync from AWS", "Rotate gateway secret", "Delete from AWS") and report
what was queued; status, last error and every AWS id are shown read-only, with filters. Additional
routes are edited inline: saving one of a deployed gateway enqueues its sync, deleting one enqueues
the deletion of its AWS route. Deleting a gateway *row* leaves AWS alone: use "Delete from AWS".

Sessions are read-mostly (a "Disconnect" action enqueues ``DELETE @connections``); tokens are
read-only and only ever stored hashed, so there is nothing secret to show.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from django.contrib import admin, messages
from django.db import models
from django.db.models import QuerySet
from django.http import HttpRequest

from wsgateway import provisioning
from wsgateway.exceptions import ProvisioningError
from wsgateway.models import (
    ApiGateway,
    ApiGatewayAdditionalRoute,
    ChannelPermission,
    ChannelPermissionRule,
    ConnectionRateLimit,
    WebSocketSession,
    WebSocketToken,
)

_AWS_ID_FIELDS = (
    "api_id",
    "api_endpoint",
    "connect_integration_id",
    "disconnect_integration_id",
    "default_integration_id",
    "connect_route_id",
    "disconnect_route_id",
    "default_route_id",
    "stage_created",
    "deployment_id",
    "deployed_at",
    "api_gateway_domain_name",
    "api_gateway_hosted_zone_id",
    "api_mapping_id",
    "dns_change_id",
    "integration_secret_fingerprint",
    "api_created",
    "custom_domain_created",
)
# Django 6 changes forms.URLField's default scheme; say which one we mean (and silence the warning).
_URL_FIELDS: dict[type[models.Field], dict[str, Any]] = {models.URLField: {"assume_scheme": "https"}}
_STATUS_FIELDS = (
    "provisioning_status",
    "provisioning_step",
    "last_error",
    "provisioning_lock",
    "provisioning_locked_at",
)


class AdditionalRouteInline(admin.TabularInline):
    """Additional routes of a gateway; the AWS side follows each row."""

    model = ApiGatewayAdditionalRoute
    extra = 0
    formfield_overrides = _URL_FIELDS
    fields = (
        "name",
        "route_key",
        "integration_url",
        "provisioning_status",
        "deployed",
        "route_id",
        "integration_id",
        "last_error",
    )
    readonly_fields = ("provisioning_status", "deployed", "route_id", "integration_id", "last_error")


def _enqueue_action(
    operation: Callable[[ApiGateway], Any], verb: str
) -> Callable[[admin.ModelAdmin, HttpRequest, QuerySet[ApiGateway]], None]:
    def action(modeladmin: admin.ModelAdmin, request: HttpRequest, queryset: QuerySet[ApiGateway]) -> None:
        queued: list[str] = []
        for gateway in queryset.order_by("pk"):
            try:
                handle = operation(gateway)
            except ProvisioningError as err:  # one bad row must not hide what was queued for the others
                modeladmin.message_user(request, f"{gateway}: not queued: {err}", messages.ERROR)
                continue
            queued.append(f"{gateway} (run {handle.run_id})")
        if queued:
            modeladmin.message_user(
                request, f"Queued {verb} for {len(queued)} gateway(s): {', '.join(queued)}.", messages.SUCCESS
            )

    return action


@admin.register(ApiGateway)
class ApiGatewayAdmin(admin.ModelAdmin):
    """API Gateway rows, their provisioning state, and the actions that enqueue runs."""

    list_display = (
        "api_name",
        "provisioning_status",
        "provisioning_step",
        "api_id",
        "stage_name",
        "domain_name",
        "custom_domain_created",
        "deployed_at",
        "updated_on",
    )
    list_filter = ("provisioning_status", "api_created", "custom_domain_created", "stage_name")
    formfield_overrides = _URL_FIELDS
    search_fields = ("api_name", "api_id", "domain_name")
    readonly_fields = (*_STATUS_FIELDS, *_AWS_ID_FIELDS, "created_on", "updated_on")
    inlines = (AdditionalRouteInline,)
    actions = (
        "provision",
        "create_custom_domain",
        "redeploy",
        "sync_to_aws",
        "sync_from_aws",
        "rotate_secret",
        "delete_from_aws",
        "delete_from_aws_and_row",
    )
    fieldsets = (
        (
            None,
            {
                "fields": (
                    "api_name",
                    "api_description",
                    "target_base_endpoint",
                    "default_channel_name",
                    "route_selection_expression",
                    "api_key_selection_expression",
                    "route_key",
                    "stage_name",
                    "stage_description",
                    "tags",
                )
            },
        ),
        (
            "Custom domain",
            {"fields": ("domain_name", "certificate_arn", "hosted_zone_id", "api_mapping_key")},
        ),
        ("Provisioning", {"fields": _STATUS_FIELDS}),
        ("AWS ids", {"classes": ("collapse",), "fields": (*_AWS_ID_FIELDS, "created_on", "updated_on")}),
    )

    provision = admin.action(description="Provision (create the API in AWS)")(
        _enqueue_action(provisioning.enqueue_create_gateway, "provisioning")
    )
    create_custom_domain = admin.action(description="Create custom domain")(
        _enqueue_action(provisioning.enqueue_create_custom_domain, "custom domain creation")
    )
    redeploy = admin.action(description="Redeploy")(
        _enqueue_action(provisioning.enqueue_redeploy, "a redeployment")
    )
    sync_to_aws = admin.action(description="Sync to AWS")(
        _enqueue_action(provisioning.enqueue_sync_to_aws, "sync to AWS")
    )
    sync_from_aws = admin.action(description="Sync from AWS")(
        _enqueue_action(provisioning.enqueue_sync_from_aws, "sync from AWS")
    )
    rotate_secret = admin.action(description="Rotate gateway secret (update integrations, redeploy)")(
        _enqueue_action(provisioning.enqueue_rotate_secret, "secret rotation")
    )
    delete_from_aws = admin.action(description="Delete from AWS (keeps the row)")(
        _enqueue_action(provisioning.enqueue_delete_from_aws, "deletion from AWS")
    )
    delete_from_aws_and_row = admin.action(description="Delete from AWS, then delete the row")(
        _enqueue_action(
            lambda gateway: provisioning.enqueue_delete_from_aws(gateway, delete_row=True),
            "deletion from AWS and of the row",
        )
    )


@admin.register(ApiGatewayAdditionalRoute)
class ApiGatewayAdditionalRouteAdmin(admin.ModelAdmin):
    """Additional routes on their own (also editable inline on the gateway)."""

    list_display = ("name", "route_key", "api_gateway", "integration_url", "provisioning_status", "deployed")
    list_filter = ("provisioning_status", "deployed", "api_gateway")
    formfield_overrides = _URL_FIELDS
    search_fields = ("name", "route_key", "integration_url")
    readonly_fields = (
        "integration_id",
        "route_id",
        "provisioning_status",
        "last_error",
        "deployed",
        "created_on",
        "updated_on",
    )


@admin.register(WebSocketSession)
class WebSocketSessionAdmin(admin.ModelAdmin):
    """Connections as Django knows them; read-only except for the "Disconnect" action."""

    list_display = (
        "connection_id",
        "channel_name",
        "user",
        "connected",
        "api_gateway",
        "request_count",
        "connected_at",
        "last_seen_at",
    )
    list_filter = ("connected", "channel_name", "api_gateway")
    search_fields = ("connection_id", "channel_name", "user__username")
    list_select_related = ("user", "api_gateway")
    actions = ("disconnect",)
    exclude = ("session_key_hash", "auth_hash")

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    @admin.action(description="Disconnect (close at API Gateway)")
    def disconnect(self, request: HttpRequest, queryset: QuerySet[WebSocketSession]) -> None:
        """Enqueue ``DELETE @connections/{id}`` for each selected live connection."""
        from wsgateway import sending

        ids = list(queryset.filter(connected=True).values_list("connection_id", flat=True))
        for connection_id in ids:
            sending.disconnect_connection(connection_id)
        skipped = queryset.count() - len(ids)
        note = f" ({skipped} already disconnected)" if skipped else ""
        self.message_user(
            request, f"Queued disconnection of {len(ids)} connection(s){note}.", messages.SUCCESS
        )


@admin.register(WebSocketToken)
class WebSocketTokenAdmin(admin.ModelAdmin):
    """Connect tokens (read-only). Only hashes are stored, and not even those are shown."""

    list_display = ("user", "created_at", "used", "used_at")
    list_filter = ("used",)
    fields = ("user", "created_at", "used", "used_at")
    readonly_fields = fields

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False


@admin.register(ConnectionRateLimit)
class ConnectionRateLimitAdmin(admin.ModelAdmin):
    """Connection attempts (read-only)."""

    list_display = ("ip_address", "user", "attempt_time", "successful")
    list_filter = ("successful",)
    search_fields = ("ip_address", "user__username")
    readonly_fields = ("ip_address", "user", "attempt_time", "successful")

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False


class ChannelPermissionRuleInline(admin.TabularInline):
    """A rule: all of its permissions (rules are alternatives)."""

    model = ChannelPermissionRule
    extra = 0
    filter_horizontal = ("permissions",)


@admin.register(ChannelPermission)
class ChannelPermissionAdmin(admin.ModelAdmin):
    """Who may join which channel (the same on every gateway)."""

    list_display = ("channel_name", "access", "description")
    list_filter = ("access",)
    search_fields = ("channel_name", "description")
    inlines = [ChannelPermissionRuleInline]
