"""Control-plane state: APIs, integrations, routes, stages, deployments, domain names, mappings.

Resources are stored as dicts keyed by the JSON (camelCase) member names of botocore's
``apigatewayv2`` model, so answering a Get/List call is a plain ``json.dumps`` and the state file
is the same shape. Every operation validates its input the way AWS does and raises
:class:`~wsgateway.emulator.errors.AwsError` (400/404/409) otherwise.

A deployment freezes the API's routes and integrations; the data plane serves the *deployed*
snapshot of a stage (:meth:`ControlPlaneState.stage_snapshot`), never unsaved edits, exactly as
AWS does. Snapshots are compiled once (route selection path, parsed request parameters) so the
per-message work is a few dict lookups.
"""

from __future__ import annotations

import copy
import ipaddress
import json
import os
import re
import tempfile
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any
from urllib.parse import urlsplit

from . import ids
from .errors import AwsError, bad_request, conflict, not_found

Json = dict[str, Any]

# API Gateway's own Route 53 hosted zones for regional endpoints (AWS General Reference,
# "Amazon API Gateway endpoints and quotas"). A DNS alias must point at this zone, never at the
# user's zone; that is the point of returning it.
REGIONAL_HOSTED_ZONES = {
    "us-east-1": "Z1UJRXOUMOOFQ8",
    "us-east-2": "ZOJJZC49E0EPZ",
    "us-west-1": "Z2MPSDEXGRVZ3F",
    "us-west-2": "Z2OJLYMUO9EFXC",
    "ca-central-1": "Z19DQILCV0OWEC",
    "eu-west-1": "ZLY8HYME6SFDD",
    "eu-west-2": "ZJ5UAJN8Y3Z2Q",
    "eu-west-3": "Z3KY65QIEKYHQQ",
    "eu-central-1": "Z1U9ULNL0V5AJ3",
    "eu-north-1": "Z3UWIKFBOOGXPP",
    "ap-south-1": "Z3VO1THU9YC4UR",
    "ap-northeast-1": "Z1YSHQZHG15GKL",
    "ap-northeast-2": "Z20JF4UZKIW1U8",
    "ap-southeast-1": "ZL327KTPIQFUL",
    "ap-southeast-2": "Z2RPCDW04V8134",
    "sa-east-1": "ZCMLWB8V5SYIT",
}

SPECIAL_ROUTE_KEYS = frozenset({"$connect", "$disconnect", "$default"})
INTEGRATION_TYPES = frozenset({"AWS", "AWS_PROXY", "HTTP", "HTTP_PROXY", "MOCK"})
PASSTHROUGH = frozenset({"WHEN_NO_MATCH", "NEVER", "WHEN_NO_TEMPLATES"})
CONNECTION_TYPES = frozenset({"INTERNET", "VPC_LINK"})
CONTEXT_VARIABLES = frozenset(
    {
        "connectionId",
        "connectedAt",
        "disconnectReason",
        "disconnectStatusCode",
        "domainName",
        "eventType",
        "messageDirection",
        "messageId",
        "routeKey",
        "requestId",
        "extendedRequestId",
        "requestTimeEpoch",
        "requestTime",
        "apiId",
        "stage",
        "identity.sourceIp",
        "identity.userAgent",
    }
)
_STAGE_NAME = re.compile(r"^[A-Za-z0-9_\-]{1,128}$")
_MAPPING_KEY = re.compile(r"^[A-Za-z0-9._\-]+(/[A-Za-z0-9._\-]+)*$")
_PARAM_TARGET = re.compile(r"^integration\.request\.(header|querystring|path)\.([A-Za-z0-9_.\-]+)$")
_ROUTE_SOURCE = re.compile(
    r"^route\.request\.(header|querystring|multivalueheader|multivaluequerystring|body)\.([A-Za-z0-9_.\-]+)$"
)
# One variable of a route selection expression: $request.body.a.b or ${request.body.a.b}.
_SELECTION_VARIABLE = re.compile(
    r"\$\{request\.body((?:\.[A-Za-z0-9_\-]+)+)\}|\$request\.body((?:\.[A-Za-z0-9_\-]+)+)"
)
_DOMAIN_NAME = re.compile(r"^(?=.{1,253}$)(\*\.)?([a-z0-9]([a-z0-9\-]{0,61}[a-z0-9])?\.)+[a-z0-9\-]{2,63}$")
_IDENTITY_SOURCE = re.compile(
    r"^(route\.request\.(header|querystring)\.[A-Za-z0-9_.\-]+|stageVariables\.[A-Za-z0-9_]+|context\.[A-Za-z0-9_.]+)$"
)
_CERT_ARN = re.compile(r"^arn:aws[a-z\-]*:acm:([a-z0-9\-]+):\d{12}:certificate/[A-Za-z0-9\-]+$")


def _is_ip_address(name: str) -> bool:
    try:
        ipaddress.ip_address(name)
    except ValueError:
        return False
    return True


def now_iso() -> str:
    """Current UTC time in the ISO 8601 form AWS uses on the wire."""
    return datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def _ensure_str(body: Json, key: str, *, required: bool = False) -> str | None:
    value = body.get(key)
    if value is None:
        if required:
            raise bad_request(f"{key} is required")
        return None
    if not isinstance(value, str):
        raise bad_request(f"{key} must be a string")
    return value


def _ensure_map(body: Json, key: str) -> dict[str, str] | None:
    value = body.get(key)
    if value is None:
        return None
    if not isinstance(value, dict) or not all(
        isinstance(k, str) and isinstance(v, str) for k, v in value.items()
    ):
        raise bad_request(f"{key} must be a map of strings")
    return dict(value)


# --------------------------------------------------------------------------- compiled snapshot


@dataclass(frozen=True)
class ParamMapping:
    """One ``RequestParameters`` entry, parsed at deployment time.

    ``target_kind`` is ``header``/``querystring``/``path``; ``source_kind`` is ``static``,
    ``context``, ``header``, ``querystring``, ``multivalueheader``, ``multivaluequerystring``,
    ``body`` (a member path of a JSON message) or ``stage`` (stage variable).
    """

    target_kind: str
    target_name: str
    source_kind: str
    source_name: str


@dataclass(frozen=True)
class IntegrationSnapshot:
    """What the data plane needs to call an integration."""

    integration_id: str
    integration_type: str
    uri: str
    method: str
    timeout: float
    params: tuple[ParamMapping, ...]


