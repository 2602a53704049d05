"""wsgateway's models.

The public API is that of django-aws-api-gateway-websockets 4.1.0's ``models`` module: the same
classes (``ApiGateway`` with its ``ProvisioningStatus``, ``ApiGatewayAdditionalRoute``,
``WebSocketSession``, ``WebSocketSessionQuerySet``, ``WebSocketToken``, ``ConnectionRateLimit``,
``ChannelPermission``, ``ChannelPermissionRule``), module-level constants and functions, with
their names, arguments and exception types. Each module-level function delegates to the one place
wsgateway keeps that policy (``wsgateway.aws``, ``wsgateway.hashing``, ``wsgateway.conf``,
``wsgateway.provisioning``). What still differs, and why, is listed in docs/migrating.md.

Nothing here calls AWS during a web request: the provisioning and sending methods enqueue
Celery tasks (after the transaction commits) and return a handle.
"""

from __future__ import annotations

import json
import logging
import os  # noqa: F401 (the reference's tests patch wsgateway.models.os.getpid)
import re
import secrets
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from datetime import timedelta
from typing import TYPE_CHECKING, Any, cast
from urllib.parse import urlsplit

from django.conf import settings
from django.contrib.auth.models import Permission
from django.core.exceptions import ValidationError
from django.core.validators import URLValidator
from django.db import DatabaseError, models, transaction
from django.db.models import Count, Prefetch, Q, prefetch_related_objects
from django.utils import timezone
from django.utils.crypto import constant_time_compare

from wsgateway.aws.clients import (
    AWS_CONNECT_TIMEOUT,
    AWS_MAX_ATTEMPTS,
    AWS_READ_TIMEOUT,
    get_boto3_client,
    get_region_name,
)
from wsgateway.aws.clients import clear_client_cache as clear_boto3_client_cache
from wsgateway.conf import wsgateway_settings
from wsgateway.exceptions import ApiGatewaySyncError, PayloadTooLargeError, ProvisioningError
from wsgateway.hashing import session_key_hash, token_hash, user_auth_hash
from wsgateway.querysets import BROADCAST_MAX_WORKERS, WebSocketSessionQuerySet
from wsgateway.security import channel_name_valid

if TYPE_CHECKING:
    from django.contrib.auth.models import AbstractBaseUser, AnonymousUser

    from wsgateway.aws.types import ApiGatewayManagementApiClient, ApiGatewayV2Client
    from wsgateway.payloads import RouteResult, StepResult
    from wsgateway.provisioning import ProvisioningHandle

__all__ = [
    "AWS_CONNECT_TIMEOUT",
    "AWS_MAX_ATTEMPTS",
    "AWS_READ_TIMEOUT",
    "BROADCAST_CONNECT_TIMEOUT",
    "BROADCAST_MAX_ATTEMPTS",
    "BROADCAST_MAX_WORKERS",
    "BROADCAST_READ_TIMEOUT",
    "GATEWAY_SECRET_HEADER",
    "GATEWAY_SECRET_PATTERN",
    "MAX_MESSAGE_SIZE",
    "RATE_LIMIT_PURGE_BATCH",
    "RATE_LIMIT_PURGE_ONE_IN",
    "RATE_LIMIT_RETENTION_DAYS",
    "ApiGateway",
    "ApiGatewayAdditionalRoute",
    "ApiGatewaySyncError",
    "ChannelPermission",
    "ChannelPermissionRule",
    "ConnectionRateLimit",
    "PayloadTooLargeError",
    "ProvisioningStatus",
    "WebSocketSession",
    "WebSocketSessionQuerySet",
    "WebSocketToken",
    "clear_boto3_client_cache",
    "collect_deferred_sync_errors",
    "get_boto3_client",
    "get_gateway_secrets",
    "get_region_name",
    "hash_session_key",
    "hash_user_auth",
    "integration_request_parameters",
    "run_aws_after_commit",
    "serialise_message",
    "validate_integration_host",
]

logger = logging.getLogger(__name__)


def __getattr__(name: str) -> Any:
    """``wsgateway.models.boto3``, imported on first use (Django start-up must not pay for it).

    Code and tests written for the reference package patch this name to stand in for AWS;
    :func:`get_boto3_client` builds its clients with whatever is set here (wsgateway/aws/clients.py).
    """
    if name == "boto3":
        import boto3

        return boto3
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


# --- the reference package's module-level names -------------------------------------------
# Each is an alias of, or a thin adapter over, the one place wsgateway keeps that policy.

#: Largest message API Gateway accepts (128 KiB); ``WSGATEWAY["MAX_MESSAGE_BYTES"]``'s default.
MAX_MESSAGE_SIZE = 128 * 1024

# The reference's per-request broadcast tuning. Here a broadcast is sent by the fan-out worker,
# whose own settings (FANOUT_CONCURRENCY, FANOUT_REQUEST_TIMEOUT_SECONDS, FANOUT_MAX_RETRIES)
# govern it; the names stay importable.
BROADCAST_CONNECT_TIMEOUT = 5  # seconds
BROADCAST_READ_TIMEOUT = 10  # seconds
BROADCAST_MAX_ATTEMPTS = 3

# Connection attempts are purged by the ``cleanup_rate_limits`` beat task after
# WSGATEWAY["RATE_LIMIT_RETENTION_DAYS"] (default below); ``record_attempt`` also purges one
# small batch now and then, so the table stays bounded without beat.
RATE_LIMIT_RETENTION_DAYS = 7
RATE_LIMIT_PURGE_ONE_IN = 100
RATE_LIMIT_PURGE_BATCH = 500

#: The header API Gateway sends the gateway secret in (``WSGATEWAY["SECRET_HEADER"]``'s default).
GATEWAY_SECRET_HEADER = "X-Ws-Gateway-Secret"  # noqa: S105 (a header name, not a secret)

#: A secret is written into a static mapping expression ``'value'``: no quote, no whitespace.
GATEWAY_SECRET_PATTERN = re.compile(r"^[A-Za-z0-9._~+/=-]{32,}$")


def get_gateway_secrets() -> list[str]:
    """The accepted gateway secrets, the one integrations carry first (empty: none configured)."""
    return [secret for secret in wsgateway_settings.gateway_secrets if isinstance(secret, str) and secret]


def integration_request_parameters() -> dict[str, str]:
    """``RequestParameters`` of an integration that calls Django.

    Maps the connection id, and the current gateway secret into its header when a secret is
    configured. Raises ``ValueError`` when that secret could break out of the static mapping
    expression (shorter than 32 characters, or a character outside ``A-Z a-z 0-9 . _ ~ + / = -``).
    """
    configured = get_gateway_secrets()
    if not configured:
        return {"integration.request.header.connectionId": "context.connectionId"}
    if not GATEWAY_SECRET_PATTERN.fullmatch(configured[0]):
        raise ValueError(
            "The gateway secret must be at least 32 characters from A-Z a-z 0-9 . _ ~ + / = - "
            "(no quotes, no whitespace, not even the newline a secret file often ends in)."
        )
    from wsgateway.provisioning import spec  # spec imports this module

    return spec.request_parameters()


def serialise_message(data: dict[str, Any]) -> str:
    """``data`` as strict JSON (no NaN/Infinity), checked against the 128 KiB limit.

    Raises :class:`~wsgateway.exceptions.PayloadTooLargeError` (a ``ValueError``) when the text
    exceeds ``WSGATEWAY["MAX_MESSAGE_BYTES"]``, and ``ValueError`` for NaN or Infinity.
    """
    text = json.dumps(data, allow_nan=False)
    size = len(text.encode("utf-8"))
    limit = int(wsgateway_settings.MAX_MESSAGE_BYTES)
    if size > limit:
        raise PayloadTooLargeError(
            f"Message exceeds AWS limit: {size} bytes (max: {limit} bytes)", status_code=413
        )
    return text


