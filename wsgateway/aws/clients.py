"""boto3 clients, created lazily and cached per process and thread.

Credentials, in the reference package's order: a named profile (``AWS_IAM_PROFILE``), else an
access key pair (``AWS_ACCESS_KEY_ID`` + ``AWS_SECRET_ACCESS_KEY``), else boto3's default chain
(instance role, environment).  The region comes from :func:`get_region_name`, except that a named
profile's own region wins (as in the reference package).
"""

from __future__ import annotations

import os
import ssl
import sys
import threading
from typing import TYPE_CHECKING, Any, cast

from django.core.exceptions import ImproperlyConfigured

from wsgateway.conf import aws_setting, wsgateway_settings
from wsgateway.exceptions import RegionNotConfiguredError

if TYPE_CHECKING:  # boto3-stubs is a development dependency: the types exist for the checker only
    from mypy_boto3_apigatewayv2 import ApiGatewayV2Client
    from mypy_boto3_route53 import Route53Client

# boto3 sessions and clients are not safe to share between threads while being created, and a
# forked Celery child must not reuse its parent's sockets: the cache key includes pid + thread.
_local = threading.local()
_lock = threading.Lock()
_MAX_CLIENTS = 64

# Without a timeout botocore waits 60 s to connect and 60 s to read; a provisioning step or an
# admin request must fail fast instead (default_client_config).
AWS_CONNECT_TIMEOUT = 5  # seconds
AWS_READ_TIMEOUT = 20  # seconds
AWS_MAX_ATTEMPTS = 3  # the reference's value (standard retry mode)


def get_region_name() -> str:
    """The AWS region: ``AWS_GATEWAY_REGION_NAME``, else ``AWS_REGION_NAME``.

    Raises :class:`~wsgateway.exceptions.RegionNotConfiguredError` (an ``ImproperlyConfigured``
    and a ``RuntimeError``) naming both settings when neither is set.
    """
    region = aws_setting("AWS_GATEWAY_REGION_NAME") or aws_setting("AWS_REGION_NAME")
    if not region:
        raise RegionNotConfiguredError(
            "wsgateway needs an AWS region: set AWS_GATEWAY_REGION_NAME (or AWS_REGION_NAME) in settings."
        )
    return region


def tls_context() -> ssl.SSLContext:
    """A client TLS context trusting what boto3 trusts: ``AWS_CA_BUNDLE`` when it is set, else the
    system's certificates; certificate and host name checks on. Every HTTPS/WSS client of the
    app (the fan-out client, the round trip's WebSocket) takes its context from here."""
    return ssl.create_default_context(cafile=os.environ.get("AWS_CA_BUNDLE") or None)


def _credentials() -> dict[str, Any]:
    profile = aws_setting("AWS_IAM_PROFILE")
    if profile:
        return {"profile_name": profile}
    key_id = aws_setting("AWS_ACCESS_KEY_ID")
    secret = aws_setting("AWS_SECRET_ACCESS_KEY")
    if key_id and secret:
        return {"aws_access_key_id": key_id, "aws_secret_access_key": secret}
    if key_id or secret:
        raise ImproperlyConfigured("Set both AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY, or neither.")
    return {}


def _cache() -> dict[tuple[Any, ...], Any]:
    pid = os.getpid()
    if getattr(_local, "pid", None) != pid:
        _local.pid = pid
        _local.clients = {}
    clients: dict[tuple[Any, ...], Any] = _local.clients
    return clients


def _boto3() -> Any:
    """The boto3 module clients are built with.

    Code written for the reference package patches ``wsgateway.models.boto3`` to stand in for
    AWS; :mod:`wsgateway.models` offers that name lazily, and a replacement set there is used
    here. Otherwise boto3 itself, imported on first use (Django start-up must not pay for it).
    """
    models = sys.modules.get("wsgateway.models")
    replaced = vars(models).get("boto3") if models is not None else None
    if replaced is not None:
        return replaced
    import boto3

    return boto3


def default_client_config() -> Any:
    """Short timeouts and at most :data:`AWS_MAX_ATTEMPTS` attempts (botocore's standard retry
    mode), as the reference package gave its clients: a provisioning step or an admin request
    fails fast and our own backoff (wsgateway/provisioning/retrying.py) takes over."""
    from botocore.config import Config

    return Config(
        connect_timeout=AWS_CONNECT_TIMEOUT,
        read_timeout=AWS_READ_TIMEOUT,
        retries={"mode": "standard", "max_attempts": AWS_MAX_ATTEMPTS},
    )