@dataclass(frozen=True)
class RouteSnapshot:
    """A deployed route."""

    route_id: str
    route_key: str
    two_way: bool
    integration: IntegrationSnapshot | None


@dataclass(frozen=True)
class Snapshot:
    """A compiled deployment: route selection path + routes by key."""

    deployment_id: str
    selector: RouteSelector | None
    routes: dict[str, RouteSnapshot]
    stage_variables: dict[str, str] = field(default_factory=dict)


def parse_param_mapping(target: str, source: str) -> ParamMapping:
    """Validate and parse one RequestParameters entry (BadRequestException if invalid)."""
    match = _PARAM_TARGET.match(target)
    if not match:
        raise bad_request(f"Invalid mapping expression specified: {target}")
    kind, name = match.group(1), match.group(2)
    if len(source) >= 2 and source[0] == "'" and source[-1] == "'":
        return ParamMapping(kind, name, "static", source[1:-1])
    if source.startswith("context."):
        var = source[len("context.") :]
        if var in CONTEXT_VARIABLES or var.startswith("authorizer."):
            return ParamMapping(kind, name, "context", var)
    elif source.startswith("stageVariables."):
        return ParamMapping(kind, name, "stage", source[len("stageVariables.") :])
    else:
        route = _ROUTE_SOURCE.match(source)
        if route:
            return ParamMapping(kind, name, route.group(1), route.group(2))
    raise bad_request(f"Invalid mapping expression specified: {source}")


def parse_selection_expression(expression: str) -> RouteSelector | None:
    """Compile a route selection expression; None when it names no message-body variable.

    ``$request.body.action`` or ``${request.body.action}`` select by one member;
    ``${request.body.service}/${request.body.action}`` (AWS's own example) interpolates every
    variable into the literal text around them.
    """
    parts: list[str | tuple[str, ...]] = []
    position = 0
    text = expression.strip()
    for match in _SELECTION_VARIABLE.finditer(text):
        if match.start() > position:
            parts.append(text[position : match.start()])
        parts.append(tuple((match.group(1) or match.group(2)).split(".")[1:]))
        position = match.end()
    if position < len(text):
        parts.append(text[position:])
    if not any(isinstance(part, tuple) for part in parts) or any(
        isinstance(part, str) and "$" in part for part in parts
    ):
        return None
    return RouteSelector(tuple(parts))


@dataclass(frozen=True)
class RouteSelector:
    """A compiled route selection expression: literal text and message-body member paths."""

    parts: tuple[str | tuple[str, ...], ...]

    def route_key(self, message: Any) -> str | None:
        """The route key a parsed JSON message selects, or None (a member missing or not scalar)."""
        out = []
        for part in self.parts:
            if isinstance(part, str):
                out.append(part)
                continue
            value = message
            for name in part:
                value = value.get(name) if isinstance(value, dict) else None
            if isinstance(value, bool) or not isinstance(value, str | int | float):
                return None
            out.append(str(value))
        return "".join(out)


# --------------------------------------------------------------------------- records


@dataclass
class ApiRecord:
    """One API and its children."""

    data: Json
    integrations: dict[str, Json] = field(default_factory=dict)
    integration_responses: dict[str, dict[str, Json]] = field(default_factory=dict)
    routes: dict[str, Json] = field(default_factory=dict)
    route_responses: dict[str, dict[str, Json]] = field(default_factory=dict)
    stages: dict[str, Json] = field(default_factory=dict)
    deployments: dict[str, Json] = field(default_factory=dict)
    #: deployment id → frozen copy of {routeSelectionExpression, routes, integrations}.
    frozen: dict[str, Json] = field(default_factory=dict)
    authorizers: dict[str, Json] = field(default_factory=dict)
    models: dict[str, Json] = field(default_factory=dict)


@dataclass
class DomainRecord:
    """A custom domain name and its API mappings."""

    data: Json
    mappings: dict[str, Json] = field(default_factory=dict)


def _page(items: list[Json], params: dict[str, str]) -> Json:
    """``MaxResults``/``NextToken`` pagination; the token is an opaque offset."""
    start = 0
    token = params.get("nextToken")
    if token:
        try:
            start = int(token)
        except ValueError:
            raise bad_request("Invalid pagination token") from None
        if start < 0 or start > len(items):
            raise bad_request("Invalid pagination token")
    limit = len(items)
    if params.get("maxResults"):
        try:
            limit = int(params["maxResults"])
        except ValueError:
            raise bad_request("MaxResults must be a number") from None
        if limit < 1:
            raise bad_request("MaxResults must be greater than 0")
    end = start + limit
    page: Json = {"items": items[start:end]}
    if end < len(items):
        page["nextToken"] = str(end)
    return page