def _post_to_connection(
    client: ApiGatewayManagementApiClient, message: str, connection_id: str
) -> tuple[str, object]:
    """Post ``message`` with a boto3 management ``client``; never raises a delivery failure.

    ``("sent", response)``, ``("gone", None)`` (410) or ``("failed", None)``. Kept for code
    written against the reference; wsgateway's own fan-out does not use boto3 for this.
    """
    from botocore.exceptions import BotoCoreError, ClientError

    from wsgateway.aws.errors import translate_error
    from wsgateway.exceptions import GoneError

    try:
        return "sent", client.post_to_connection(Data=message, ConnectionId=connection_id)
    except (ClientError, BotoCoreError) as err:
        translated = translate_error(err, connection_id=connection_id, operation="PostToConnection")
        if isinstance(translated, GoneError):
            return "gone", None
        logger.warning("wsgateway: posting to connection %s failed: %s", connection_id, translated)
        return "failed", None


def hash_session_key(session_key: str) -> str:
    """The keyed hash (64 hex characters) under which a Django session key is stored."""
    return session_key_hash(session_key)


def hash_user_auth(user: Any) -> str:
    """A keyed hash of the user's session auth hash ('' for a user model without one)."""
    return user_auth_hash(user)


def validate_integration_host(url: str | None, field: str) -> None:
    """Raise ``ValidationError`` on ``field`` when ``url``'s host is not an allowed integration host.

    ``WSGATEWAY["ALLOWED_INTEGRATION_HOSTS"]`` lists host names; ``*.example.com`` matches
    sub-domains only; empty (the default) allows any host. An integration URL receives every
    event with the connection id and the gateway secret, so it must point at your own site.
    """
    if url and not _integration_host_allowed(url):
        raise ValidationError(
            {field: "This host is not in the allowed integration hosts (ALLOWED_INTEGRATION_HOSTS)."},
            code="integration_host",
        )


def _integration_host_allowed(url: str) -> bool:
    allowed = [h.strip().lower() for h in wsgateway_settings.ALLOWED_INTEGRATION_HOSTS if h.strip()]
    if not allowed:
        return True
    try:
        host = (urlsplit(url).hostname or "").lower()
    except ValueError:
        return False
    if not host:
        return False
    for entry in allowed:
        if entry.startswith("*."):
            if host.endswith(entry[1:]) and len(host) > len(entry) - 1:
                return True
        elif host == entry:
            return True
    return False


def _push_enabled(push_to_aws: bool | None) -> bool:
    """An explicit ``push_to_aws`` wins; else ``WSGATEWAY["PUSH_CHANGES_TO_AWS"]`` (default on)."""
    if push_to_aws is None:
        return bool(wsgateway_settings.PUSH_CHANGES_TO_AWS)
    return bool(push_to_aws)


#: The list ``collect_deferred_sync_errors()`` fills, while one is active in this context.
_deferred_sync_errors: ContextVar[list[Exception] | None] = ContextVar(
    "wsgateway_deferred_sync_errors", default=None
)


@contextmanager
def collect_deferred_sync_errors() -> Iterator[list[Exception]]:
    """Collect the ``ApiGatewaySyncError`` of operations ``run_aws_after_commit()`` ran at commit.

    As in the reference, the admin wraps its views in it and shows each error as a message.
    wsgateway's own models only enqueue at commit (a failed push is recorded by the worker in the
    gateway's ``last_error``), so the list fills only from operations of the project's own code.
    """
    errors: list[Exception] = []
    token = _deferred_sync_errors.set(errors)
    try:
        yield errors
    finally:
        _deferred_sync_errors.reset(token)


def run_aws_after_commit(operation: Callable[[], Any]) -> None:
    """Run ``operation`` once the open transaction commits, or now outside a transaction.

    Outside a transaction its ``ApiGatewaySyncError`` reaches the caller. At a commit it goes to
    the innermost active ``collect_deferred_sync_errors()`` list, or is raised from the commit
    when none is active.
    """
    connection = transaction.get_connection()
    if not connection.in_atomic_block:
        operation()
        return

    def run() -> None:
        try:
            operation()
        except ApiGatewaySyncError as error:
            errors = _deferred_sync_errors.get()
            if errors is None:
                raise
            errors.append(error)

    transaction.on_commit(run)


# AWS naming rules the admin can check before a worker ever calls AWS.
_STAGE_NAME_RE = re.compile(r"^[A-Za-z0-9_\-]{1,128}$")
_DOMAIN_RE = re.compile(r"^(?=.{1,253}$)(?!-)([A-Za-z0-9-]{1,63}(?<!-)\.)+[A-Za-z]{2,63}$")
_CERT_ARN_RE = re.compile(r"^arn:aws[a-z-]*:acm:[a-z0-9-]+:\d{12}:certificate/[A-Za-z0-9-]+$")
_HOSTED_ZONE_RE = re.compile(r"^[A-Z0-9]{1,32}$")
_SELECTION_RE = re.compile(r"^\$\{?request\.(body|header|querystring)\.[A-Za-z0-9_.\-]+\}?$")
_ROUTE_KEY_RE = re.compile(r"^[A-Za-z0-9_\-.$]{1,128}$")


def _validate_domain_name(value: str) -> None:
    if not _DOMAIN_RE.match(value):
        raise ValidationError(f"{value!r} is not a valid domain name.", code="invalid_domain")


class ProvisioningStatus(models.TextChoices):
    """How far provisioning in AWS has got (the reference's values), and where a run is.

    The first seven are the reference package's ``ApiGateway.ProvisioningStatus``. The last three
    are wsgateway's: a run is queued, its last step failed (``last_error`` says why), or the
    AWS resources were deleted. While a run holds the gateway its status is ``creating``.
    Additional routes use the same values (``pending``, ``queued``, ``creating``, ``deployed``,
    ``failed``, ``deleted``).
    """

    PENDING = "pending", "Pending"
    CREATING = "creating", "Creating"
    API_CREATED = "api_created", "API created"
    ROUTES_CREATED = "routes_created", "Routes created"
    DEPLOYED = "deployed", "Deployed"
    DOMAIN_CREATED = "domain_created", "Custom domain created"
    MAPPED = "mapped", "Custom domain mapped"
    QUEUED = "queued", "Queued"
    FAILED = "failed", "Failed"
    DELETED = "deleted", "Deleted from AWS"


#: Statuses that describe a run, not how far provisioning got (see effective_provisioning_status).
_RUN_STATUSES = frozenset({ProvisioningStatus.QUEUED, ProvisioningStatus.FAILED, ProvisioningStatus.DELETED})
_API_COMPLETE = frozenset(
    {ProvisioningStatus.DEPLOYED, ProvisioningStatus.DOMAIN_CREATED, ProvisioningStatus.MAPPED}
)

#: ``ApiGateway`` fields AWS holds: a full save of a deployed gateway enqueues their push.
SYNCED_GATEWAY_FIELDS = (
    "api_name",
    "api_description",
    "api_key_selection_expression",
    "route_selection_expression",
    "target_base_endpoint",
    "stage_description",
)
#: ``ApiGatewayAdditionalRoute`` fields AWS holds.
SYNCED_ROUTE_FIELDS = ("route_key", "integration_url")


class _SnapshotMixin(models.Model):
    """Remembers the loaded values of the fields AWS holds, to tell what a save changed."""

    synced_fields: tuple[str, ...] = ()

    class Meta:
        abstract = True

    @classmethod
    def from_db(cls, db: str | None, field_names: Any, values: Any, *args: Any, **kwargs: Any) -> Any:
        instance = super().from_db(db, field_names, values, *args, **kwargs)
        instance._aws_snapshot = instance._synced_values()
        return instance

    def _synced_values(self) -> dict[str, Any]:
        return {name: self.__dict__[name] for name in self.synced_fields if name in self.__dict__}

    def _changed_synced_fields(self) -> set[str]:
        """Fields AWS holds whose value differs from the loaded one; takes a new snapshot."""
        previous = getattr(self, "_aws_snapshot", {})
        current = self._synced_values()
        self._aws_snapshot = current
        return {name for name, value in current.items() if previous.get(name, value) != value}

    def _save_and_diff(self, args: Any, kwargs: dict[str, Any]) -> set[str] | None:
        """Save as the reference does: a full save validates first (``full_clean``); a save with
        ``update_fields`` does not. Returns the AWS-held fields a full save changed, ``None`` for
        an ``update_fields`` save (those never reach AWS)."""
        self.last_push: ProvisioningHandle | None = None
        full_save = kwargs.get("update_fields") is None
        if full_save:
            self.full_clean()
        super().save(*args, **kwargs)
        return self._changed_synced_fields() if full_save else None


