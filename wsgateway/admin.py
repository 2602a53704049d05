"""Django admin for every wsgateway model.

``ApiGateway``: actions that *enqueue* provisioning runs and report, per gateway, what was
queued (the run id) or why nothing was. The reference package's actions keep their names and
descriptions — :func:`create_api_gateway`, :func:`create_custom_domain`, :func:`sync_from_aws`,
:func:`sync_to_aws` — beside wsgateway's :func:`redeploy`, :func:`rotate_secret`,
:func:`delete_from_aws` and :func:`delete_from_aws_and_row`. Every action declares the
permission it needs: a staff user with only the view permission is offered none of them, and a
POST naming one anyway runs nothing. Status, last error and every AWS id are read-only.

Additional routes are edited inline: saving one of a deployed gateway enqueues its sync, deleting
one enqueues the deletion of its AWS route. Deleting a gateway *row* leaves AWS alone: use
"Delete from AWS". Sessions are read-only except for "Disconnect" (enqueues ``DELETE
@connections``); tokens are read-only and stored hashed, so there is nothing secret to show.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from django.contrib import admin, messages
from django.db import models
from django.db.models import Prefetch, QuerySet
from django.http import HttpRequest

from wsgateway import provisioning, sending
from wsgateway.exceptions import ApiGatewaySyncError, ProvisioningError
from wsgateway.models import (
    ApiGateway,
    ApiGatewayAdditionalRoute,
    ChannelPermission,
    ChannelPermissionRule,
    ConnectionRateLimit,
    WebSocketSession,
    WebSocketToken,
    collect_deferred_sync_errors,
)

logger = logging.getLogger("wsgateway.admin")

if TYPE_CHECKING:
    ModelAdmin = admin.ModelAdmin
    TabularInline = admin.TabularInline
else:

    class _Generic:
        """django-stubs makes the admin classes generic in their models; Django's own classes take
        no subscript, so at run time ``ModelAdmin[Model]`` is the plain class."""

        def __init__(self, cls: type) -> None:
            self.cls = cls

        def __getitem__(self, models: object) -> type:
            return self.cls

    ModelAdmin = _Generic(admin.ModelAdmin)
    TabularInline = _Generic(admin.TabularInline)

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
_URL_FIELDS: dict[type[models.Field[Any, Any]], dict[str, Any]] = {
    models.URLField: {"assume_scheme": "https"}
}
# Written by the provisioning runs only: a hand edit could contradict what a running chain records.
_STATUS_FIELDS = (
    "provisioning_status",
    "provisioning_step",
    "last_error",
    "last_sync_report",
    "provisioning_lock",
    "provisioning_locked_at",
)

# --------------------------------------------------------------------------- gateway actions


@dataclass(frozen=True)
class _Queueing:
    """How one action enqueues for one gateway, and how it words the outcome."""

    #: Enqueues the run for a gateway: a handle, or ``False``/``None`` when there is nothing to do.
    enqueue: Callable[[Any], Any]
    #: What was queued, e.g. "API creation" → "chat: queued API creation (run …)."
    queued: str
    #: Why nothing was queued when ``enqueue`` had nothing to do; ``{name}`` is the gateway's.
    nothing_to_do: str
    #: The message for an unexpected failure; ``{name}`` and ``{error}`` (the class name only).
    failure: str
    #: A gateway this returns ``False`` for is reported with ``nothing_to_do`` and not enqueued.
    applies: Callable[[Any], bool] = lambda gateway: True
    #: The message when the row refuses the run (``ValueError``, ``ProvisioningError``).
    refused: str = "{name}: {error}"


def _username(request: HttpRequest) -> str:
    user = getattr(request, "user", None)
    return str(getattr(user, "username", None) or user)


def _queue_each(request: HttpRequest, queryset: Iterable[Any], how: _Queueing) -> None:
    """Run ``how.enqueue`` for every selected gateway and say what happened to each.

    One gateway that cannot be queued never hides what was queued for the others.
    """
    for gateway in queryset:
        name = gateway.api_name
        if not how.applies(gateway):
            messages.info(request, how.nothing_to_do.format(name=name))
            continue
        logger.info(
            "admin %r queues %s for gateway %r (pk %s)", _username(request), how.queued, name, gateway.pk
        )
        try:
            handle = how.enqueue(gateway)
        except (ValueError, ProvisioningError) as err:  # the row cannot run it: say why
            refused = how.refused if isinstance(err, ApiGatewaySyncError) else "{name}: {error}"
            messages.error(request, refused.format(name=name, error=err))
            continue
        except Exception as err:
            # Unexpected: the log has the details, the page only the class name.
            logger.exception("admin could not queue %s for gateway %r", how.queued, name)
            messages.error(request, how.failure.format(name=name, error=type(err).__name__))
            continue
        if not handle:
            messages.info(request, how.nothing_to_do.format(name=name))
            continue
        messages.success(request, f"{name}: queued {how.queued} (run {handle.run_id}).")


_CREATE_API = _Queueing(
    enqueue=lambda gateway: gateway.create_gateway(),
    queued="API creation",
    nothing_to_do="{name} already created",
    failure="Failed to create {name}: {error}",
    applies=lambda gateway: bool(gateway.needs_api_creation),
)
_CREATE_DOMAIN = _Queueing(
    enqueue=lambda gateway: gateway.create_custom_domain(),
    queued="custom domain creation",
    nothing_to_do="{name}: no custom domain to create (the API is not deployed yet, or its domain is mapped)",
    failure="Failed to create custom domain for {name}: {error}",
    applies=lambda gateway: bool(gateway.needs_custom_domain),
)


@admin.action(description="Create API Gateway", permissions=["change"])
def create_api_gateway(modeladmin: Any, request: HttpRequest, queryset: Iterable[ApiGateway]) -> None:
    """Enqueue the creation (or the completion after a failure) of each selected API."""
    _queue_each(request, queryset, _CREATE_API)


@admin.action(description="Create Custom Domain", permissions=["change"])
def create_custom_domain(modeladmin: Any, request: HttpRequest, queryset: Iterable[ApiGateway]) -> None:
    """Enqueue the custom domain, API mapping and DNS alias of each selected deployed API."""
    _queue_each(request, queryset, _CREATE_DOMAIN)


def _sync(direction: str) -> _Queueing:
    return _Queueing(
        enqueue=lambda gateway: getattr(gateway, f"sync_{direction}_aws")(),
        queued=f"sync {direction} AWS",
        nothing_to_do="{name}: already in sync with AWS",
        failure=f"{{name}}: could not sync {direction} AWS ({{error}})",
        refused=f"{{name}}: could not sync {direction} AWS ({{error}})",
    )


@admin.action(description="Sync from AWS", permissions=["change"])
def sync_from_aws(modeladmin: Any, request: HttpRequest, queryset: Iterable[ApiGateway]) -> None:
    """Enqueue reading each deployed API into its rows (the run's result lists the differences)."""
    _queue_each(request, queryset, _sync("from"))


@admin.action(description="Sync to AWS", permissions=["change"])
def sync_to_aws(modeladmin: Any, request: HttpRequest, queryset: Iterable[ApiGateway]) -> None:
    """Enqueue writing each gateway's rows to its API (routes only in AWS are removed), then a deployment."""
    _queue_each(request, queryset, _sync("to"))


def _run_action(
    name: str, operation: Callable[[Any], Any], queued: str, description: str, permission: str
) -> Callable[[Any, HttpRequest, Iterable[ApiGateway]], None]:
    """A module-level action called ``name`` (the admin knows a function action by its name)."""
    how = _Queueing(
        enqueue=operation,
        queued=queued,
        nothing_to_do="{name}: nothing to do",
        failure=f"{{name}}: could not queue {queued} ({{error}})",
    )

    @admin.action(description=description, permissions=[permission])
    def action(modeladmin: Any, request: HttpRequest, queryset: Iterable[ApiGateway]) -> None:
        _queue_each(request, queryset, how)

    action.__name__ = action.__qualname__ = name
    action.__doc__ = f"Enqueue {queued} for each selected gateway."
    return action


redeploy = _run_action("redeploy", provisioning.enqueue_redeploy, "a redeployment", "Redeploy", "change")
rotate_secret = _run_action(
    "rotate_secret",
    provisioning.enqueue_rotate_secret,
    "secret rotation",
    "Rotate gateway secret (update integrations, redeploy)",
    "change",
)
delete_from_aws = _run_action(
    "delete_from_aws",
    provisioning.enqueue_delete_from_aws,
    "deletion from AWS",
    "Delete from AWS (keeps the row)",
    "aws_delete",
)
delete_from_aws_and_row = _run_action(
    "delete_from_aws_and_row",
    lambda gateway: provisioning.enqueue_delete_from_aws(gateway, delete_row=True),
    "deletion from AWS and of the row",
    "Delete from AWS, then delete the row",
    "aws_delete",
)


class ApiGatewayAdditionalRouteInline(TabularInline[ApiGatewayAdditionalRoute, ApiGateway]):
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

    def get_queryset(self, request: HttpRequest) -> QuerySet[ApiGatewayAdditionalRoute]:
        return super().get_queryset(request).select_related("api_gateway")


class QueuedPushMessagesMixin:
    """Saving a row of a deployed gateway enqueues its push to AWS: say so, or say why not.

    The model's ``save()`` keeps the local change and raises ``ApiGatewaySyncError`` when the
    push cannot even be queued (e.g. no gateway secret configured); the admin shows that as a
    message instead of an error page, for deletions too. The push itself runs on a worker: its
    failure is the gateway's ``last_error``. The reference's name for this mixin,
    ``SyncErrorMessageMixin``, is kept: each view also reports the ``ApiGatewaySyncError`` of
    operations that ``run_aws_after_commit()`` ran when its transaction committed.
    """

    def _report_push(self, request: HttpRequest, obj: Any) -> None:
        handle = getattr(obj, "last_push", None)
        if handle is not None:
            messages.info(request, f"{obj}: queued the push of the changes to AWS (run {handle.run_id}).")

    def _report_failure(self, request: HttpRequest, error: ApiGatewaySyncError) -> None:
        messages.error(
            request,
            f"The change was saved, but AWS was not updated ({error}). "
            "Use the 'Sync to AWS' action on the API gateway to try again.",
        )

    def _report_aws_error(self, request: HttpRequest, error: Exception) -> None:
        messages.error(
            request,
            f"AWS was not updated ({error}). Run the 'Sync to AWS' action on the API gateway to retry.",
        )

    def _reporting_deferred_errors(self, request: HttpRequest, view: Callable[..., Any], *args: Any) -> Any:
        with collect_deferred_sync_errors() as errors:
            response = view(request, *args)
        for error in errors:
            self._report_aws_error(request, error)
        return response

    def changeform_view(
        self, request: HttpRequest, object_id: Any = None, form_url: str = "", extra_context: Any = None
    ) -> Any:
        view = super().changeform_view  # type: ignore[misc]
        return self._reporting_deferred_errors(request, view, object_id, form_url, extra_context)

    def delete_view(self, request: HttpRequest, object_id: Any, extra_context: Any = None) -> Any:
        view = super().delete_view  # type: ignore[misc]
        return self._reporting_deferred_errors(request, view, object_id, extra_context)

    def changelist_view(self, request: HttpRequest, extra_context: Any = None) -> Any:
        view = super().changelist_view  # type: ignore[misc]
        return self._reporting_deferred_errors(request, view, extra_context)

    def save_model(self, request: HttpRequest, obj: Any, form: Any, change: bool) -> None:
        try:
            super().save_model(request, obj, form, change)  # type: ignore[misc]
        except ApiGatewaySyncError as error:
            self._report_failure(request, error)
        else:
            self._report_push(request, obj)

    def delete_model(self, request: HttpRequest, obj: Any) -> None:
        try:
            super().delete_model(request, obj)  # type: ignore[misc]
        except ApiGatewaySyncError as error:
            self._report_aws_error(request, error)

    def delete_queryset(self, request: HttpRequest, queryset: Any) -> None:
        try:
            super().delete_queryset(request, queryset)  # type: ignore[misc]
        except ApiGatewaySyncError as error:
            self._report_aws_error(request, error)

    def save_formset(self, request: HttpRequest, form: Any, formset: Any, change: bool) -> None:
        """Save each inline route on its own, so one that cannot be queued does not stop the rest."""
        if formset.model is not ApiGatewayAdditionalRoute:
            super().save_formset(request, form, formset, change)  # type: ignore[misc]
            return
        instances = formset.save(commit=False)
        for obj in formset.deleted_objects:
            try:
                obj.delete()
            except ApiGatewaySyncError as error:
                self._report_aws_error(request, error)
        for instance in instances:
            self.save_model(request, instance, form, change)
        formset.save_m2m()


#: The reference's name of the mixin above.
SyncErrorMessageMixin = QueuedPushMessagesMixin


@admin.register(ApiGateway)
class ApiGatewayAdmin(QueuedPushMessagesMixin, ModelAdmin[ApiGateway]):
    """API Gateway rows, their provisioning state, and the actions that enqueue runs."""

    list_display = (
        "api_name",
        "domain_name",
        "default_channel_name",
        "api_id",
        "api_endpoint",
        "api_gateway_domain_name",
        "provisioning_status",
        "provisioning_step",
        "api_created",
        "deployment_id",
        "custom_domain_created",
        "created_on",
        "updated_on",
    )
    list_filter = ("provisioning_status", "api_created", "custom_domain_created", "stage_name")
    formfield_overrides = _URL_FIELDS
    search_fields = ("api_name", "api_id", "domain_name")
    readonly_fields = (*_STATUS_FIELDS, *_AWS_ID_FIELDS, "created_on", "updated_on")
    date_hierarchy = "created_on"
    inlines = (ApiGatewayAdditionalRouteInline,)
    actions = (
        create_api_gateway,
        create_custom_domain,
        sync_from_aws,
        sync_to_aws,
        redeploy,
        rotate_secret,
        delete_from_aws,
        delete_from_aws_and_row,
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

    def get_queryset(self, request: HttpRequest) -> QuerySet[ApiGateway]:
        return super().get_queryset(request).prefetch_related("additional_routes")

    def has_aws_delete_permission(self, request: HttpRequest) -> bool:
        """Deleting AWS resources needs both the change and the delete permission."""
        return self.has_change_permission(request) and self.has_delete_permission(request)


@admin.register(ApiGatewayAdditionalRoute)
class ApiGatewayAdditionalRouteAdmin(QueuedPushMessagesMixin, ModelAdmin[ApiGatewayAdditionalRoute]):
    """Additional routes on their own (also editable inline on the gateway)."""

    list_display = ("name", "api_gateway", "route_key", "integration_url", "provisioning_status", "deployed")
    list_filter = ("provisioning_status", "deployed", "api_gateway")
    list_select_related = ("api_gateway",)
    formfield_overrides = _URL_FIELDS
    search_fields = ("name", "route_key", "integration_url")
    date_hierarchy = "created_on"
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
class WebSocketSessionAdmin(ModelAdmin[WebSocketSession]):
    """Connections as Django knows them; read-only except for the "Disconnect" action."""

    list_display = (
        "connection_id",
        "channel_name",
        "api_gateway",
        "user",
        "connected",
        "request_count",
        "connected_at",
        "last_seen_at",
    )
    list_filter = ("connected", "channel_name", "api_gateway")
    search_fields = ("connection_id", "channel_name", "user__username")
    list_select_related = ("user", "api_gateway")
    date_hierarchy = "created_on"
    actions = ("disconnect",)
    # Hashes that tie a session to a login: not for display.
    exclude = ("session_key_hash", "auth_hash")

    def has_add_permission(self, request: HttpRequest) -> bool:
        # Sessions are created by $connect; adding one here would attach a socket to any user.
        return False

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    @admin.action(description="Disconnect (close at API Gateway)", permissions=["delete"])
    def disconnect(self, request: HttpRequest, queryset: QuerySet[WebSocketSession]) -> None:
        """Enqueue ``DELETE @connections/{id}`` for each selected live connection."""
        ids = list(queryset.filter(connected=True).values_list("connection_id", flat=True))
        for connection_id in ids:
            sending.disconnect_connection(connection_id)
        skipped = queryset.count() - len(ids)
        note = f" ({skipped} already disconnected)" if skipped else ""
        self.message_user(
            request, f"Queued disconnection of {len(ids)} connection(s){note}.", messages.SUCCESS
        )


@admin.register(WebSocketToken)
class WebSocketTokenAdmin(ModelAdmin[WebSocketToken]):
    """Connect tokens (read-only). Only hashes are stored, and not even those are shown."""

    list_display = ("token_preview", "user", "created_at", "used", "used_at")
    list_filter = ("used", "created_at")
    search_fields = ("user__username", "user__email")
    fields = ("user", "created_at", "used", "used_at")
    readonly_fields = fields

    @admin.display(description="Token")
    def token_preview(self, obj: WebSocketToken) -> str:
        """The reference showed the token's first characters; here only its hash exists, kept unshown."""
        return "(stored hashed)"

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False


@admin.register(ConnectionRateLimit)
class ConnectionRateLimitAdmin(ModelAdmin[ConnectionRateLimit]):
    """Connection attempts (read-only)."""

    list_display = ("ip_address", "user", "attempt_time", "successful")
    list_filter = ("successful", "attempt_time")
    search_fields = ("ip_address", "user__username", "user__email")
    readonly_fields = ("ip_address", "user", "attempt_time", "successful")
    date_hierarchy = "attempt_time"

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False


class ChannelPermissionRuleInline(TabularInline[ChannelPermissionRule, ChannelPermission]):
    """One rule: the user needs all of its permissions. Several rules are alternatives."""

    model = ChannelPermissionRule
    extra = 0
    filter_horizontal = ("permissions",)


@admin.register(ChannelPermission)
class ChannelPermissionAdmin(ModelAdmin[ChannelPermission]):
    """Who may join which channel (the same on every gateway)."""

    list_display = ("channel_name", "access", "rules_summary", "updated_on")
    list_filter = ("access",)
    search_fields = ("channel_name", "description")
    inlines = (ChannelPermissionRuleInline,)

    def get_queryset(self, request: HttpRequest) -> QuerySet[ChannelPermission]:
        rules = ChannelPermissionRule.objects.prefetch_related("permissions__content_type")
        return super().get_queryset(request).prefetch_related(Prefetch("rules", queryset=rules))

    @admin.display(description="Rules")
    def rules_summary(self, obj: ChannelPermission) -> str:
        """The rules as ``(a AND b)  OR  (c)``; empty unless access is "Requires Django permissions"."""
        if obj.access != ChannelPermission.Access.PERMISSIONS:
            return ""
        return "  OR  ".join(f"({rule})" for rule in obj.rules.all())
