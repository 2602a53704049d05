"""The ``apigatewayv2`` control plane over HTTP: botocore's REST-JSON paths under ``/v2``.

A boto3 ``apigatewayv2`` client with only ``endpoint_url`` pointed at the emulator works: the
paths, methods, status codes (201 create, 200 get/update, 204 delete) and camelCase JSON members
are the ones of botocore's service model. Errors carry ``x-amzn-ErrorType`` so boto3 raises
``NotFoundException``, ``ConflictException``, ``BadRequestException`` and
``TooManyRequestsException``.

Optional realism (see :class:`~wsgateway.emulator.config.EmulatorConfig`): AWS's
control-plane rate limits (CreateDeployment 1 per 5 s, Create/Update/DeleteDomainName 1 per 30 s)
and a random fraction of calls failing with 429.
"""

from __future__ import annotations

import json
from collections.abc import Awaitable, Callable
from typing import Any

from aiohttp import web

from . import sigv4, wire_model
from .config import EmulatorConfig
from .errors import AwsError, bad_request
from .faults import FaultInjector
from .state import ControlPlaneState, Json

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]
# (request, path parameters, body, region) -> wire result or None for 204
Operation = Callable[[web.Request, dict[str, str], Json, str], Json | None]

DEPLOYMENT_INTERVAL_S = 5.0
DOMAIN_NAME_INTERVAL_S = 30.0