class ControlPlaneState:
    """All control-plane resources, with AWS's validation rules.

    Methods take and return wire-shaped (camelCase) dicts. ``region`` arguments come from the
    caller's SigV4 credential scope.
    """

    def __init__(self, state_file: str | None = None) -> None:
        self.apis: dict[str, ApiRecord] = {}
        self.domains: dict[str, DomainRecord] = {}
        self.state_file = state_file
        self._compiled: dict[str, Snapshot] = {}
        if state_file and os.path.exists(state_file):
            self.load(state_file)

    # ------------------------------------------------------------------ persistence

    def to_json(self) -> Json:
        """Serialise the whole state (the ``--state-file`` format)."""
        return {
            "apis": {
                api_id: {
                    "data": rec.data,
                    "integrations": rec.integrations,
                    "integrationResponses": rec.integration_responses,
                    "routes": rec.routes,
                    "routeResponses": rec.route_responses,
                    "stages": rec.stages,
                    "deployments": rec.deployments,
                    "frozen": rec.frozen,
                    "authorizers": rec.authorizers,
                    "models": rec.models,
                }
                for api_id, rec in self.apis.items()
            },
            "domains": {name: {"data": d.data, "mappings": d.mappings} for name, d in self.domains.items()},
        }

    def load(self, path: str) -> None:
        """Replace the state with the content of a state file."""
        with open(path, encoding="utf-8") as fh:
            raw = json.load(fh)
        self.apis = {
            api_id: ApiRecord(
                data=r["data"],
                integrations=r["integrations"],
                integration_responses=r.get("integrationResponses", {}),
                routes=r["routes"],
                route_responses=r.get("routeResponses", {}),
                stages=r["stages"],
                deployments=r["deployments"],
                frozen=r["frozen"],
                authorizers=r.get("authorizers", {}),
                models=r.get("models", {}),
            )
            for api_id, r in raw.get("apis", {}).items()
        }
        self.domains = {
            name: DomainRecord(data=d["data"], mappings=d["mappings"])
            for name, d in raw.get("domains", {}).items()
        }
        self._compiled.clear()

    def save(self) -> None:
        """Write the state file atomically (no-op without one)."""
        if not self.state_file:
            return
        directory = os.path.dirname(os.path.abspath(self.state_file))
        fd, tmp = tempfile.mkstemp(dir=directory, prefix=".wsgateway-emulator-", suffix=".json")
        with os.fdopen(fd, "w", encoding="utf-8") as fh:
            json.dump(self.to_json(), fh)
        os.replace(tmp, self.state_file)

    def reset(self) -> None:
        """Forget every resource."""
        self.apis.clear()
        self.domains.clear()
        self._compiled.clear()

    # ------------------------------------------------------------------ APIs

    def api(self, api_id: str) -> ApiRecord:
        """The API or 404 NotFoundException."""
        rec = self.apis.get(api_id)
        if rec is None:
            raise not_found(f"Invalid API identifier specified {api_id}", "Api")
        return rec

    def create_api(self, body: Json) -> Json:
        """CreateApi."""
        name = _ensure_str(body, "name", required=True)
        protocol = _ensure_str(body, "protocolType", required=True)
        if protocol not in ("WEBSOCKET", "HTTP"):
            raise bad_request("ProtocolType must be one of [WEBSOCKET, HTTP]")
        rse = _ensure_str(body, "routeSelectionExpression")
        if protocol == "WEBSOCKET":
            # RouteKey/Target are the HTTP-API "quick create" shortcut; AWS refuses them here.
            for key in ("routeKey", "target", "corsConfiguration"):
                if body.get(key) is not None:
                    raise bad_request(f"{key[0].upper() + key[1:]} is not supported for WEBSOCKET protocol.")
            if not rse:
                raise bad_request("RouteSelectionExpression is required for WEBSOCKET protocol.")
            self._check_rse(rse)
        elif rse is None:
            rse = "${request.method} ${request.path}"
        if body.get("disableSchemaValidation") is not None and not isinstance(
            body["disableSchemaValidation"], bool
        ):
            raise bad_request("DisableSchemaValidation must be a boolean")
        api_id = ids.api_id()
        while api_id in self.apis:
            api_id = ids.api_id()
        data: Json = {
            "apiId": api_id,
            "apiKeySelectionExpression": _ensure_str(body, "apiKeySelectionExpression")
            or "$request.header.x-api-key",
            "createdDate": now_iso(),
            "disableExecuteApiEndpoint": bool(body.get("disableExecuteApiEndpoint", False)),
            "ipAddressType": _ensure_str(body, "ipAddressType") or "ipv4",
            "name": name,
            "protocolType": protocol,
            "routeSelectionExpression": rse,
            "tags": _ensure_map(body, "tags") or {},
        }
        for key in ("description", "version"):
            if body.get(key) is not None:
                data[key] = _ensure_str(body, key)
        if body.get("disableSchemaValidation") is not None:
            data["disableSchemaValidation"] = body["disableSchemaValidation"]
        self.apis[api_id] = ApiRecord(data=data)
        return data

    @staticmethod
    def _check_rse(rse: str) -> None:
        # AWS accepts any $request.body.* / ${request.body.*} expression, and ``${context.routeKey}``
        # style static expressions; it refuses plain words.
        if not rse.startswith("$"):
            raise bad_request(f"Invalid route selection expression specified: {rse}")

    def update_api(self, api_id: str, body: Json) -> Json:
        """UpdateApi (PATCH semantics: only given members change)."""
        rec = self.api(api_id)
        if rec.data["protocolType"] == "WEBSOCKET":
            for key in ("routeKey", "target", "corsConfiguration"):
                if body.get(key) is not None:
                    raise bad_request(f"{key[0].upper() + key[1:]} is not supported for WEBSOCKET protocol.")
        if body.get("routeSelectionExpression") is not None:
            self._check_rse(str(body["routeSelectionExpression"]))
        for key in (
            "name",
            "description",
            "routeSelectionExpression",
            "apiKeySelectionExpression",
            "version",
            "ipAddressType",
        ):
            if body.get(key) is not None:
                rec.data[key] = _ensure_str(body, key)
        for key in ("disableSchemaValidation", "disableExecuteApiEndpoint"):
            if body.get(key) is not None:
                if not isinstance(body[key], bool):
                    raise bad_request(f"{key} must be a boolean")
                rec.data[key] = body[key]
        return rec.data

    def delete_api(self, api_id: str) -> None:
        """DeleteApi; mappings that point at it go too."""
        self.api(api_id)
        del self.apis[api_id]
        for domain in self.domains.values():
            for mid in [m for m, v in domain.mappings.items() if v["apiId"] == api_id]:
                del domain.mappings[mid]
        self._compiled = {k: v for k, v in self._compiled.items() if not k.startswith(api_id + "/")}

    def list_apis(self, params: dict[str, str]) -> Json:
        """GetApis."""
        return _page([r.data for r in self.apis.values()], params)

    # ------------------------------------------------------------------ integrations

    def _integration_fields(self, rec: ApiRecord, body: Json, current: Json | None) -> Json:
        merged: Json = dict(current or {})
        for key, value in body.items():
            if value is not None:
                merged[key] = value
        # Enum-like members are compared with sets below: a list or a map there would be a
        # TypeError (a 500), so their types are checked first.
        for key in (
            "integrationType",
            "integrationUri",
            "integrationMethod",
            "connectionType",
            "passthroughBehavior",
            "payloadFormatVersion",
        ):
            _ensure_str(merged, key)
        itype = merged.get("integrationType")
        if itype is None:
            raise bad_request("IntegrationType is required")
        if itype not in INTEGRATION_TYPES:
            raise bad_request(f"Invalid integration type specified: {itype}")
        if itype in ("HTTP", "HTTP_PROXY"):
            uri = merged.get("integrationUri")
            if (
                not isinstance(uri, str)
                or urlsplit(uri).scheme not in ("http", "https")
                or not urlsplit(uri).netloc
            ):
                raise bad_request(f"Invalid HTTP endpoint specified for URI: {uri}")
            if not merged.get("integrationMethod"):
                raise bad_request("IntegrationMethod is required for HTTP integrations")
        if "integrationMethod" in merged:
            merged["integrationMethod"] = merged["integrationMethod"].upper()
        timeout = merged.get("timeoutInMillis", 29000)
        if isinstance(timeout, bool) or not isinstance(timeout, int) or not 50 <= timeout <= 29000:
            raise bad_request("Timeout must be between 50 milliseconds and 29 seconds.")
        merged["timeoutInMillis"] = timeout
        merged.setdefault("connectionType", "INTERNET")
        if merged["connectionType"] not in CONNECTION_TYPES:
            raise bad_request(f"Invalid connection type specified: {merged['connectionType']}")
        merged.setdefault("passthroughBehavior", "WHEN_NO_MATCH")
        if merged["passthroughBehavior"] not in PASSTHROUGH:
            raise bad_request(f"Invalid passthrough behavior specified: {merged['passthroughBehavior']}")
        version = merged.setdefault("payloadFormatVersion", "1.0")
        if rec.data["protocolType"] == "WEBSOCKET":
            if version != "1.0":
                raise bad_request("PayloadFormatVersion must be 1.0 for WEBSOCKET APIs")
            # The developer guide's selection-expression summary: an HTTP or mock backend's
            # answer is selected by status code, a Lambda's by its error message.
            merged.setdefault(
                "integrationResponseSelectionExpression",
                "${integration.response.body.errorMessage}"
                if itype in ("AWS", "AWS_PROXY")
                else "${integration.response.statuscode}",
            )
        params = _ensure_map(merged, "requestParameters")
        if params is not None:
            for target, source in params.items():
                parse_param_mapping(target, source)
        for key in ("requestTemplates", "responseParameters"):
            if key in merged and not isinstance(merged[key], dict):
                raise bad_request(f"{key} must be a map")
        return merged

    def create_integration(self, api_id: str, body: Json) -> Json:
        """CreateIntegration."""
        rec = self.api(api_id)
        data = self._integration_fields(rec, {k: v for k, v in body.items() if k != "apiId"}, None)
        data["integrationId"] = self._new_id(rec.integrations)
        rec.integrations[data["integrationId"]] = data
        return data

    def integration(self, api_id: str, integration_id: str) -> Json:
        """GetIntegration."""
        rec = self.api(api_id)
        data = rec.integrations.get(integration_id)
        if data is None:
            raise not_found(f"Invalid Integration identifier specified {integration_id}", "Integration")
        return data

    def update_integration(self, api_id: str, integration_id: str, body: Json) -> Json:
        """UpdateIntegration."""
        rec = self.api(api_id)
        current = self.integration(api_id, integration_id)
        body = {k: v for k, v in body.items() if k not in ("apiId", "integrationId")}
        data = self._integration_fields(rec, body, current)
        rec.integrations[integration_id] = data
        return data

    def delete_integration(self, api_id: str, integration_id: str) -> None:
        """DeleteIntegration; refused while a route targets it (like AWS)."""
        rec = self.api(api_id)
        self.integration(api_id, integration_id)
        target = f"integrations/{integration_id}"
        if any(r.get("target") == target for r in rec.routes.values()):
            raise conflict("Cannot delete Integration, there are routes referencing it.")
        del rec.integrations[integration_id]
        rec.integration_responses.pop(integration_id, None)

    def list_integrations(self, api_id: str, params: dict[str, str]) -> Json:
        """GetIntegrations."""
        return _page(list(self.api(api_id).integrations.values()), params)

    # ------------------------------------------------------------------ integration responses

    def _integration_responses(self, api_id: str, integration_id: str) -> dict[str, Json]:
        self.integration(api_id, integration_id)
        return self.apis[api_id].integration_responses.setdefault(integration_id, {})

    def create_integration_response(self, api_id: str, integration_id: str, body: Json) -> Json:
        """CreateIntegrationResponse."""
        responses = self._integration_responses(api_id, integration_id)
        key = _ensure_str(body, "integrationResponseKey", required=True)
        if any(r["integrationResponseKey"] == key for r in responses.values()):
            raise conflict(f"IntegrationResponse with key {key} already exists")
        data = {k: v for k, v in body.items() if v is not None and k not in ("apiId", "integrationId")}
        data["integrationResponseId"] = self._new_id(responses)
        responses[data["integrationResponseId"]] = data
        return data

    def integration_response(self, api_id: str, integration_id: str, response_id: str) -> Json:
        """GetIntegrationResponse."""
        data = self._integration_responses(api_id, integration_id).get(response_id)
        if data is None:
            raise not_found(
                f"Invalid IntegrationResponse identifier specified {response_id}", "IntegrationResponse"
            )
        return data

    def update_integration_response(
        self, api_id: str, integration_id: str, response_id: str, body: Json
    ) -> Json:
        """UpdateIntegrationResponse."""
        data = self.integration_response(api_id, integration_id, response_id)
        for key, value in body.items():
            if value is not None and key not in ("apiId", "integrationId", "integrationResponseId"):
                data[key] = value
        return data

    def delete_integration_response(self, api_id: str, integration_id: str, response_id: str) -> None:
        """DeleteIntegrationResponse."""
        self.integration_response(api_id, integration_id, response_id)
        del self._integration_responses(api_id, integration_id)[response_id]

    def list_integration_responses(self, api_id: str, integration_id: str, params: dict[str, str]) -> Json:
        """GetIntegrationResponses."""
        return _page(list(self._integration_responses(api_id, integration_id).values()), params)

    # ------------------------------------------------------------------ routes

    def _check_target(self, rec: ApiRecord, target: Any) -> None:
        if target is None:
            return
        if not isinstance(target, str) or not target.startswith("integrations/"):
            raise bad_request(f"Invalid target specified: {target}")
        if target[len("integrations/") :] not in rec.integrations:
            raise bad_request(f"Invalid integration identifier specified in target: {target}")

    def _check_route_key(self, rec: ApiRecord, key: str, route_id: str | None) -> None:
        if rec.data["protocolType"] == "WEBSOCKET" and key.startswith("$") and key not in SPECIAL_ROUTE_KEYS:
            raise bad_request(f"Invalid route key specified: {key}")
        for rid, route in rec.routes.items():
            if route["routeKey"] == key and rid != route_id:
                raise conflict(f"Route with key {key} already exists for this API")

    def create_route(self, api_id: str, body: Json) -> Json:
        """CreateRoute: RouteKey unique per API; Target must name an existing integration."""
        rec = self.api(api_id)
        key = _ensure_str(body, "routeKey", required=True)
        assert key is not None
        self._check_route_key(rec, key, None)
        self._check_target(rec, body.get("target"))
        data: Json = {
            "apiKeyRequired": bool(body.get("apiKeyRequired", False)),
            "authorizationType": body.get("authorizationType") or "NONE",
            "routeKey": key,
        }
        for k, v in body.items():
            if v is not None and k not in ("apiId", "routeKey") and k not in data:
                data[k] = v
        data["routeId"] = self._new_id(rec.routes)
        rec.routes[data["routeId"]] = data
        return data

    def route(self, api_id: str, route_id: str) -> Json:
        """GetRoute."""
        data = self.api(api_id).routes.get(route_id)
        if data is None:
            raise not_found(f"Invalid Route identifier specified {route_id}", "Route")
        return data

    def update_route(self, api_id: str, route_id: str, body: Json) -> Json:
        """UpdateRoute."""
        rec = self.api(api_id)
        data = self.route(api_id, route_id)
        if body.get("routeKey") is not None:
            self._check_route_key(rec, str(body["routeKey"]), route_id)
        if "target" in body:
            self._check_target(rec, body["target"])
        for key, value in body.items():
            if value is not None and key not in ("apiId", "routeId"):
                data[key] = value
        return data

    def delete_route(self, api_id: str, route_id: str) -> None:
        """DeleteRoute."""
        rec = self.api(api_id)
        self.route(api_id, route_id)
        del rec.routes[route_id]
        rec.route_responses.pop(route_id, None)

    def list_routes(self, api_id: str, params: dict[str, str]) -> Json:
        """GetRoutes."""
        return _page(list(self.api(api_id).routes.values()), params)

    # ------------------------------------------------------------------ route responses

    def _route_responses(self, api_id: str, route_id: str) -> dict[str, Json]:
        self.route(api_id, route_id)
        return self.apis[api_id].route_responses.setdefault(route_id, {})

    def create_route_response(self, api_id: str, route_id: str, body: Json) -> Json:
        """CreateRouteResponse (``$default`` is the key that makes a route two-way on AWS)."""
        responses = self._route_responses(api_id, route_id)
        key = _ensure_str(body, "routeResponseKey", required=True)
        if any(r["routeResponseKey"] == key for r in responses.values()):
            raise conflict(f"RouteResponse with key {key} already exists")
        data = {k: v for k, v in body.items() if v is not None and k not in ("apiId", "routeId")}
        data["routeResponseId"] = self._new_id(responses)
        responses[data["routeResponseId"]] = data
        return data

    def route_response(self, api_id: str, route_id: str, response_id: str) -> Json:
        """GetRouteResponse."""
        data = self._route_responses(api_id, route_id).get(response_id)
        if data is None:
            raise not_found(f"Invalid RouteResponse identifier specified {response_id}", "RouteResponse")
        return data

    def update_route_response(self, api_id: str, route_id: str, response_id: str, body: Json) -> Json:
        """UpdateRouteResponse."""
        data = self.route_response(api_id, route_id, response_id)
        for key, value in body.items():
            if value is not None and key not in ("apiId", "routeId", "routeResponseId"):
                data[key] = value
        return data

    def delete_route_response(self, api_id: str, route_id: str, response_id: str) -> None:
        """DeleteRouteResponse."""
        self.route_response(api_id, route_id, response_id)
        del self._route_responses(api_id, route_id)[response_id]

    def list_route_responses(self, api_id: str, route_id: str, params: dict[str, str]) -> Json:
        """GetRouteResponses."""
        return _page(list(self._route_responses(api_id, route_id).values()), params)

    # ------------------------------------------------------------------ stages

    def create_stage(self, api_id: str, body: Json) -> Json:
        """CreateStage."""
        rec = self.api(api_id)
        name = _ensure_str(body, "stageName", required=True)
        assert name is not None
        if not _STAGE_NAME.match(name):
            raise bad_request(f"Stage name only allows a-zA-Z0-9_- : {name}")
        if name in rec.stages:
            raise conflict(f"Stage {name} already exists")
        deployment_id = _ensure_str(body, "deploymentId")
        if deployment_id is not None and deployment_id not in rec.deployments:
            raise not_found(f"Invalid Deployment identifier specified {deployment_id}", "Deployment")
        now = now_iso()
        data: Json = {
            "createdDate": now,
            "defaultRouteSettings": body.get("defaultRouteSettings")
            or {"dataTraceEnabled": False, "detailedMetricsEnabled": False, "loggingLevel": "OFF"},
            "lastUpdatedDate": now,
            "routeSettings": body.get("routeSettings") or {},
            "stageName": name,
            "stageVariables": _ensure_map(body, "stageVariables") or {},
            "tags": _ensure_map(body, "tags") or {},
        }
        for key in ("deploymentId", "description", "autoDeploy", "accessLogSettings", "clientCertificateId"):
            if body.get(key) is not None:
                data[key] = body[key]
        rec.stages[name] = data
        if data.get("autoDeploy"):
            self._auto_deploy(rec, name)
        return data

    def stage(self, api_id: str, stage_name: str) -> Json:
        """GetStage."""
        data = self.api(api_id).stages.get(stage_name)
        if data is None:
            raise not_found(f"Invalid stage identifier specified {stage_name}", "Stage")
        return data

    def update_stage(self, api_id: str, stage_name: str, body: Json) -> Json:
        """UpdateStage."""
        rec = self.api(api_id)
        data = self.stage(api_id, stage_name)
        deployment_id = _ensure_str(body, "deploymentId")
        if deployment_id is not None and deployment_id not in rec.deployments:
            raise not_found(f"Invalid Deployment identifier specified {deployment_id}", "Deployment")
        if body.get("stageVariables") is not None:
            _ensure_map(body, "stageVariables")
        for key, value in body.items():
            if value is not None and key not in ("apiId", "stageName"):
                data[key] = value
        data["lastUpdatedDate"] = now_iso()
        self._compiled.pop(f"{api_id}/{stage_name}", None)
        return data

    def delete_stage(self, api_id: str, stage_name: str) -> None:
        """DeleteStage."""
        rec = self.api(api_id)
        self.stage(api_id, stage_name)
        del rec.stages[stage_name]
        self._compiled.pop(f"{api_id}/{stage_name}", None)

    def list_stages(self, api_id: str, params: dict[str, str]) -> Json:
        """GetStages."""
        return _page(list(self.api(api_id).stages.values()), params)

    # ------------------------------------------------------------------ deployments

    def create_deployment(self, api_id: str, body: Json, *, auto: bool = False) -> Json:
        """CreateDeployment: freeze routes + integrations; with StageName, point the stage at it."""
        rec = self.api(api_id)
        stage_name = _ensure_str(body, "stageName")
        if stage_name is not None and stage_name not in rec.stages:
            raise bad_request(f"Invalid stage identifier specified: {stage_name}")
        if not rec.routes:
            raise bad_request("At least one route is required before deploying the Api.")
        for route in rec.routes.values():
            self._check_target(rec, route.get("target"))
        data: Json = {
            "autoDeployed": auto,
            "createdDate": now_iso(),
            "deploymentId": self._new_id(rec.deployments),
            "deploymentStatus": "DEPLOYED",
        }
        if body.get("description") is not None:
            data["description"] = _ensure_str(body, "description")
        rec.deployments[data["deploymentId"]] = data
        rec.frozen[data["deploymentId"]] = copy.deepcopy(
            {
                "routeSelectionExpression": rec.data["routeSelectionExpression"],
                "routes": list(rec.routes.values()),
                "routeResponses": rec.route_responses,
                "integrations": rec.integrations,
            }
        )
        if stage_name is not None:
            stage = rec.stages[stage_name]
            stage["deploymentId"] = data["deploymentId"]
            stage["lastUpdatedDate"] = data["createdDate"]
            self._compiled.pop(f"{api_id}/{stage_name}", None)
        return data

    def _auto_deploy(self, rec: ApiRecord, stage_name: str) -> None:
        if rec.routes:
            self.create_deployment(rec.data["apiId"], {"stageName": stage_name}, auto=True)

    def auto_deploy_all(self, api_id: str) -> None:
        """Redeploy every ``autoDeploy`` stage after a route/integration change."""
        rec = self.apis.get(api_id)
        if rec is None:
            return
        for name, stage in rec.stages.items():
            if stage.get("autoDeploy"):
                self._auto_deploy(rec, name)

    def deployment(self, api_id: str, deployment_id: str) -> Json:
        """GetDeployment."""
        data = self.api(api_id).deployments.get(deployment_id)
        if data is None:
            raise not_found(f"Invalid Deployment identifier specified {deployment_id}", "Deployment")
        return data

    def update_deployment(self, api_id: str, deployment_id: str, body: Json) -> Json:
        """UpdateDeployment (only the description changes)."""
        data = self.deployment(api_id, deployment_id)
        if body.get("description") is not None:
            data["description"] = _ensure_str(body, "description")
        return data

    def delete_deployment(self, api_id: str, deployment_id: str) -> None:
        """DeleteDeployment; refused while a stage uses it."""
        rec = self.api(api_id)
        self.deployment(api_id, deployment_id)
        if any(s.get("deploymentId") == deployment_id for s in rec.stages.values()):
            raise bad_request("Active stages pointing to this deployment must be moved or deleted")
        del rec.deployments[deployment_id]
        rec.frozen.pop(deployment_id, None)

    def list_deployments(self, api_id: str, params: dict[str, str]) -> Json:
        """GetDeployments."""
        return _page(list(self.api(api_id).deployments.values()), params)

    # ------------------------------------------------------------------ domain names

    def create_domain_name(self, body: Json, region: str) -> Json:
        """CreateDomainName (REGIONAL only, like API Gateway v2)."""
        name = _ensure_str(body, "domainName", required=True)
        assert name is not None
        name = name.lower()
        if not _DOMAIN_NAME.match(name) or _is_ip_address(name):
            # A custom domain is a DNS name with an ACM certificate: never an IP address.
            raise bad_request(f"Invalid domain name specified: {name}")
        if name in self.domains:
            raise conflict(f"The domain name you provided already exists: {name}")
        configs = body.get("domainNameConfigurations")
        if not isinstance(configs, list) or len(configs) != 1 or not isinstance(configs[0], dict):
            raise bad_request("Exactly one DomainNameConfiguration is required")
        data: Json = {
            "apiMappingSelectionExpression": "$request.basepath",
            "domainName": name,
            "domainNameArn": f"arn:aws:apigateway:{region}::/domainnames/{name}",
            "domainNameConfigurations": [self._domain_config(configs[0], region, None)],
            "tags": _ensure_map(body, "tags") or {},
        }
        if body.get("routingMode") is not None:
            data["routingMode"] = body["routingMode"]
        if body.get("mutualTlsAuthentication") is not None:
            data["mutualTlsAuthentication"] = body["mutualTlsAuthentication"]
        self.domains[name] = DomainRecord(data=data)
        return data

    @staticmethod
    def _domain_config(config: Json, region: str, current: Json | None) -> Json:
        endpoint_type = config.get("endpointType", "REGIONAL")
        if endpoint_type != "REGIONAL":
            raise bad_request(
                f"Invalid endpoint type specified: {endpoint_type}. Only REGIONAL is supported."
            )
        policy = config.get("securityPolicy", "TLS_1_2")
        if policy not in ("TLS_1_0", "TLS_1_2"):
            raise bad_request(f"Invalid security policy specified: {policy}")
        arn = config.get("certificateArn")
        match = _CERT_ARN.match(arn) if isinstance(arn, str) else None
        if match is None:
            raise bad_request(f"Invalid certificate ARN specified: {arn}")
        if match.group(1) != region:
            raise bad_request(f"The certificate must be in the same region as the domain name ({region}).")
        out: Json = dict(current or {})
        out.update(
            {
                "apiGatewayDomainName": (current or {}).get("apiGatewayDomainName")
                or f"{ids.domain_target_id()}.execute-api.{region}.amazonaws.com",
                "certificateArn": arn,
                "domainNameStatus": "AVAILABLE",
                "endpointType": "REGIONAL",
                "hostedZoneId": REGIONAL_HOSTED_ZONES.get(region, "Z1UJRXOUMOOFQ8"),
                "ipAddressType": config.get("ipAddressType", "ipv4"),
                "securityPolicy": policy,
            }
        )
        if config.get("certificateName") is not None:
            out["certificateName"] = config["certificateName"]
        return out

    def domain(self, name: str) -> DomainRecord:
        """The domain or 404 NotFoundException."""
        rec = self.domains.get(name.lower())
        if rec is None:
            raise not_found(f"Invalid domain name identifier specified {name}", "DomainName")
        return rec

    def update_domain_name(self, name: str, body: Json, region: str) -> Json:
        """UpdateDomainName."""
        rec = self.domain(name)
        configs = body.get("domainNameConfigurations")
        if configs is not None:
            if not isinstance(configs, list) or len(configs) != 1 or not isinstance(configs[0], dict):
                raise bad_request("Exactly one DomainNameConfiguration is required")
            current = rec.data["domainNameConfigurations"][0]
            rec.data["domainNameConfigurations"] = [self._domain_config(configs[0], region, current)]
        return rec.data

    def delete_domain_name(self, name: str) -> None:
        """DeleteDomainName (its mappings go with it)."""
        self.domain(name)
        del self.domains[name.lower()]

    def list_domain_names(self, params: dict[str, str]) -> Json:
        """GetDomainNames."""
        return _page([d.data for d in self.domains.values()], params)

    # ------------------------------------------------------------------ API mappings

    def create_api_mapping(self, domain_name: str, body: Json) -> Json:
        """CreateApiMapping: the API and stage must exist; the key is unique per domain."""
        domain = self.domain(domain_name)
        api_id = _ensure_str(body, "apiId", required=True)
        stage = _ensure_str(body, "stage", required=True)
        assert api_id is not None and stage is not None
        self.stage(api_id, stage)
        key = self._mapping_key(body.get("apiMappingKey"))
        if any(m.get("apiMappingKey", "") == key for m in domain.mappings.values()):
            raise conflict(f"ApiMapping with key '{key}' already exists for domain {domain_name}")
        data: Json = {
            "apiId": api_id,
            "apiMappingId": self._new_id(domain.mappings),
            "apiMappingKey": key,
            "stage": stage,
        }
        domain.mappings[data["apiMappingId"]] = data
        return data

    @staticmethod
    def _mapping_key(value: Any) -> str:
        key = "" if value is None else value
        if not isinstance(key, str) or (key and not _MAPPING_KEY.match(key)):
            raise bad_request(f"Invalid API mapping key specified: {value}")
        return key

    def api_mapping(self, domain_name: str, mapping_id: str) -> Json:
        """GetApiMapping."""
        data = self.domain(domain_name).mappings.get(mapping_id)
        if data is None:
            raise not_found(f"Invalid API mapping identifier specified {mapping_id}", "ApiMapping")
        return data

    def update_api_mapping(self, domain_name: str, mapping_id: str, body: Json) -> Json:
        """UpdateApiMapping."""
        domain = self.domain(domain_name)
        data = self.api_mapping(domain_name, mapping_id)
        api_id = _ensure_str(body, "apiId") or data["apiId"]
        stage = _ensure_str(body, "stage") or data["stage"]
        self.stage(api_id, stage)
        key = data.get("apiMappingKey", "")
        if "apiMappingKey" in body and body["apiMappingKey"] is not None:
            key = self._mapping_key(body["apiMappingKey"])
            if any(
                m.get("apiMappingKey", "") == key and mid != mapping_id for mid, m in domain.mappings.items()
            ):
                raise conflict(f"ApiMapping with key '{key}' already exists for domain {domain_name}")
        data.update({"apiId": api_id, "stage": stage, "apiMappingKey": key})
        return data

    def delete_api_mapping(self, domain_name: str, mapping_id: str) -> None:
        """DeleteApiMapping."""
        self.api_mapping(domain_name, mapping_id)
        del self.domain(domain_name).mappings[mapping_id]

    def list_api_mappings(self, domain_name: str, params: dict[str, str]) -> Json:
        """GetApiMappings."""
        return _page(list(self.domain(domain_name).mappings.values()), params)

    # ------------------------------------------------------------------ authorizers and models

    def create_authorizer(self, api_id: str, body: Json) -> Json:
        """CreateAuthorizer: WebSocket APIs take REQUEST (Lambda) authorizers only.

        Stored and answered like AWS; the data plane does not call authorizers (no Lambda here).
        """
        rec = self.api(api_id)
        kind = body.get("authorizerType")
        if rec.data["protocolType"] == "WEBSOCKET":
            if kind != "REQUEST":
                raise bad_request("Only REQUEST authorizers are supported for WEBSOCKET APIs")
            if not body.get("authorizerUri"):
                raise bad_request("AuthorizerUri is required for REQUEST authorizers")
        self._check_identity_source(body.get("identitySource"))
        data = dict(body, authorizerId=self._new_id(rec.authorizers))
        rec.authorizers[data["authorizerId"]] = data
        return data

    @staticmethod
    def _check_identity_source(sources: Any) -> None:
        for source in sources or []:
            if not _IDENTITY_SOURCE.match(source):
                raise bad_request(f"Invalid identity source specified: {source}")

    def authorizer(self, api_id: str, authorizer_id: str) -> Json:
        """GetAuthorizer."""
        return self._child(self.api(api_id).authorizers, authorizer_id, "Authorizer")

    def update_authorizer(self, api_id: str, authorizer_id: str, body: Json) -> Json:
        """UpdateAuthorizer."""
        data = self.authorizer(api_id, authorizer_id)
        self._check_identity_source(body.get("identitySource"))
        data.update(body)
        return data

    def delete_authorizer(self, api_id: str, authorizer_id: str) -> None:
        """DeleteAuthorizer; refused while a route uses it."""
        rec = self.api(api_id)
        self.authorizer(api_id, authorizer_id)
        if any(r.get("authorizerId") == authorizer_id for r in rec.routes.values()):
            raise conflict("Cannot delete Authorizer, there are routes referencing it.")
        del rec.authorizers[authorizer_id]

    def list_authorizers(self, api_id: str, params: dict[str, str]) -> Json:
        """GetAuthorizers."""
        return _page(list(self.api(api_id).authorizers.values()), params)

    def create_model(self, api_id: str, body: Json) -> Json:
        """CreateModel: a JSON schema, its name unique per API."""
        rec = self.api(api_id)
        if any(m["name"] == body.get("name") for m in rec.models.values()):
            raise conflict(f"Model name already exists for this API: {body.get('name')}")
        data = dict({"contentType": "application/json"}, **body)
        data["modelId"] = self._new_id(rec.models)
        rec.models[data["modelId"]] = data
        return data

    def model(self, api_id: str, model_id: str) -> Json:
        """GetModel."""
        return self._child(self.api(api_id).models, model_id, "Model")

    def model_template(self, api_id: str, model_id: str) -> Json:
        """GetModelTemplate: a mapping template that passes the model's input through."""
        self.model(api_id, model_id)
        return {"value": "#set($inputRoot = $input.path('$'))\n$input.json('$')"}

    def update_model(self, api_id: str, model_id: str, body: Json) -> Json:
        """UpdateModel."""
        rec = self.api(api_id)
        data = self.model(api_id, model_id)
        name = body.get("name")
        if name is not None and any(m["name"] == name and i != model_id for i, m in rec.models.items()):
            raise conflict(f"Model name already exists for this API: {name}")
        data.update(body)
        return data

    def delete_model(self, api_id: str, model_id: str) -> None:
        """DeleteModel."""
        self.model(api_id, model_id)
        del self.apis[api_id].models[model_id]

    def list_models(self, api_id: str, params: dict[str, str]) -> Json:
        """GetModels."""
        return _page(list(self.api(api_id).models.values()), params)

    @staticmethod
    def _child(children: dict[str, Json], child_id: str, kind: str) -> Json:
        data = children.get(child_id)
        if data is None:
            raise not_found(f"Invalid {kind} identifier specified {child_id}", kind)
        return data

    # ------------------------------------------------------------------ tags

    def _tagged(self, resource_arn: str) -> Json:
        """The resource an ARN names (``arn:aws:apigateway:{region}::/apis/{id}`` ...)."""
        _, _, path = resource_arn.partition("::")
        parts = path.strip("/").split("/")
        if resource_arn.startswith("arn:") and len(parts) >= 2:
            if parts[0] == "apis" and len(parts) == 2:
                return self.api(parts[1]).data
            if parts[0] == "apis" and len(parts) == 4 and parts[2] == "stages":
                return self.stage(parts[1], parts[3])
            if parts[0] == "domainnames" and len(parts) == 2:
                return self.domain(parts[1]).data
        raise not_found(f"Invalid resource ARN specified {resource_arn}", "Resource")

    def get_tags(self, resource_arn: str) -> Json:
        """GetTags."""
        return {"tags": dict(self._tagged(resource_arn).get("tags") or {})}

    def tag_resource(self, resource_arn: str, body: Json) -> Json:
        """TagResource: adds or replaces the given tags (at most 50 per resource, like AWS)."""
        data = self._tagged(resource_arn)
        tags = dict(data.get("tags") or {})
        tags.update(body.get("tags") or {})
        if len(tags) > 50:
            raise bad_request("A resource can have at most 50 tags")
        data["tags"] = tags
        return {}

    def untag_resource(self, resource_arn: str, keys: list[str]) -> None:
        """UntagResource."""
        data = self._tagged(resource_arn)
        data["tags"] = {k: v for k, v in (data.get("tags") or {}).items() if k not in keys}

    # ------------------------------------------------------------------ data-plane lookups

    def resolve_mapping(self, host: str, segment: str) -> tuple[str, str, bool] | None:
        """Resolve a custom-domain request: (api id, stage, whether ``segment`` was the key).

        ``host`` must already be lower-case without port. Returns None when the host is not a
        custom domain or no mapping matches.
        """
        domain = self.domains.get(host)
        if domain is None:
            return None
        fallback: tuple[str, str, bool] | None = None
        for mapping in domain.mappings.values():
            key = mapping.get("apiMappingKey", "")
            if key and key == segment:
                return mapping["apiId"], mapping["stage"], True
            if not key:
                fallback = (mapping["apiId"], mapping["stage"], False)
        return fallback

    def stage_snapshot(self, api_id: str, stage_name: str) -> Snapshot | None:
        """The compiled deployment a stage serves, or None (unknown api/stage, not deployed)."""
        cache_key = f"{api_id}/{stage_name}"
        snap = self._compiled.get(cache_key)
        if snap is not None:
            return snap
        rec = self.apis.get(api_id)
        if rec is None:
            return None
        stage = rec.stages.get(stage_name)
        if stage is None or not stage.get("deploymentId"):
            return None
        frozen = rec.frozen.get(stage["deploymentId"])
        if frozen is None:
            return None
        snap = self._compile(stage["deploymentId"], frozen, stage.get("stageVariables") or {})
        self._compiled[cache_key] = snap
        return snap

    @staticmethod
    def _compile(deployment_id: str, frozen: Json, stage_variables: dict[str, str]) -> Snapshot:
        integrations: dict[str, IntegrationSnapshot] = {}
        for iid, data in frozen["integrations"].items():
            params = tuple(
                parse_param_mapping(target, source)
                for target, source in (data.get("requestParameters") or {}).items()
            )
            integrations[iid] = IntegrationSnapshot(
                integration_id=iid,
                integration_type=data["integrationType"],
                uri=data.get("integrationUri") or "",
                method=data.get("integrationMethod") or "POST",
                timeout=data.get("timeoutInMillis", 29000) / 1000.0,
                params=params,
            )
        routes: dict[str, RouteSnapshot] = {}
        for route in frozen["routes"]:
            target = route.get("target") or ""
            integration = integrations.get(target[len("integrations/") :]) if target else None
            routes[route["routeKey"]] = RouteSnapshot(
                route_id=route["routeId"],
                route_key=route["routeKey"],
                two_way=bool(route.get("routeResponseSelectionExpression")),
                integration=integration,
            )
        return Snapshot(
            deployment_id=deployment_id,
            selector=parse_selection_expression(frozen["routeSelectionExpression"]),
            routes=routes,
            stage_variables=dict(stage_variables),
        )

    def api_exists(self, api_id: str) -> bool:
        """Cheap existence check for the data plane."""
        return api_id in self.apis

    @staticmethod
    def _new_id(existing: dict[str, Any]) -> str:
        new = ids.short_id()
        while new in existing:
            new = ids.short_id()
        return new


def require(condition: bool, error: AwsError) -> None:
    """Raise ``error`` unless ``condition`` holds (keeps handlers flat)."""
    if not condition:
        raise error