class ApiGateway(_SnapshotMixin, models.Model):
    """Stored the API Gateway definitions.

    One row per API Gateway WebSocket API.  The user fills in the definition; the provisioning
    chain (run by a Celery worker) fills in the AWS ids, one step at a time.
    """

    ProvisioningStatus = ProvisioningStatus
    synced_fields = SYNCED_GATEWAY_FIELDS

    api_name = models.CharField(
        "API name", max_length=128, unique=True, help_text="Name of the API Gateway WebSocket API."
    )
    api_description = models.CharField(
        "API description", max_length=255, blank=True, default="", help_text="Description shown in AWS."
    )
    default_channel_name = models.CharField(
        "default channel name",
        max_length=128,
        blank=True,
        default="",
        help_text="Channel given to a connection that does not name one.",
    )
    domain_name = models.CharField(
        "custom domain name",
        max_length=255,
        blank=True,
        default="",
        help_text="The full domain to serve the API on, e.g. ws.example.com.",
    )
    target_base_endpoint = models.URLField(  # noqa: DJ001 (the reference stores "unset" as NULL)
        "target base endpoint",
        null=True,
        blank=True,
        default=None,
        help_text=(
            "URL of the Django WebSocket view including the trailing /, without the route slug: "
            "https://www.example.com/ws/ makes $connect POST to https://www.example.com/ws/connect."
        ),
    )
    certificate_arn = models.CharField(
        "certificate ARN",
        max_length=255,
        blank=True,
        default="",
        help_text="ACM certificate for the custom domain, in the API's region.",
    )
    hosted_zone_id = models.CharField(
        "hosted zone id",
        max_length=32,
        blank=True,
        default="",
        help_text="Your Route 53 hosted zone for the domain; when set, the alias record is created.",
    )
    api_key_selection_expression = models.CharField(
        "API key selection expression",
        max_length=255,
        default="$request.header.x-api-key",
        help_text="How API Gateway finds an API key in a request.",
    )
    route_selection_expression = models.CharField(
        "route selection expression",
        max_length=255,
        default="$request.body.action",
        help_text="Evaluated by API Gateway on each JSON message to pick the route.",
    )
    route_key = models.CharField(
        "route key",
        max_length=255,
        default="$default",
        help_text="Kept for compatibility with the reference; WebSocket APIs do not send it to AWS.",
    )
    stage_name = models.CharField(
        "stage name", max_length=128, default="production", blank=True, help_text="The stage to deploy."
    )
    stage_description = models.CharField(
        "stage description", max_length=255, default="", blank=True, help_text="Description of the stage."
    )
    tags = models.JSONField(
        "tags", blank=True, default=dict, help_text='AWS tags, in format {"tag-name": "tag-value"}.'
    )
    # Values returned by AWS.
    api_id = models.CharField(
        "API id", max_length=32, blank=True, default="", help_text="The id AWS gave the API."
    )
    api_endpoint = models.CharField(
        "API endpoint",
        max_length=255,
        blank=True,
        default="",
        help_text="The API's endpoint as AWS returned it (wss://…); the stage is appended to connect.",
    )
    api_gateway_domain_name = models.CharField(
        "API Gateway domain name",
        max_length=255,
        blank=True,
        default="",
        help_text="The regional domain name AWS created; your DNS alias points here.",
    )
    api_mapping_id = models.CharField(
        "API mapping id",
        max_length=128,
        blank=True,
        default="",
        help_text="The ApiMappingId of the custom domain.",
    )
    api_created = models.BooleanField(
        "API created", default=False, editable=False, help_text="The API exists in AWS and is deployed."
    )
    custom_domain_created = models.BooleanField(
        "custom domain created",
        default=False,
        editable=False,
        help_text="The custom domain and its API mapping exist in AWS.",
    )
    deployment_id = models.CharField(
        "deployment id",
        max_length=32,
        blank=True,
        default="",
        help_text="The latest deployment of the stage.",
    )
    # Provisioning state beyond the reference (docs/architecture.md §7): every AWS id a step creates.
    provisioning_status = models.CharField(
        "provisioning status",
        max_length=20,
        choices=ProvisioningStatus.choices,
        default=ProvisioningStatus.PENDING,
        help_text=(
            "How far provisioning in AWS has got, or where the current run is. Runs are resumable: "
            "enqueueing the operation again continues from what exists."
        ),
    )
    provisioning_step = models.CharField(
        "last completed step", max_length=64, blank=True, default="", help_text="The last step that finished."
    )
    last_error = models.TextField(
        "last error", blank=True, default="", help_text="The error that stopped the last run, if any."
    )
    last_sync_report = models.TextField(
        "last Sync from AWS",
        blank=True,
        default="",
        help_text=(
            "What the last Sync from AWS found: one line per difference between this row and AWS "
            '(the AWS value was pulled into the row), or "in sync" with the time.'
        ),
    )
    provisioning_lock = models.CharField(
        "provisioning lock",
        max_length=64,
        blank=True,
        default="",
        editable=False,
        help_text="Id of the run that holds this row; two runs cannot proceed at once.",
    )
    provisioning_locked_at = models.DateTimeField(
        "locked at", null=True, blank=True, editable=False, help_text="When the lock was taken."
    )
    connect_integration_id = models.CharField(
        "$connect integration id", max_length=32, blank=True, default="", help_text="Integration of $connect."
    )
    disconnect_integration_id = models.CharField(
        "$disconnect integration id",
        max_length=32,
        blank=True,
        default="",
        help_text="Integration of $disconnect.",
    )
    default_integration_id = models.CharField(
        "$default integration id", max_length=32, blank=True, default="", help_text="Integration of $default."
    )
    connect_route_id = models.CharField(
        "$connect route id", max_length=32, blank=True, default="", help_text="Route id of $connect."
    )
    disconnect_route_id = models.CharField(
        "$disconnect route id", max_length=32, blank=True, default="", help_text="Route id of $disconnect."
    )
    default_route_id = models.CharField(
        "$default route id", max_length=32, blank=True, default="", help_text="Route id of $default."
    )
    stage_created = models.BooleanField(
        "stage created", default=False, editable=False, help_text="The stage exists in AWS."
    )
    deployed_at = models.DateTimeField(
        "deployed at", null=True, blank=True, editable=False, help_text="When the last deployment was made."
    )
    api_mapping_key = models.CharField(
        "API mapping key",
        max_length=128,
        blank=True,
        default="",
        help_text="Path under the custom domain; the management endpoint is https://domain/<key>.",
    )
    api_gateway_hosted_zone_id = models.CharField(
        "API Gateway hosted zone id",
        max_length=32,
        blank=True,
        default="",
        help_text="AWS's hosted zone of the regional domain (the alias target's zone, not yours).",
    )
    dns_change_id = models.CharField(
        "DNS change id",
        max_length=64,
        blank=True,
        default="",
        help_text="The Route 53 change of the alias record.",
    )
    integration_secret_fingerprint = models.CharField(
        "integration secret fingerprint",
        max_length=32,
        blank=True,
        default="",
        help_text="Which gateway secret the integrations carry (a fingerprint, never the secret).",
    )
    created_on = models.DateTimeField("created on", auto_now_add=True, help_text="When the row was created.")
    updated_on = models.DateTimeField("updated on", auto_now=True, help_text="When the row last changed.")

    if TYPE_CHECKING:
        additional_routes: models.Manager[ApiGatewayAdditionalRoute]
        sessions: models.Manager[WebSocketSession]

    class Meta:
        verbose_name = "API Gateway"
        verbose_name_plural = "API Gateways"
        indexes = [
            models.Index(fields=["api_id"]),
            models.Index(fields=["domain_name"]),
            models.Index(fields=["provisioning_status"]),
            models.Index(fields=["created_on"]),
        ]

    def __str__(self) -> str:
        return self.api_name

    def save(self, *args: Any, push_to_aws: bool | None = None, **kwargs: Any) -> None:
        """Validate, ensure the target endpoint's trailing slash, save; then enqueue the AWS push.

        A full save runs ``full_clean()`` first (a ``ValidationError`` saves nothing). A save with
        ``update_fields`` writes only those columns, skips validation and never touches AWS (the
        provisioning steps record their progress that way).

        When the gateway is deployed (:attr:`is_deployed`) and a field AWS holds changed, the
        push of the changes is enqueued after the transaction commits (a ``push_changes`` run:
        API, integrations, routes, then a deployment); the handle is left on
        ``self.last_push``. ``push_to_aws=False`` never pushes, ``True`` always does, ``None``
        follows ``WSGATEWAY["PUSH_CHANGES_TO_AWS"]`` (on by default). Raises
        :class:`~wsgateway.exceptions.ApiGatewaySyncError` after saving when the push cannot be
        queued (e.g. no gateway secret configured); the local change is kept.
        """
        if self.target_base_endpoint and not self.target_base_endpoint.endswith("/"):
            self.target_base_endpoint += "/"
            if kwargs.get("update_fields") is not None:
                kwargs["update_fields"] = {*kwargs["update_fields"], "target_base_endpoint"}
        changed = self._save_and_diff(args, kwargs)
        if changed and self.is_deployed and _push_enabled(push_to_aws):
            self.last_push = self._enqueue("push_changes", ApiGatewaySyncError)

    def delete(self, *args: Any, push_to_aws: bool | None = None, **kwargs: Any) -> Any:
        """Delete the row. Its sessions are marked disconnected (see :mod:`wsgateway.receivers`).

        As in the reference, deleting the row leaves the API in AWS: ``push_to_aws`` is accepted
        and only ``True`` changes that, enqueueing the deletion of the AWS resources and then of
        the row (the row stays until the worker has deleted the API; the handle is returned).
        """
        if push_to_aws:
            return self._enqueue("delete_gateway", ProvisioningError, delete_row=True)
        return super().delete(*args, **kwargs)

    def clean(self) -> None:
        """Validate fields only when they have values."""
        errors: dict[str, list[str]] = {}

        def bad(field: str, message: str) -> None:
            errors.setdefault(field, []).append(message)

        try:
            validate_integration_host(self.target_base_endpoint, "target_base_endpoint")
        except ValidationError as err:
            bad("target_base_endpoint", err.messages[0])

        if self.api_name and not re.match(r"^[\w .\-]{1,128}$", self.api_name):
            bad("api_name", "Use letters, digits, spaces, '.', '-' and '_' (at most 128).")
        if self.domain_name:
            try:
                _validate_domain_name(self.domain_name)
            except ValidationError as err:
                bad("domain_name", err.messages[0])
        if self.target_base_endpoint:
            try:
                URLValidator(schemes=["http", "https"])(self.target_base_endpoint)
            except ValidationError:
                bad("target_base_endpoint", "Enter a full http(s) URL.")
            else:
                if urlsplit(self.target_base_endpoint).query:
                    bad("target_base_endpoint", "The base endpoint cannot have a query string.")
        if self.stage_name and not _STAGE_NAME_RE.match(self.stage_name):
            bad("stage_name", "Stage names use letters, digits, '-' and '_' (at most 128).")
        if self.certificate_arn and not _CERT_ARN_RE.match(self.certificate_arn):
            bad("certificate_arn", "Expected arn:aws:acm:<region>:<account>:certificate/<id>.")
        if self.hosted_zone_id and not _HOSTED_ZONE_RE.match(self.hosted_zone_id):
            bad("hosted_zone_id", "A Route 53 hosted zone id is upper-case letters and digits.")
        if self.route_selection_expression and not _SELECTION_RE.match(self.route_selection_expression):
            bad("route_selection_expression", "Expected an expression such as $request.body.action.")
        if self.api_key_selection_expression and not _SELECTION_RE.match(self.api_key_selection_expression):
            bad("api_key_selection_expression", "Expected an expression such as $request.header.x-api-key.")
        if self.tags and (
            not isinstance(self.tags, dict)
            or not all(isinstance(k, str) and isinstance(v, str) for k, v in self.tags.items())
        ):
            bad("tags", 'Tags must be a JSON object of strings: {"tag-name": "tag-value"}.')
        if self.certificate_arn and not self.domain_name:
            bad("domain_name", "A certificate needs the domain name it is for.")
        if errors:
            raise ValidationError(errors)

    # --- derived endpoints ---
    @property
    def websocket_url(self) -> str:
        """The URL clients connect to (the custom domain's when it exists)."""
        if self.custom_domain_created and self.domain_name:
            key = f"/{self.api_mapping_key}" if self.api_mapping_key else ""
            return f"wss://{self.domain_name}{key}"
        return f"{self.api_endpoint.rstrip('/')}/{self.stage_name}" if self.api_endpoint else ""

    @property
    def management_endpoint_url(self) -> str:
        """The ``@connections`` endpoint: ``https://{domain}/{mapping_key}`` with a custom domain,
        else the API endpoint plus ``/{stage}`` (``/{stage}`` on a custom domain gives 403)."""
        if self.custom_domain_created and self.domain_name:
            key = f"/{self.api_mapping_key}" if self.api_mapping_key else ""
            return f"https://{self.domain_name}{key}"
        if not self.api_endpoint:
            return ""
        base = self.api_endpoint.rstrip("/")
        if base.startswith("wss://"):
            base = "https://" + base[len("wss://") :]
        elif base.startswith("ws://"):
            base = "http://" + base[len("ws://") :]
        return f"{base}/{self.stage_name}"

    # --- provisioning state (reference names) ---
    @property
    def is_deployed(self) -> bool:
        """The API exists in AWS and a deployment of its stage was made."""
        return bool(self.api_created and self.api_id and self.deployment_id)

    @property
    def effective_provisioning_status(self) -> str:
        """How far provisioning has got, reading past wsgateway's run statuses.

        ``pending`` with ``api_created`` set (a row older than the status, or registered by hand
        for an existing API) counts as complete: ``deployed``, or ``mapped`` with its custom
        domain. So does a queued or failed run on an API that was complete. Otherwise a queued or
        failed run reports how far the rows show it got. ``creating`` stays ``creating`` even with
        ``api_created`` set, as in the reference: a creation was claimed and nothing shows that it
        finished (a run on a complete API never sets ``creating``, see provisioning/lock.py).
        """
        status = self.provisioning_status
        progress = (
            ProvisioningStatus.CREATING,
            ProvisioningStatus.API_CREATED,
            ProvisioningStatus.ROUTES_CREATED,
        )
        if status in _API_COMPLETE or status in progress:
            return status
        if self.api_created:
            return ProvisioningStatus.MAPPED if self.custom_domain_created else ProvisioningStatus.DEPLOYED
        if status in _RUN_STATUSES:
            return ProvisioningStatus.API_CREATED if self.api_id else ProvisioningStatus.PENDING
        return status

    @property
    def needs_api_creation(self) -> bool:
        """The API still has to be created (or finished after a failure)."""
        return self.effective_provisioning_status not in _API_COMPLETE

    @property
    def needs_custom_domain(self) -> bool:
        """The API is deployed and its custom domain or API mapping is not done."""
        return self.effective_provisioning_status in (
            ProvisioningStatus.DEPLOYED,
            ProvisioningStatus.DOMAIN_CREATED,
        )

    # --- provisioning entry points (reference names); they enqueue the worker's chain ---
    def _enqueue(self, operation: str, error: type[Exception], **kwargs: Any) -> ProvisioningHandle:
        """Enqueue ``operation`` on this (saved) gateway; refusals raise ``error``."""
        from wsgateway import provisioning

        if self.pk is None:
            raise ValueError("Save the gateway before enqueueing AWS work on it.")
        try:
            if operation == "delete_gateway":
                return provisioning.enqueue_delete_from_aws(self, **kwargs)
            return provisioning.enqueue(operation, self.pk, **kwargs)
        except ProvisioningError as err:
            if isinstance(err, error):
                raise
            raise error(str(err)) from err

    def create_gateway(self) -> ProvisioningHandle | bool:
        """Creates the actual API gateway record.

        Enqueues the provisioning chain (API, integrations, routes, stage, deployment) on the
        ``provisioning`` queue (after the transaction commits) and returns a
        ``ProvisioningHandle`` (``run_id``, ``task_id``; ``.result`` is the Celery AsyncResult).
        Returns ``False`` (as the reference) when the API is already complete. An unsaved row is
        saved (validated) first; ``ValueError`` without ``target_base_endpoint``.
        """
        if not self.needs_api_creation:
            return False
        if not self.target_base_endpoint:
            raise ValueError("target_base_endpoint is required to create the API Gateway")
        if self.pk is None:
            self.save()
        elif self._creation_in_progress():
            raise ValueError(
                f"API Gateway {self.api_name!r} is already being created by another run. Wait for it; if"
                " it stopped without finishing, check AWS for the API and set the provisioning status."
            )
        return self._enqueue("create_gateway", ProvisioningError)

    def _creation_in_progress(self) -> bool:
        """Whether the row (as stored now, not as this copy says) is being created: ``creating``
        with a live run's lock, or with no lock at all (a creation the reference package claimed,
        imported as it was: an API may exist in AWS that no row records). A run whose worker died
        (its lock expired) does not count: the next run resumes from its recorded steps."""
        row = (
            type(self)
            ._default_manager.filter(pk=self.pk)
            .values("provisioning_status", "api_created", "provisioning_lock", "provisioning_locked_at")
            .first()
        )
        if row is None or row["api_created"] or row["provisioning_status"] != ProvisioningStatus.CREATING:
            return False
        if not row["provisioning_lock"]:
            return True
        expired = timezone.now() - timedelta(seconds=float(wsgateway_settings.PROVISIONING_LOCK_SECONDS))
        return row["provisioning_locked_at"] is not None and row["provisioning_locked_at"] >= expired

    def create_custom_domain(self) -> ProvisioningHandle | None:
        """Uses boto3 to create the custom domain and associate it with the production stage
        of the loaded API.

        Should be called after create_gateway() has been run.  Enqueues the domain-name, API
        mapping and (with a hosted zone) Route 53 alias steps and returns a ``ProvisioningHandle``;
        ``None`` when the domain is already mapped. ``ValueError`` before the API is complete or
        without ``certificate_arn``.
        """
        status = self.effective_provisioning_status
        if status not in _API_COMPLETE:
            raise ValueError("The API needs to be created before calling this method")
        if not self.certificate_arn:
            raise ValueError("A Certificate ARN is required")
        if status == ProvisioningStatus.MAPPED:
            return None
        return self._enqueue("create_custom_domain", ProvisioningError)

    def sync_to_aws(self, client: object = None, fields: object = None) -> ProvisioningHandle:
        """Enqueue writing the row's values to the deployed API (then a deployment if needed).

        ``client`` and ``fields`` are accepted for the reference's signature: the worker uses
        its own client and compares every field. Returns the run's ``ProvisioningHandle``; its
        result lists the changes. ``ValueError`` unless :attr:`is_deployed`.
        """
        if not self.is_deployed:
            raise ValueError("The API must be deployed before it can be synced to AWS")
        return self._enqueue("sync_to_aws", ApiGatewaySyncError)

    def sync_from_aws(self, client: object = None) -> ProvisioningHandle:
        """Enqueue reading the deployed API into the rows; returns the run's handle.

        ``ValueError`` unless :attr:`is_deployed`.
        """
        if not self.is_deployed:
            raise ValueError("The API must be deployed before it can be synced from AWS")
        return self._enqueue("sync_from_aws", ApiGatewaySyncError)

    def deploy_api(self, client: ApiGatewayV2Client | None = None) -> StepResult | ProvisioningHandle:
        """Create a deployment of the stage.

        With ``client`` (an ``apigatewayv2`` client, as in the reference) it deploys now — the
        worker's provisioning chain calls it so. Without one it enqueues a redeploy run and
        returns its handle.
        """
        from wsgateway import provisioning

        if client is None:
            return self._enqueue("redeploy", ProvisioningError)
        return provisioning.deploy_api(self, client)


