"""What AWS should hold for a gateway row: the desired API, integrations and routes.

See docs/architecture.md §4.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from django.core.exceptions import ImproperlyConfigured

from wsgateway.conf import wsgateway_settings
from wsgateway.exceptions import ProvisioningError
from wsgateway.hashing import secret_fingerprint
from wsgateway.models import ApiGateway

INTEGRATION_TIMEOUT_MS = 29000


@dataclass(frozen=True)
class BuiltinRoute:
    """One of the three routes every gateway has, and the row fields holding its AWS ids."""

    route_key: str
    suffix: str
    integration_field: str
    route_field: str


BUILTIN_ROUTES = (
    BuiltinRoute("$connect", "connect", "connect_integration_id", "connect_route_id"),
    BuiltinRoute("$disconnect", "disconnect", "disconnect_integration_id", "disconnect_route_id"),
    BuiltinRoute("$default", "default", "default_integration_id", "default_route_id"),
)
BUILTIN_KEYS = frozenset(r.route_key for r in BUILTIN_ROUTES)


def current_secret() -> str:
    """The secret new integrations carry: the first of ``GATEWAY_SECRETS``."""
    secrets = wsgateway_settings.gateway_secrets
    if not secrets:
        raise ImproperlyConfigured(
            "WSGATEWAY['GATEWAY_SECRETS'] is empty: integrations need a shared secret to send."
        )
    return str(secrets[0])


def current_fingerprint() -> str:
    """Fingerprint of :func:`current_secret` (what ``integration_secret_fingerprint`` records)."""
    return secret_fingerprint(current_secret())


def request_parameters() -> dict[str, str]:
    """The connection id and the static secret header (single quotes mark a static value)."""
    return {
        "integration.request.header.connectionId": "context.connectionId",
        f"integration.request.header.{wsgateway_settings.SECRET_HEADER}": f"'{current_secret()}'",
    }


def api_params(gateway: ApiGateway) -> dict[str, Any]:
    """``create_api`` parameters for a WEBSOCKET API (never the HTTP-only RouteKey/Target)."""
    params: dict[str, Any] = {
        "Name": gateway.api_name,
        "ProtocolType": "WEBSOCKET",
        "RouteSelectionExpression": gateway.route_selection_expression,
        "ApiKeySelectionExpression": gateway.api_key_selection_expression,
        "Description": gateway.api_description,
        "DisableSchemaValidation": True,
    }
    if gateway.tags:
        params["Tags"] = dict(gateway.tags)
    return params


#: API fields the row owns: AWS member → row attribute.
API_FIELDS = {
    "Name": "api_name",
    "Description": "api_description",
    "RouteSelectionExpression": "route_selection_expression",
    "ApiKeySelectionExpression": "api_key_selection_expression",
}


def base_endpoint(gateway: ApiGateway) -> str:
    """The row's target base endpoint (with its trailing slash), or a clear error."""
    base = gateway.target_base_endpoint
    if not base:
        raise ProvisioningError(
            f"Gateway {gateway.pk} has no target_base_endpoint: set the URL of the Django view "
            "(e.g. https://www.example.com/ws/) before provisioning."
        )
    return base if base.endswith("/") else base + "/"


def integration_params(uri: str) -> dict[str, Any]:
    """``create_integration`` parameters for an HTTP_PROXY POST to ``uri``."""
    return {
        "IntegrationType": "HTTP_PROXY",
        "IntegrationMethod": "POST",
        "IntegrationUri": uri,
        "RequestParameters": request_parameters(),
        "TimeoutInMillis": INTEGRATION_TIMEOUT_MS,
        "PayloadFormatVersion": "1.0",
    }


#: Integration members compared (and updated) on resume.
INTEGRATION_COMPARED = ("IntegrationMethod", "IntegrationUri", "RequestParameters", "TimeoutInMillis")


def integration_differences(actual: Mapping[str, object], desired: dict[str, Any]) -> dict[str, Any]:
    """The members of ``desired`` that ``actual`` lacks or holds differently."""
    return {k: desired[k] for k in INTEGRATION_COMPARED if actual.get(k) != desired[k]}