def get_boto3_client(service: str = "apigatewayv2", **kwargs: Any) -> Any:
    """Return a cached boto3 client for ``service`` (``apigatewayv2``, ``apigatewaymanagementapi``, …).

    Built as the reference package built it: with ``AWS_IAM_PROFILE``, a ``boto3.Session`` of that
    profile; otherwise ``boto3.client`` with the access key pair, or with boto3's default chain.
    The region is :func:`get_region_name` (required), except with a profile that has its own
    region: that one is used, as in the reference. A ``region_name`` argument wins over both.
    ``config`` defaults to :func:`default_client_config`; ``endpoint_url`` defaults to
    ``WSGATEWAY["ENDPOINT_URLS"][service]`` so everything can point at the local emulator; other
    keyword arguments are passed on. Settings are read on every call, so a changed setting gives
    a new client; a failure to build one is not cached.
    """
    credentials = _credentials()
    explicit_region = kwargs.pop("region_name", None)
    # With a named profile the profile's own region wins (as in the reference), so the setting
    # is only a fallback then and not required here; without one it is required.
    region = explicit_region or (
        _configured_region() if credentials.get("profile_name") else get_region_name()
    )
    if kwargs.get("config") is None:
        kwargs["config"] = default_client_config()
    endpoint_urls = wsgateway_settings.ENDPOINT_URLS
    if "endpoint_url" not in kwargs and endpoint_urls.get(service):
        kwargs["endpoint_url"] = endpoint_urls[service]
    boto3 = _boto3()
    key = (
        boto3,  # a replaced boto3 (see _boto3) never gets a client another one built
        service,
        region,
        tuple(sorted(credentials.items())),
        tuple(_key_part(k, v) for k, v in sorted(kwargs.items())),
    )
    cache = _cache()
    client = cache.get(key)
    if client is None:
        from botocore.exceptions import ProfileNotFound

        # Creating a session or a client reads shared config files and is not thread-safe:
        # serialise it; the client itself is cached per process and thread.
        with _lock:
            profile = credentials.pop("profile_name", None)
            if profile:
                try:
                    session = boto3.Session(profile_name=profile)
                except ProfileNotFound as err:
                    raise ImproperlyConfigured(
                        f"AWS_IAM_PROFILE names the profile {profile!r}, "
                        "which is not in the AWS config files."
                    ) from err
                client = _profile_client(session, service, explicit_region, region, kwargs)
            else:
                client = boto3.client(service, **credentials, region_name=region, **kwargs)
        if len(cache) >= _MAX_CLIENTS:
            # Callers building endpoint URLs per gateway could grow the cache without end.
            cache.pop(next(iter(cache)))
        cache[key] = client
    return client


def _configured_region() -> str | None:
    """The region setting, or ``None`` when neither setting is set."""
    try:
        return get_region_name()
    except RegionNotConfiguredError:
        return None


def _profile_client(
    session: Any, service: str, explicit_region: str | None, fallback: str | None, kwargs: dict[str, Any]
) -> Any:
    """A client of a named profile's session, in the profile's own region when it has one (what
    boto3 resolves for the session: ``AWS_DEFAULT_REGION``, else the profile's ``region``), as
    the reference built it; else in the configured region, which is then required."""
    if explicit_region:
        return session.client(service, region_name=explicit_region, **kwargs)
    own = getattr(session, "region_name", None)
    if own is not None and own != "":  # boto3 gives None when the profile tells no region
        return session.client(service, **kwargs)
    return session.client(service, region_name=fallback or get_region_name(), **kwargs)


def apigatewayv2_client(**kwargs: Any) -> ApiGatewayV2Client:
    """The control-plane client (:func:`get_boto3_client` ``("apigatewayv2")``), typed."""
    return cast("ApiGatewayV2Client", get_boto3_client("apigatewayv2", **kwargs))


def route53_client(**kwargs: Any) -> Route53Client:
    """The Route 53 client custom domains use (:func:`get_boto3_client` ``("route53")``), typed."""
    return cast("Route53Client", get_boto3_client("route53", **kwargs))


def _key_part(name: str, value: Any) -> tuple[str, str]:
    """A hashable, value-based cache-key part: two equal ``Config`` objects give one client."""
    options = getattr(value, "_user_provided_options", None)
    if isinstance(options, dict):
        return name, repr(sorted(options.items(), key=lambda item: item[0]))
    return name, repr(value)


def clear_client_cache() -> None:
    """Forget this thread's clients (tests, or after credentials rotate)."""
    _local.pid = None
    _local.clients = {}