class ApiGatewayAdditionalRoute(_SnapshotMixin, models.Model):
    """Stores the additional route keys"""

    synced_fields = SYNCED_ROUTE_FIELDS

    api_gateway = models.ForeignKey(
        ApiGateway,
        on_delete=models.CASCADE,
        related_name="additional_routes",
        verbose_name="API Gateway",
        help_text="The API this route belongs to.",
    )
    name = models.CharField("name", max_length=128, help_text="A label for the admin.")
    route_key = models.CharField(
        "route key",
        max_length=128,
        help_text="Value of the route selection expression that selects this route, e.g. 'chat'.",
    )
    integration_url = models.URLField(
        "integration URL", max_length=255, help_text="Where API Gateway POSTs this route's messages."
    )
    deployed = models.BooleanField("deployed", default=False, help_text="The route is live in AWS.")
    integration_id = models.CharField(
        "integration id", max_length=32, blank=True, default="", help_text="The route's AWS integration."
    )
    route_id = models.CharField(
        "route id", max_length=32, blank=True, default="", help_text="The AWS route id."
    )
    provisioning_status = models.CharField(
        "provisioning status",
        max_length=20,
        choices=ProvisioningStatus.choices,
        default=ProvisioningStatus.PENDING,
        help_text="Where this route's provisioning is.",
    )
    last_error = models.TextField("last error", blank=True, default="", help_text="The last failure, if any.")
    created_on = models.DateTimeField("created on", auto_now_add=True, help_text="When the row was created.")
    updated_on = models.DateTimeField("updated on", auto_now=True, help_text="When the row last changed.")

    class Meta:
        verbose_name = "additional route"
        verbose_name_plural = "additional routes"
        constraints = [
            models.UniqueConstraint(fields=["api_gateway", "route_key"], name="wsgateway_route_key_unique"),
        ]

    def __str__(self) -> str:
        return self.name

    def save(self, *args: Any, push_to_aws: bool | None = None, **kwargs: Any) -> None:
        """Validate and save the record, then enqueue its route's create/update and a deployment.

        A full save runs ``full_clean()`` first; a save with ``update_fields`` neither validates
        nor touches AWS. When the gateway's API exists: a route not yet in AWS is always queued
        for creation (as the reference creates a new route), unless ``push_to_aws=False``; a
        deployed route whose ``route_key`` or ``integration_url`` changed is queued for update
        when ``push_to_aws`` is ``True``, or ``None`` and ``WSGATEWAY["PUSH_CHANGES_TO_AWS"]`` is
        on. The handle is left on ``self.last_push``. Everything is enqueued after the
        transaction commits; nothing here calls AWS.
        """
        changed = self._save_and_diff(args, kwargs)
        if changed is None or push_to_aws is False or not self.api_gateway.api_id:
            return
        if not self.deployed or (changed and _push_enabled(push_to_aws)):
            from wsgateway import provisioning

            self.last_push = provisioning.enqueue_sync_route(self.pk)

    def delete(self, *args: Any, push_to_aws: bool | None = None, **kwargs: Any) -> Any:
        """Delete the record; its AWS route and integration are deleted by a queued run (then a
        deployment) unless ``push_to_aws=False``, or ``None`` with ``PUSH_CHANGES_TO_AWS`` off."""
        self._push_delete = _push_enabled(push_to_aws)
        return super().delete(*args, **kwargs)

    def clean(self) -> None:
        """Route keys may not shadow the built-in routes; the URL must be at an allowed host."""
        validate_integration_host(self.integration_url, "integration_url")
        if self.route_key and (self.route_key.startswith("$") or not _ROUTE_KEY_RE.match(self.route_key)):
            raise ValidationError(
                {"route_key": "Use letters, digits, '.', '-' and '_'; '$' routes are built in."}
            )

    def create_route(self, client: ApiGatewayV2Client, deploy: bool = True) -> RouteResult:
        """Create the Integration and then the route (on the worker, with an ``apigatewayv2`` client)."""
        from wsgateway import provisioning

        return provisioning.create_route(self, client, deploy=deploy)

    def update_route(
        self,
        client: ApiGatewayV2Client | None = None,
        previous_route_key: str | None = None,
        deploy: bool = True,
    ) -> list[StepResult] | ProvisioningHandle | None:
        """Bring the AWS route and integration in line with this row, then deploy.

        Without ``client`` the run is enqueued and its handle returned; with an ``apigatewayv2``
        client it runs now, in this process (as management commands' ``--here`` do), and the
        step results are returned. The route is found by its recorded id, so
        ``previous_route_key`` is not needed; a deployment follows whatever ``deploy`` says
        (one deployment per run, made only when something changed).
        """
        from wsgateway import provisioning

        if client is None:
            return provisioning.enqueue_sync_route(self.pk)
        return provisioning.run_inline("sync_route", self.api_gateway_id, arg=str(self.pk), client=client)

    def delete_route(
        self, client: ApiGatewayV2Client | None = None, deploy: bool = True
    ) -> list[StepResult] | ProvisioningHandle | None:
        """Delete this row's AWS route and integration (a route already gone is fine), then deploy.

        Enqueued without ``client`` (``None`` when nothing of it exists in AWS); run now with one.
        The row itself is not deleted: ``delete()`` does that and queues this on its own.
        """
        from wsgateway import provisioning

        if not (self.route_id or self.integration_id):
            return None
        arg = f"{self.route_id},{self.integration_id}"
        if client is None:
            return provisioning.enqueue_delete_route(self.api_gateway_id, self.route_id, self.integration_id)
        return provisioning.run_inline("delete_route", self.api_gateway_id, arg=arg, client=client)