class ControlPlane:
    """Registers the ``/v2`` routes on an aiohttp application."""

    def __init__(self, state: ControlPlaneState, config: EmulatorConfig, faults: FaultInjector) -> None:
        self.state = state
        self.config = config
        self.faults = faults

    # ------------------------------------------------------------------ plumbing

    def _endpoint(self, request: web.Request, data: Json) -> Json:
        # AWS: wss://{apiId}.execute-api.{region}.amazonaws.com; here ws://HOST:PORT/{apiId},
        # so ApiEndpoint + "/" + stage is the socket URL in both cases.
        out = dict(data)
        scheme = "ws" if data.get("protocolType") == "WEBSOCKET" else "http"
        if request.secure:
            scheme += "s"
        out["apiEndpoint"] = f"{scheme}://{request.host}/{data['apiId']}"
        return out

    def _handler(
        self,
        operation: Operation,
        status: int,
        *,
        mutating: bool = False,
        throttle: tuple[str, float] | None = None,
        api_output: bool = False,
        redeploy: bool = False,
    ) -> Handler:
        state = self.state

        async def handler(request: web.Request) -> web.StreamResponse:
            try:
                authorization = request.headers.get("Authorization")
                body_bytes = await request.read() if request.can_read_body else b""
                sigv4.authenticate(
                    service="apigateway",
                    method=request.method,
                    raw_path=request.raw_path.partition("?")[0],
                    query=request.rel_url.raw_query_string,
                    headers=request.headers,
                    body=body_bytes,
                    access_key=self.config.access_key,
                    secret_key=self.config.secret_key,
                )
                fault = self.faults.control_plane_fault()
                if fault is not None:
                    raise fault
                if throttle is not None:
                    throttled = self.faults.throttle(*throttle)
                    if throttled is not None:
                        raise throttled
                body: Any = {}
                if body_bytes:
                    try:
                        body = json.loads(body_bytes)
                    except (ValueError, RecursionError):  # deep nesting raises RecursionError
                        raise bad_request("Invalid JSON body") from None
                    if not isinstance(body, dict):
                        raise bad_request("The request body must be a JSON object")
                resource = request.match_info.route.resource
                model = wire_model.operation_for(request.method, resource.canonical if resource else "")
                if model is not None:
                    body = wire_model.validate_body(model, body)
                region = sigv4.region_of(authorization, self.config.region)
                params = dict(request.match_info)
                result = operation(request, params, body, region)
                if redeploy and "apiId" in params:
                    state.auto_deploy_all(params["apiId"])
            except AwsError as err:
                return err.response()
            if mutating:
                state.save()
            if result is None:
                return web.Response(status=204)
            if api_output:
                if "items" in result:
                    result = dict(result, items=[self._endpoint(request, item) for item in result["items"]])
                else:
                    result = self._endpoint(request, result)
            return web.json_response(result, status=status)

        return handler

    # ------------------------------------------------------------------ routes

    def register(self, app: web.Application) -> None:
        """Add every control-plane route to ``app``."""
        s = self.state
        h = self._handler
        q = _query
        r = app.router
        apis = "/v2/apis"
        api = "/v2/apis/{apiId}"

        r.add_get(apis, h(lambda rq, p, b, reg: s.list_apis(q(rq)), 200, api_output=True))
        r.add_post(apis, h(lambda rq, p, b, reg: s.create_api(b), 201, mutating=True, api_output=True))
        r.add_get(api, h(lambda rq, p, b, reg: s.api(p["apiId"]).data, 200, api_output=True))
        r.add_patch(
            api, h(lambda rq, p, b, reg: s.update_api(p["apiId"], b), 200, mutating=True, api_output=True)
        )
        r.add_delete(api, h(lambda rq, p, b, reg: s.delete_api(p["apiId"]), 204, mutating=True))

        integ = api + "/integrations"
        one_integ = integ + "/{integrationId}"
        r.add_get(integ, h(lambda rq, p, b, reg: s.list_integrations(p["apiId"], q(rq)), 200))
        r.add_post(
            integ,
            h(lambda rq, p, b, reg: s.create_integration(p["apiId"], b), 201, mutating=True, redeploy=True),
        )
        r.add_get(one_integ, h(lambda rq, p, b, reg: s.integration(p["apiId"], p["integrationId"]), 200))
        r.add_patch(
            one_integ,
            h(
                lambda rq, p, b, reg: s.update_integration(p["apiId"], p["integrationId"], b),
                200,
                mutating=True,
                redeploy=True,
            ),
        )
        r.add_delete(
            one_integ,
            h(
                lambda rq, p, b, reg: s.delete_integration(p["apiId"], p["integrationId"]),
                204,
                mutating=True,
                redeploy=True,
            ),
        )

        iresp = one_integ + "/integrationresponses"
        one_iresp = iresp + "/{responseId}"
        r.add_get(
            iresp,
            h(lambda rq, p, b, reg: s.list_integration_responses(p["apiId"], p["integrationId"], q(rq)), 200),
        )
        r.add_post(
            iresp,
            h(
                lambda rq, p, b, reg: s.create_integration_response(p["apiId"], p["integrationId"], b),
                201,
                mutating=True,
            ),
        )
        r.add_get(
            one_iresp,
            h(
                lambda rq, p, b, reg: s.integration_response(p["apiId"], p["integrationId"], p["responseId"]),
                200,
            ),
        )
        r.add_patch(
            one_iresp,
            h(
                lambda rq, p, b, reg: s.update_integration_response(
                    p["apiId"], p["integrationId"], p["responseId"], b
                ),
                200,
                mutating=True,
            ),
        )
        r.add_delete(
            one_iresp,
            h(
                lambda rq, p, b, reg: s.delete_integration_response(
                    p["apiId"], p["integrationId"], p["responseId"]
                ),
                204,
                mutating=True,
            ),
        )

        routes = api + "/routes"
        one_route = routes + "/{routeId}"
        r.add_get(routes, h(lambda rq, p, b, reg: s.list_routes(p["apiId"], q(rq)), 200))
        r.add_post(
            routes, h(lambda rq, p, b, reg: s.create_route(p["apiId"], b), 201, mutating=True, redeploy=True)
        )
        r.add_get(one_route, h(lambda rq, p, b, reg: s.route(p["apiId"], p["routeId"]), 200))
        r.add_patch(
            one_route,
            h(
                lambda rq, p, b, reg: s.update_route(p["apiId"], p["routeId"], b),
                200,
                mutating=True,
                redeploy=True,
            ),
        )
        r.add_delete(
            one_route,
            h(
                lambda rq, p, b, reg: s.delete_route(p["apiId"], p["routeId"]),
                204,
                mutating=True,
                redeploy=True,
            ),
        )

        rresp = one_route + "/routeresponses"
        one_rresp = rresp + "/{responseId}"
        r.add_get(
            rresp, h(lambda rq, p, b, reg: s.list_route_responses(p["apiId"], p["routeId"], q(rq)), 200)
        )
        r.add_post(
            rresp,
            h(lambda rq, p, b, reg: s.create_route_response(p["apiId"], p["routeId"], b), 201, mutating=True),
        )
        r.add_get(
            one_rresp,
            h(lambda rq, p, b, reg: s.route_response(p["apiId"], p["routeId"], p["responseId"]), 200),
        )
        r.add_patch(
            one_rresp,
            h(
                lambda rq, p, b, reg: s.update_route_response(p["apiId"], p["routeId"], p["responseId"], b),
                200,
                mutating=True,
            ),
        )
        r.add_delete(
            one_rresp,
            h(
                lambda rq, p, b, reg: s.delete_route_response(p["apiId"], p["routeId"], p["responseId"]),
                204,
                mutating=True,
            ),
        )

        stages = api + "/stages"
        one_stage = stages + "/{stageName}"
        r.add_get(stages, h(lambda rq, p, b, reg: s.list_stages(p["apiId"], q(rq)), 200))
        r.add_post(stages, h(lambda rq, p, b, reg: s.create_stage(p["apiId"], b), 201, mutating=True))
        r.add_get(one_stage, h(lambda rq, p, b, reg: s.stage(p["apiId"], p["stageName"]), 200))
        r.add_patch(
            one_stage,
            h(lambda rq, p, b, reg: s.update_stage(p["apiId"], p["stageName"], b), 200, mutating=True),
        )
        r.add_delete(
            one_stage, h(lambda rq, p, b, reg: s.delete_stage(p["apiId"], p["stageName"]), 204, mutating=True)
        )

        deps = api + "/deployments"
        one_dep = deps + "/{deploymentId}"
        r.add_get(deps, h(lambda rq, p, b, reg: s.list_deployments(p["apiId"], q(rq)), 200))
        r.add_post(
            deps,
            h(
                lambda rq, p, b, reg: s.create_deployment(p["apiId"], b),
                201,
                mutating=True,
                throttle=("CreateDeployment", DEPLOYMENT_INTERVAL_S),
            ),
        )
        r.add_get(one_dep, h(lambda rq, p, b, reg: s.deployment(p["apiId"], p["deploymentId"]), 200))
        r.add_patch(
            one_dep,
            h(
                lambda rq, p, b, reg: s.update_deployment(p["apiId"], p["deploymentId"], b),
                200,
                mutating=True,
            ),
        )
        r.add_delete(
            one_dep,
            h(lambda rq, p, b, reg: s.delete_deployment(p["apiId"], p["deploymentId"]), 204, mutating=True),
        )

        self._register_children(app, api, "authorizers", "authorizerId", "authorizer")
        self._register_children(app, api, "models", "modelId", "model")
        r.add_get(
            api + "/models/{modelId}/template",
            h(lambda rq, p, b, reg: s.model_template(p["apiId"], p["modelId"]), 200),
        )
        tags = "/v2/tags/{resourceArn:.+}"
        r.add_get(tags, h(lambda rq, p, b, reg: s.get_tags(p["resourceArn"]), 200))
        r.add_post(tags, h(lambda rq, p, b, reg: s.tag_resource(p["resourceArn"], b), 201, mutating=True))
        r.add_delete(
            tags,
            h(
                lambda rq, p, b, reg: s.untag_resource(p["resourceArn"], rq.query.getall("tagKeys", [])),
                204,
                mutating=True,
            ),
        )

        domains = "/v2/domainnames"
        one_domain = domains + "/{domainName}"
        domain_throttle = ("DomainName", DOMAIN_NAME_INTERVAL_S)
        r.add_get(domains, h(lambda rq, p, b, reg: s.list_domain_names(q(rq)), 200))
        r.add_post(
            domains,
            h(
                lambda rq, p, b, reg: s.create_domain_name(b, reg),
                201,
                mutating=True,
                throttle=domain_throttle,
            ),
        )
        r.add_get(one_domain, h(lambda rq, p, b, reg: s.domain(p["domainName"]).data, 200))
        r.add_patch(
            one_domain,
            h(
                lambda rq, p, b, reg: s.update_domain_name(p["domainName"], b, reg),
                200,
                mutating=True,
                throttle=domain_throttle,
            ),
        )
        r.add_delete(
            one_domain,
            h(
                lambda rq, p, b, reg: s.delete_domain_name(p["domainName"]),
                204,
                mutating=True,
                throttle=domain_throttle,
            ),
        )

        maps = one_domain + "/apimappings"
        one_map = maps + "/{apiMappingId}"
        r.add_get(maps, h(lambda rq, p, b, reg: s.list_api_mappings(p["domainName"], q(rq)), 200))
        r.add_post(
            maps, h(lambda rq, p, b, reg: s.create_api_mapping(p["domainName"], b), 201, mutating=True)
        )
        r.add_get(one_map, h(lambda rq, p, b, reg: s.api_mapping(p["domainName"], p["apiMappingId"]), 200))
        r.add_patch(
            one_map,
            h(
                lambda rq, p, b, reg: s.update_api_mapping(p["domainName"], p["apiMappingId"], b),
                200,
                mutating=True,
            ),
        )
        r.add_delete(
            one_map,
            h(
                lambda rq, p, b, reg: s.delete_api_mapping(p["domainName"], p["apiMappingId"]),
                204,
                mutating=True,
            ),
        )

    def _register_children(self, app: web.Application, api: str, kind: str, id_name: str, noun: str) -> None:
        """Create/Get/Update/Delete/List routes of a per-API collection served by ``state.<verb>_<noun>``."""
        s = self.state
        h = self._handler
        many = f"{api}/{kind}"
        one = f"{many}/{{{id_name}}}"
        create, get, update, delete, listing = (
            getattr(s, f"create_{noun}"),
            getattr(s, noun),
            getattr(s, f"update_{noun}"),
            getattr(s, f"delete_{noun}"),
            getattr(s, f"list_{noun}s"),
        )
        r = app.router
        r.add_get(many, h(lambda rq, p, b, reg: listing(p["apiId"], _query(rq)), 200))
        r.add_post(many, h(lambda rq, p, b, reg: create(p["apiId"], b), 201, mutating=True))
        r.add_get(one, h(lambda rq, p, b, reg: get(p["apiId"], p[id_name]), 200))
        r.add_patch(one, h(lambda rq, p, b, reg: update(p["apiId"], p[id_name], b), 200, mutating=True))
        r.add_delete(one, h(lambda rq, p, b, reg: delete(p["apiId"], p[id_name]), 204, mutating=True))


def _query(request: web.Request) -> dict[str, str]:
    return {k: v for k, v in request.query.items()}
