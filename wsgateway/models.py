"""wsgateway's models.

The public API follows the reference package's documented models API: the same class, field,
method and argument names (``ApiGateway``, ``ApiGatewayAdditionalRoute``, ``WebSocketSession``,
``WebSocketSessionQuerySet``, ``WebSocketToken``, ``ConnectionRateLimit``, ``get_boto3_client``,
``get_region_name``).  Where the design asks for more (provisioning state, hashed secrets, channel
permissions) it is added beside them.

Nothing here calls AWS during a web request: the provisioning and sending methods enqueue
Celery tasks.
"""

from __future__ import annotations

import re
import secrets
from datetime import timedelta
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit

from django.conf import settings
from django.contrib.auth.models import PermissionsMixin
from django.core.exceptions import ValidationError
from django.core.validators import URLValidator
from django.db import models, transaction
from django.db.models import Count, Q
from django.utils import timezone

from wsgateway.aws.clients import get_boto3_client, get_region_name
from wsgateway.hashing import session_key_hash, token_hash
from wsgateway.querysets import WebSocketSessionQuerySet

if TYPE_CHECKING:
    from django.contrib.auth.models import AbstractBaseUser, AnonymousUser

__all__ = [
    "ApiGateway",
    "ApiGatewayAdditionalRoute",
    "ChannelPermission",
    "ConnectionRateLimit",
    "WebSocketSession",
    "WebSocketSessionQuerySet",
    "WebSocketToken",
    "get_boto3_client",
    "get_region_name",
]

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
    """Where a gateway (or route) is in its provisioning chain."""

    NOT_PROVISIONED = "not_provisioned", "Not provisioned"
    QUEUED = "queued", "Queued"
    IN_PROGRESS = "in_progress", "In progress"
    PROVISIONED = "provisioned", "Provisioned"
    FAILED = "failed", "Failed"
    DELETING = "deleting", "Deleting"
    DELETED = "deleted", "Deleted from AWS"