class WebSocketSession(models.Model):
    """One WebSocket connection held by API Gateway, as Django knows it."""

    connection_id = models.CharField(
        "connection id", max_length=255, unique=True, help_text="API Gateway's connectionId."
    )
    channel_name = models.CharField(
        "channel name",
        max_length=128,
        blank=True,
        default="",
        help_text="Used to group connections together.",
    )
    user = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        blank=True,
        null=True,
        default=None,
        on_delete=models.CASCADE,
        related_name="websocket_sessions",
        verbose_name="user",
        help_text="The authenticated user, if any.",
    )
    connected = models.BooleanField(
        "connected", default=True, help_text="Indicates is the connection is current or not."
    )
    api_gateway = models.ForeignKey(
        ApiGateway,
        null=True,
        blank=True,
        default=None,
        on_delete=models.SET_NULL,
        related_name="sessions",
        verbose_name="API Gateway",
        help_text="The API the connection came through.",
    )
    request_count = models.PositiveBigIntegerField(
        "request count", default=1, help_text="Events received on this connection."
    )
    session_key_hash = models.CharField(
        "session key hash",
        max_length=64,
        blank=True,
        default="",
        help_text="Keyed hash of the Django session key the connection was opened with.",
    )
    auth_hash = models.CharField(
        "auth hash",
        max_length=128,
        blank=True,
        default="",
        help_text="The user's session auth hash at connect; a password change invalidates the session.",
    )
    source_ip = models.GenericIPAddressField(
        "source IP", null=True, blank=True, help_text="Client IP at connect (from trusted proxy hops)."
    )
    connected_at = models.DateTimeField(
        "connected at", default=timezone.now, help_text="When $connect was accepted."
    )
    last_seen_at = models.DateTimeField(
        "last seen at", default=timezone.now, help_text="Last event received from the client."
    )
    disconnected_at = models.DateTimeField(
        "disconnected at", null=True, blank=True, help_text="When the connection was marked gone."
    )
    created_on = models.DateTimeField("created on", auto_now_add=True, help_text="When the row was created.")
    updated_on = models.DateTimeField("updated on", auto_now=True, help_text="When the row last changed.")

    objects = WebSocketSessionQuerySet.as_manager()

    class Meta:
        verbose_name = "WebSocket session"
        verbose_name_plural = "WebSocket sessions"
        indexes = [
            # Fan-out streams recipients in id order under these filters (keyset pagination).
            models.Index(fields=["channel_name", "connected", "id"], name="wsg_session_channel_idx"),
            models.Index(fields=["user", "connected", "id"], name="wsg_session_user_idx"),
            models.Index(fields=["api_gateway", "connected", "id"], name="wsg_session_gateway_idx"),
            models.Index(fields=["connected", "id"], name="wsg_session_live_idx"),
            # Sweeps: stale live sessions, and old disconnected rows.
            models.Index(fields=["connected", "last_seen_at"], name="wsg_session_idle_idx"),
            models.Index(fields=["connected", "connected_at"], name="wsg_session_age_idx"),
            models.Index(fields=["connected", "updated_on"], name="wsg_session_purge_idx"),
        ]

    def __str__(self) -> str:
        return self.connection_id

    def send_message(self, data: dict[str, Any]) -> Any:
        """Sends a message containing the given data to connection.

        Enqueues the send (after the current transaction commits) and returns a handle with the
        message id; API Gateway is called by a worker, never here. ``ValueError`` when the
        session has no gateway to send through; ``PayloadTooLargeError`` (a ``ValueError``) for
        a message over the size limit.
        """
        from wsgateway import sending

        if self.api_gateway_id is None:
            raise ValueError(f"Session {self.connection_id} has no API Gateway to send the message through")

        return sending.send_to_connection(self, data)


class WebSocketToken(models.Model):
    """One-time use tokens for establishing WebSocket connections (CSRF protection).

    Only a keyed hash of the token is stored; the plaintext exists once, on the instance
    :meth:`generate_token` returns (``row.token``) and in the answer to the client.  The token
    is bound to the hash of the Django session key, and records the user's auth hash at issue
    time: a password change after issue makes it useless.
    """

    token = models.CharField(
        "token hash", max_length=64, unique=True, help_text="Keyed hash of the token (never the token)."
    )
    user = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.CASCADE,
        related_name="websocket_tokens",
        verbose_name="user",
        help_text="Who the token was issued to.",
    )
    session_key = models.CharField(
        "session key hash", max_length=64, help_text="Keyed hash of the Django session the token is bound to."
    )
    auth_hash = models.CharField(
        "auth hash",
        max_length=128,
        blank=True,
        default="",
        help_text="The user's session auth hash when the token was issued; the socket keeps it.",
    )
    created_at = models.DateTimeField(
        "created at", default=timezone.now, help_text="When the token was issued."
    )
    used = models.BooleanField("used", default=False, help_text="Tokens are single use.")
    used_at = models.DateTimeField("used at", null=True, blank=True, help_text="When the token was consumed.")

    # The raw token, on the instance generate_token() returns only.
    _raw_token: str | None = None

    class Meta:
        verbose_name = "WebSocket token"
        verbose_name_plural = "WebSocket tokens"
        indexes = [
            models.Index(fields=["user", "created_at"], name="wsg_token_user_idx"),
            models.Index(fields=["used", "created_at"], name="wsg_token_cleanup_idx"),
        ]

    def __str__(self) -> str:
        return f"token for user {self.user_id} at {self.created_at:%Y-%m-%d %H:%M:%S}"

    def save(self, *args: Any, **kwargs: Any) -> None:
        """Save; the raw token held by a freshly generated instance is written as its hash."""
        raw = getattr(self, "_raw_token", None)
        if raw is not None and self.token == raw:
            self.token = token_hash(raw)
            try:
                super().save(*args, **kwargs)
            finally:
                self.token = raw
            return
        super().save(*args, **kwargs)

    def refresh_from_db(self, *args: Any, **kwargs: Any) -> None:
        """Reload; ``token`` then holds the stored hash (the raw value is gone)."""
        self._raw_token = None
        super().refresh_from_db(*args, **kwargs)

    @classmethod
    def generate_token(cls, user: AbstractBaseUser, session_key: str) -> WebSocketToken:
        """Generate a one-time use WebSocket token.

        Returns the row, with the raw token (64 hex characters) in ``row.token`` on this instance
        only; the database holds its keyed hash.
        """
        if not session_key:
            raise ValueError("A token must be bound to a Django session key.")
        value = secrets.token_hex(32)
        row = cls(
            token=value,
            user=cast(Any, user),
            session_key=session_key_hash(session_key),
            auth_hash=_session_auth_hash(user),
        )
        row._raw_token = value
        row.save(force_insert=True)
        return row

    @classmethod
    def consume(
        cls, token_value: str, session_key: str | None, max_age_seconds: int = 60
    ) -> WebSocketToken | None:
        """The token row (with its user), consumed; ``None`` when it is not valid.

        Valid: unused, issued no more than ``max_age_seconds`` ago, under the user's current
        password (the recorded auth hash still matches) and, when ``session_key`` is given,
        issued to that Django session. ``session_key=None`` (a ``$connect`` that carries no
        cookie, e.g. on the default execute-api host) accepts the token alone; its row's
        ``session_key`` names the session it binds the socket to. Consumption is one
        conditional UPDATE, so of two concurrent attempts exactly one wins.
        """
        if not isinstance(token_value, str) or not token_value or session_key == "" or len(token_value) > 512:
            return None
        now = timezone.now()
        rows = cls.objects.select_related("user").filter(token=token_hash(token_value))
        if session_key is not None:
            rows = rows.filter(session_key=session_key_hash(session_key))
        row = rows.first()
        if row is None or row.used or now - row.created_at > timedelta(seconds=max_age_seconds):
            return None
        if not auth_hash_matches(row.auth_hash, row.user):
            return None
        if cls.objects.filter(pk=row.pk, used=False).update(used=True, used_at=now) != 1:
            return None
        row.used, row.used_at = True, now
        return row

    @classmethod
    def validate_and_consume(
        cls, token_value: str, session_key: str, max_age_seconds: int = 60
    ) -> AbstractBaseUser | None:
        """Validate token and mark as used (single-use).

        Returns the token's user, or ``None`` (see :meth:`consume` for what is valid).
        """
        row = cls.consume(token_value, session_key, max_age_seconds)
        return None if row is None else row.user

    @classmethod
    def revoke_for_user(cls, user: Any) -> int:
        """Delete the user's unused tokens (logout, password change, deactivation)."""
        user_id = getattr(user, "pk", user)
        if user_id is None:
            return 0
        deleted, _per_model = cls.objects.filter(user_id=user_id, used=False).delete()
        return deleted

    @classmethod
    def check_rate_limit(cls, user: AbstractBaseUser, max_tokens_per_minute: int = 10) -> bool:
        """Check if user has exceeded token generation rate limit.

        Returns True while the user has obtained fewer than ``max_tokens_per_minute`` tokens in
        the last 60 seconds.
        """
        since = timezone.now() - timedelta(minutes=1)
        issued = cls.objects.filter(user=user, created_at__gte=since).count()
        return issued < max_tokens_per_minute

    @classmethod
    def cleanup_expired(cls, max_age_seconds: int = 300) -> tuple[int, dict[str, int]]:
        """Delete expired/used tokens (call via cron/celery).

        Deletes tokens older than ``max_age_seconds`` and used ones. Returns Django's
        ``delete()`` result, ``(count, per_model)``, as the reference does.
        """
        cutoff = timezone.now() - timedelta(seconds=max_age_seconds)
        return cls.objects.filter(Q(used=True) | Q(created_at__lt=cutoff)).delete()