class ApiGateway(models.Model):
    """Stored the API Gateway definitions.

    One row per API Gateway WebSocket API.  The user fills in the definition; the provisioning
    chain (run by a Celery worker) fills in the AWS ids, one step at a time.
    """

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
    # Provisioning state beyond the reference (design §7): every AWS id a step creates.
    provisioning_status = models.CharField(
        "provisioning status",
        max_length=20,
        choices=ProvisioningStatus.choices,
        default=ProvisioningStatus.NOT_PROVISIONED,
        help_text="Where the provisioning chain is.",
    )
    provisioning_step = models.CharField(
        "last completed step", max_length=64, blank=True, default="", help_text="The last step that finished."
    )
    last_error = models.TextField(
        "last error", blank=True, default="", help_text="The error that stopped the last run, if any."
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

    def save(self, **kwargs: Any) -> None:
        """Ensure the trailing slash is saved to the target endpoint."""
        if self.target_base_endpoint and not self.target_base_endpoint.endswith("/"):
            self.target_base_endpoint += "/"
            if kwargs.get("update_fields") is not None:
                kwargs["update_fields"] = {*kwargs["update_fields"], "target_base_endpoint"}
        super().save(**kwargs)

    def clean(self) -> None:
        """Validate fields only when they have values."""
        errors: dict[str, list[str]] = {}

        def bad(field: str, message: str) -> None:
            errors.setdefault(field, []).append(message)

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

    # --- provisioning entry points (reference names); they enqueue the worker's chain ---
    def create_gateway(self) -> Any:
        """Creates the actual API gateway record.

        Enqueues the provisioning chain (API, integrations, routes, stage, deployment) on the
        ``provisioning`` queue (after the transaction commits) and returns a
        ``ProvisioningHandle`` (``run_id``, ``task_id``; ``.result`` is the Celery AsyncResult).
        """
        from wsgateway import provisioning

        return provisioning.enqueue_create_gateway(self)

    def create_custom_domain(self) -> Any:
        """Uses boto3 to create the custom domain and associate it with the production stage
        of the loaded API.

        Should be called after create_gateway() has been run.  Enqueues the domain-name, API
        mapping and (with a hosted zone) Route 53 alias steps and returns a ``ProvisioningHandle``.
        """
        from wsgateway import provisioning

        return provisioning.enqueue_create_custom_domain(self)

    def deploy_api(self, client: Any) -> Any:
        """Create a deployment of the stage with ``client`` (an ``apigatewayv2`` client).

        Runs on the worker inside the provisioning chain; records the deployment id.
        """
        from wsgateway import provisioning

        return provisioning.deploy_api(self, client)


class ApiGatewayAdditionalRoute(models.Model):
    """Stores the additional route keys"""

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
        default=ProvisioningStatus.NOT_PROVISIONED,
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
        return f"{self.api_gateway_id}:{self.route_key}"

    def save(self, *args: Any, **kwargs: Any) -> None:
        """Save the record then deploy the new route if the parent has already been deployed.

        The deployment is enqueued after the transaction commits; it never runs in the request.
        """
        super().save(*args, **kwargs)
        if self.api_gateway.api_created:
            from wsgateway import provisioning

            pk = self.pk
            transaction.on_commit(lambda: provisioning.enqueue_sync_route(pk))

    def clean(self) -> None:
        """Route keys may not shadow the built-in routes."""
        if self.route_key and (self.route_key.startswith("$") or not _ROUTE_KEY_RE.match(self.route_key)):
            raise ValidationError(
                {"route_key": "Use letters, digits, '.', '-' and '_'; '$' routes are built in."}
            )

    def create_route(self, client: Any, deploy: bool = True) -> Any:
        """Create the Integration and then the route (on the worker, with an ``apigatewayv2`` client)."""
        from wsgateway import provisioning

        return provisioning.create_route(self, client, deploy=deploy)


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
        message id; API Gateway is called by a worker, never here.
        """
        from wsgateway import sending

        return sending.send_to_connection(self, data)


class WebSocketToken(models.Model):
    """One-time use tokens for establishing WebSocket connections (CSRF protection).

    Only a keyed hash of the token is stored; the plaintext exists once, in the answer to the
    client that asked for it.  The token is bound to the hash of the Django session key.
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
    created_at = models.DateTimeField(
        "created at", default=timezone.now, help_text="When the token was issued."
    )
    used = models.BooleanField("used", default=False, help_text="Tokens are single use.")
    used_at = models.DateTimeField("used at", null=True, blank=True, help_text="When the token was consumed.")

    class Meta:
        verbose_name = "WebSocket token"
        verbose_name_plural = "WebSocket tokens"
        indexes = [
            models.Index(fields=["user", "created_at"], name="wsg_token_user_idx"),
            models.Index(fields=["used", "created_at"], name="wsg_token_cleanup_idx"),
        ]

    def __str__(self) -> str:
        return f"token for user {self.user_id} at {self.created_at:%Y-%m-%d %H:%M:%S}"

    @classmethod
    def generate_token(cls, user: AbstractBaseUser, session_key: str) -> str:
        """Generate a one-time use WebSocket token.

        Returns the token (the only time it exists in plaintext); the row keeps its hash.
        """
        if not session_key:
            raise ValueError("A token must be bound to a Django session key.")
        value = secrets.token_urlsafe(32)
        cls.objects.create(token=token_hash(value), user=user, session_key=session_key_hash(session_key))
        return value

    @classmethod
    def validate_and_consume(
        cls, token_value: str, session_key: str, max_age_seconds: int = 60
    ) -> tuple[bool, AbstractBaseUser | None]:
        """Validate token and mark as used (single-use).

        Returns ``(True, user)`` for an unused token issued to this session no more than
        ``max_age_seconds`` ago, consuming it; otherwise ``(False, None)``.  Consumption is one
        conditional UPDATE, so of two concurrent attempts exactly one wins.
        """
        if not token_value or not session_key or len(token_value) > 512:
            return False, None
        now = timezone.now()
        row = (
            cls.objects.select_related("user")
            .filter(token=token_hash(token_value), session_key=session_key_hash(session_key))
            .only("id", "created_at", "used", "user")
            .first()
        )
        if row is None or row.used or now - row.created_at > timedelta(seconds=max_age_seconds):
            return False, None
        won = cls.objects.filter(pk=row.pk, used=False).update(used=True, used_at=now)
        return (True, row.user) if won == 1 else (False, None)

    @classmethod
    def check_rate_limit(cls, user: AbstractBaseUser, max_tokens_per_minute: int = 10) -> bool:
        """Check if user has exceeded token generation rate limit.

        Returns True while the user has obtained fewer than ``max_tokens_per_minute`` tokens in
        the last 60 seconds.
        """
        since = timezone.now() - timedelta(minutes=1)
        issued = cls.objects.filter(user=user, created_at__gt=since).count()
        return issued < max_tokens_per_minute

    @classmethod
    def cleanup_expired(cls, max_age_seconds: int = 300) -> tuple[int, dict[str, int]]:
        """Delete expired/used tokens (call via cron/celery).

        Returns Django's ``delete()`` result, ``(count, per_model)``, as the reference does.
        """
        cutoff = timezone.now() - timedelta(seconds=max_age_seconds)
        return cls.objects.filter(Q(used=True) | Q(created_at__lt=cutoff)).delete()


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
        """Record a connection attempt"""
        user_id = user.pk if user is not None and getattr(user, "is_authenticated", False) else None
        return cls.objects.create(ip_address=ip_address, user_id=user_id, successful=successful)

    @classmethod
    def cleanup_old_records(cls, days: int = 7) -> tuple[int, dict[str, int]]:
        """Delete old rate limit records (call via cron/celery).

        Returns Django's ``delete()`` result, ``(count, per_model)``, as the reference does.
        """
        cutoff = timezone.now() - timedelta(days=days)
        return cls.objects.filter(attempt_time__lt=cutoff).delete()


class ChannelPermission(models.Model):
    """Who may join a channel.  A channel without a row is open to anyone who may connect."""

    class Access(models.TextChoices):
        ALLOW_ALL = "all", "Allow all"
        AUTHENTICATED = "authenticated", "Authenticated users"
        STAFF = "staff", "Staff only"
        SUPERUSER = "superuser", "Superusers only"
        PERMISSIONS = "permissions", "Users with permissions"

    channel_name = models.CharField("channel name", max_length=128, help_text="The channel this rule guards.")
    api_gateway = models.ForeignKey(
        ApiGateway,
        null=True,
        blank=True,
        on_delete=models.CASCADE,
        related_name="channel_permissions",
        verbose_name="API Gateway",
        help_text="Limit the rule to one API; empty applies to every API.",
    )
    access = models.CharField(
        "access", max_length=20, choices=Access.choices, default=Access.ALLOW_ALL, help_text="Who may join."
    )
    permissions = models.ManyToManyField(
        "auth.Permission",
        blank=True,
        verbose_name="permissions",
        help_text="With 'Users with permissions': the permissions checked.",
    )
    require_all = models.BooleanField(
        "require all permissions",
        default=False,
        help_text="Require every listed permission (all-of) instead of any one (any-of).",
    )

    class Meta:
        verbose_name = "channel permission"
        verbose_name_plural = "channel permissions"
        constraints = [
            models.UniqueConstraint(
                fields=["channel_name", "api_gateway"], name="wsgateway_channel_permission_unique"
            ),
            # NULLs are distinct in a unique index: one global (gateway-less) rule per channel
            # needs its own partial constraint, or user_may_join would pick one arbitrarily.
            models.UniqueConstraint(
                fields=["channel_name"],
                condition=Q(api_gateway__isnull=True),
                name="wsgateway_channel_permission_global_unique",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.channel_name}: {self.get_access_display()}"

    def allows(self, user: AbstractBaseUser | AnonymousUser | None) -> bool:
        """Whether ``user`` may join this channel."""
        if self.access == self.Access.ALLOW_ALL:
            return True
        if user is None or not user.is_authenticated or not user.is_active:
            return False
        if self.access == self.Access.AUTHENTICATED:
            return True
        if self.access == self.Access.STAFF:
            return bool(getattr(user, "is_staff", False))
        if self.access == self.Access.SUPERUSER:
            return bool(getattr(user, "is_superuser", False))
        names = [
            f"{p.content_type.app_label}.{p.codename}"
            for p in self.permissions.select_related("content_type")
        ]
        if not names:
            return bool(getattr(user, "is_superuser", False))
        if not isinstance(user, PermissionsMixin):
            return False  # a custom user model without permissions cannot hold any
        has_perm = user.has_perm
        return all(has_perm(n) for n in names) if self.require_all else any(has_perm(n) for n in names)

    @classmethod
    def user_may_join(
        cls,
        channel_name: str,
        user: AbstractBaseUser | AnonymousUser | None,
        api_gateway: ApiGateway | None = None,
    ) -> bool:
        """Whether ``user`` may join ``channel_name``: the gateway's rule wins over a global one."""
        rules = cls.objects.filter(channel_name=channel_name).filter(
            Q(api_gateway__isnull=True) | Q(api_gateway=api_gateway)
        )
        chosen = None
        for rule in rules:
            if rule.api_gateway_id is not None or chosen is None:
                chosen = rule
        return True if chosen is None else chosen.allows(user)


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