def _session_auth_hash(user: Any) -> str:
    get_auth_hash = getattr(user, "get_session_auth_hash", None)
    return get_auth_hash() if get_auth_hash is not None else ""


def auth_hash_matches(recorded: str, user: Any) -> bool:
    """Whether ``recorded`` (a session auth hash) is still ``user``'s, in constant time.

    An empty ``recorded`` (a row older than the field) matches. A hash made under a key in
    ``SECRET_KEY_FALLBACKS`` matches too, so rotating ``SECRET_KEY`` does not log everyone out.
    The keyed form :func:`hash_user_auth` gives (what code written for the reference stores on
    a session it creates) matches as well.
    """
    if not recorded:
        return True
    if constant_time_compare(recorded, _session_auth_hash(user)):
        return True
    if constant_time_compare(recorded, hash_user_auth(user)):
        return True
    fallbacks = getattr(user, "get_session_auth_fallback_hash", None)
    return fallbacks is not None and any(constant_time_compare(recorded, h) for h in fallbacks())


class ConnectionRateLimit(models.Model):
    """Track connection attempts for rate limiting"""

    ip_address = models.GenericIPAddressField("IP address", help_text="Client IP of the attempt.")
    user = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        null=True,
        blank=True,
        on_delete=models.CASCADE,
        related_name="websocket_connection_attempts",
        verbose_name="user",
        help_text="The user, when the attempt was authenticated.",
    )
    attempt_time = models.DateTimeField(
        "attempt time", default=timezone.now, help_text="When the attempt was made."
    )
    successful = models.BooleanField(
        "successful", default=False, help_text="Whether the connection was accepted."
    )

    class Meta:
        verbose_name = "connection attempt"
        verbose_name_plural = "connection attempts"
        indexes = [
            models.Index(fields=["ip_address", "attempt_time"], name="wsg_ratelimit_ip_idx"),
            models.Index(fields=["user", "attempt_time"], name="wsg_ratelimit_user_idx"),
            models.Index(fields=["attempt_time"], name="wsg_ratelimit_time_idx"),
        ]

    def __str__(self) -> str:
        return f"{self.ip_address} at {self.attempt_time:%Y-%m-%d %H:%M:%S}"

    @classmethod
    def check_rate_limit(
        cls,
        ip_address: str,
        user: AbstractBaseUser | AnonymousUser | None = None,
        max_attempts: int = 20,
        window_minutes: int = 5,
    ) -> tuple[bool, int]:
        """Check if IP or user has exceeded connection rate limit.

        Returns: (is_allowed: bool, attempts_count: int)

        Attempts (successful or not) within the last ``window_minutes`` are counted per IP and,
        for an authenticated user, per user; the count returned is the larger.  A caller that has
        already made ``max_attempts`` attempts is refused.  One query.
        """
        since = timezone.now() - timedelta(minutes=window_minutes)
        user_id = user.pk if user is not None and getattr(user, "is_authenticated", False) else None
        recent = cls.objects.filter(attempt_time__gt=since)
        if user_id is None:
            ip_count = recent.filter(ip_address=ip_address).count()
            return ip_count < max_attempts, ip_count
        counts = recent.filter(Q(ip_address=ip_address) | Q(user_id=user_id)).aggregate(
            ip=Count("id", filter=Q(ip_address=ip_address)), user=Count("id", filter=Q(user_id=user_id))
        )
        attempts = max(counts["ip"], counts["user"])
        return attempts < max_attempts, attempts

    @classmethod
    def record_attempt(
        cls,
        ip_address: str,
        user: AbstractBaseUser | AnonymousUser | None = None,
        successful: bool = False,
    ) -> ConnectionRateLimit:
        """Record a connection attempt, and now and then delete one batch of expired ones.

        One call in ``RATE_LIMIT_PURGE_ONE_IN`` deletes up to ``RATE_LIMIT_PURGE_BATCH`` rows older
        than ``WSGATEWAY["RATE_LIMIT_RETENTION_DAYS"]``, so the table stays bounded even without
        the beat task. A failing purge is logged and never loses the attempt.
        """
        attempt = cls.log_attempt(ip_address, user, successful=successful)
        if secrets.randbelow(RATE_LIMIT_PURGE_ONE_IN) == 0:
            try:
                with transaction.atomic():  # a savepoint: a failed purge must not abort $connect's
                    cls._purge_expired()
            except DatabaseError:
                logger.exception("wsgateway: could not delete expired connection attempts")
        return attempt

    @classmethod
    def log_attempt(
        cls,
        ip_address: str,
        user: AbstractBaseUser | AnonymousUser | None = None,
        *,
        successful: bool = False,
    ) -> ConnectionRateLimit:
        """Record one attempt, one INSERT and nothing else (the view's ``$connect`` path: its
        query budget is fixed; the beat task ``cleanup_rate_limits`` deletes old rows)."""
        user_id = user.pk if user is not None and getattr(user, "is_authenticated", False) else None
        return cls.objects.create(ip_address=ip_address, user_id=user_id, successful=successful)

    @classmethod
    def _purge_expired(cls) -> int:
        cutoff = timezone.now() - timedelta(days=float(wsgateway_settings.RATE_LIMIT_RETENTION_DAYS))
        expired = list(
            cls.objects.filter(attempt_time__lt=cutoff).values_list("pk", flat=True)[:RATE_LIMIT_PURGE_BATCH]
        )
        if not expired:
            return 0
        return cls.objects.filter(pk__in=expired).delete()[0]

    @classmethod
    def cleanup_old_records(cls, days: int = 7) -> tuple[int, dict[str, int]]:
        """Delete old rate limit records (call via cron/celery).

        Returns Django's ``delete()`` result, ``(count, per_model)``, as the reference does.
        """
        cutoff = timezone.now() - timedelta(days=days)
        return cls.objects.filter(attempt_time__lt=cutoff).delete()


def _validate_channel_name(value: str) -> None:
    if not channel_name_valid(value):
        raise ValidationError(f"{value!r} is not a valid channel name.", code="invalid_channel")


class ChannelPermission(models.Model):
    """Who may join a channel.

    Channel permissions are global: a channel name means the same channel on every gateway. A
    user is checked against the same row whichever gateway they join through, and
    ``send_to_channel(name, ...)`` reaches that channel on every gateway. A channel without a
    row is open to anyone who may connect.
    """

    class Access(models.TextChoices):
        ALLOW_ALL = "allow_all", "Allow all"
        SUPERUSER_ONLY = "superuser_only", "Super admin only"
        STAFF_ONLY = "staff_only", "Staff only"
        PERMISSIONS = "permissions", "Requires Django permissions"
        #: wsgateway's addition: any active, logged-in user.
        AUTHENTICATED = "authenticated", "Authenticated users"

    channel_name = models.CharField(
        "channel name",
        max_length=128,
        unique=True,
        validators=[_validate_channel_name],
        help_text="The exact channel name this row applies to, on every gateway.",
    )
    access = models.CharField(
        "access",
        max_length=20,
        choices=Access.choices,
        default=Access.ALLOW_ALL,
        help_text="Who may join. The rules are used only for 'Requires Django permissions'.",
    )
    description = models.CharField(
        "description", max_length=255, blank=True, default="", help_text="A note for administrators."
    )
    created_on = models.DateTimeField("created on", auto_now_add=True, help_text="When the row was created.")
    updated_on = models.DateTimeField("updated on", auto_now=True, help_text="When the row last changed.")

    class Meta:
        verbose_name = "channel permission"
        verbose_name_plural = "channel permissions"
        ordering = ["channel_name"]

    def __str__(self) -> str:
        return f"{self.channel_name} ({self.get_access_display()})"

    @classmethod
    def for_channel(cls, channel_name: str) -> ChannelPermission | None:
        """The row for ``channel_name``, or ``None`` when the channel has none."""
        return cls.objects.filter(channel_name=channel_name).first()

    def allows(self, user: AbstractBaseUser | AnonymousUser | None) -> bool:
        """Whether ``user`` may join this channel.

        ``allow_all`` admits everyone. Every other level refuses anonymous and inactive users
        and admits superusers. ``permissions``: the user must satisfy one rule (OR), a rule
        being all of its permissions (AND); no rules, or only empty ones, admit superusers only.
        An unknown stored value admits nobody.
        """
        if self.access == self.Access.ALLOW_ALL:
            return True
        if self.access not in self.Access.values:
            return False
        if user is None or not user.is_authenticated or not user.is_active:
            return False
        if getattr(user, "is_superuser", False):
            return True
        if self.access == self.Access.AUTHENTICATED:
            return True
        if self.access == self.Access.STAFF_ONLY:
            return bool(getattr(user, "is_staff", False))
        if self.access == self.Access.PERMISSIONS:
            prefetch_related_objects(
                [self],
                Prefetch(
                    "rules",
                    queryset=ChannelPermissionRule.objects.prefetch_related(
                        Prefetch("permissions", queryset=Permission.objects.select_related("content_type"))
                    ),
                ),
            )
            return any(rule.is_satisfied_by(user) for rule in self.rules.all())
        return False

    @classmethod
    def user_may_join(
        cls,
        channel_name: str,
        user: AbstractBaseUser | AnonymousUser | None,
        api_gateway: ApiGateway | None = None,
    ) -> bool:
        """Whether ``user`` may join ``channel_name`` (no row: yes).

        ``api_gateway`` is accepted for older callers and does not matter: permissions are global.
        """
        row = cls.for_channel(channel_name)
        return True if row is None else row.allows(user)


class ChannelPermissionRule(models.Model):
    """One way to satisfy a channel that requires Django permissions: all of these (AND).

    A channel's rules are alternatives (OR).
    """

    channel_permission = models.ForeignKey(
        ChannelPermission,
        on_delete=models.CASCADE,
        related_name="rules",
        verbose_name="channel permission",
        help_text="The channel this rule opens.",
    )
    permissions = models.ManyToManyField(
        Permission,
        blank=True,
        related_name="channel_permission_rules",
        verbose_name="permissions",
        help_text="The user must have all of these permissions. Add another rule for an alternative.",
    )

    class Meta:
        verbose_name = "channel permission rule"
        verbose_name_plural = "channel permission rules"
        ordering = ["pk"]

    def __str__(self) -> str:
        labels = [self._label(p) for p in self.permissions.all()]
        return " AND ".join(labels) if labels else "(no permissions)"

    @staticmethod
    def _label(permission: Permission) -> str:
        return f"{permission.content_type.app_label}.{permission.codename}"

    def is_satisfied_by(self, user: Any) -> bool:
        """Whether ``user`` has every permission of the rule (never for an empty rule)."""
        labels = [self._label(p) for p in self.permissions.all()]
        if not labels:
            return False
        has_perms = getattr(user, "has_perms", None)
        return bool(has_perms is not None and has_perms(labels))


class ConnectRateCounter(models.Model):
    """Attempts per rate-limit key (``ip:…``, ``user:…``) in one fixed window: one row per key
    and window however many attempts, counted by an atomic upsert (see :mod:`wsgateway.ratelimit`)."""

    key = models.CharField("key", max_length=200)
    window_start = models.BigIntegerField("window start", help_text="Unix time the window began.")
    count = models.PositiveIntegerField("attempts", default=0)

    class Meta:
        verbose_name = "connect rate counter"
        verbose_name_plural = "connect rate counters"
        constraints = [
            models.UniqueConstraint(fields=["key", "window_start"], name="wsg_ratecounter_key_window")
        ]
        indexes = [models.Index(fields=["window_start"], name="wsg_ratecounter_window_idx")]

    def __str__(self) -> str:
        return f"{self.key} x{self.count} from {self.window_start}"


# The delivery ledger's models live in their own module; imported here so Django registers them.
from wsgateway.ledger_models import FanoutBroadcast, FanoutChunk  # noqa: E402,F401

# Channel subscriptions and presence members, likewise (wsgateway/subscription_models.py).
from wsgateway.subscription_models import ChannelSubscription, PresenceMember  # noqa: E402,F401
