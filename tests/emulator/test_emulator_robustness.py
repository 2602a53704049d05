"""No request of any shape makes the emulator answer 5xx or break a stage (issue 13, crashes)."""

from __future__ import annotations

import gzip
import http.client
import json
import random
import socket
import time
from typing import Any

import pytest
from websockets.sync.client import connect

from tests import waiting
from wsgateway.emulator import EmulatorServer
from wsgateway.emulator.testing import RecordingBackend, create_websocket_api

pytestmark = pytest.mark.timeout(120)


@pytest.mark.parametrize("route_key", [["$default"], {"a": 1}, 7, True])
def test_update_route_with_a_non_string_route_key_is_refused_and_the_stage_keeps_working(
    emulator, recording_backend, ws_api, route_key
):
    client = emulator.client("apigatewayv2")
    route_id = ws_api.routes["$default"]
    conn = http.client.HTTPConnection("127.0.0.1", emulator.port, timeout=10)
    path = f"/v2/apis/{ws_api.api_id}/routes/{route_id}"
    body = json.dumps({"routeKey": route_key}).encode()
    conn.request("PATCH", path, body=body, headers=_signed_looking({"Content-Type": "application/json"}))
    response = conn.getresponse()
    response.read()
    conn.close()
    assert response.status == 400
    assert response.getheader("x-amzn-ErrorType") == "BadRequestException"
    assert client.get_route(ApiId=ws_api.api_id, RouteId=route_id)["RouteKey"] == "$default"
    client.create_deployment(ApiId=ws_api.api_id, StageName=ws_api.stage)
    with connect(emulator.ws_url(ws_api.api_id, ws_api.stage), open_timeout=5) as ws:
        connection_id = recording_backend.wait_for(lambda r: r.path == "/ws/connect").header("connectionId")
        mgmt = emulator.client(
            "apigatewaymanagementapi", emulator.management_url(ws_api.api_id, ws_api.stage)
        )
        mgmt.post_to_connection(ConnectionId=connection_id, Data=b"still fine")
        assert ws.recv(timeout=10) == "still fine"


@pytest.mark.parametrize(
    "raw",
    [
        b'{"frame_limit": 1e400}',
        b'{"message_limit": 1e400}',
        b'{"send_buffer_limit": -1e400}',
        b'{"virtual_keep_messages": 1e400}',
        b'{"frame_limit": 1' + b"0" * 400 + b"}",
        b'{"idle_timeout": 1' + b"0" * 400 + b"}",
        b'{"latency_ms": 1e300}',
        b'{"frame_limit": 2.5}',
    ],
)
def test_out_of_range_admin_config_is_a_400(emulator, raw):
    conn = http.client.HTTPConnection("127.0.0.1", emulator.port, timeout=10)
    conn.request("POST", "/_emulator/config", body=raw, headers=emulator.admin_headers)
    response = conn.getresponse()
    response.read()
    conn.close()
    assert response.status == 400
    config = emulator.admin("config")
    assert config["frame_limit"] == 32 * 1024 and config["latency_ms"] == 0.0


def _signed_looking(headers: dict[str, str], service: str = "apigateway") -> dict[str, str]:
    """What a signed request carries: enough for an emulator without credentials."""
    now = time.gmtime()
    return dict(
        headers,
        Authorization=(
            f"AWS4-HMAC-SHA256 Credential=AKIDFUZZ/{time.strftime('%Y%m%d', now)}/us-east-1/{service}/"
            "aws4_request, SignedHeaders=host;x-amz-date, Signature=" + "0" * 64
        ),
        **{"X-Amz-Date": time.strftime("%Y%m%dT%H%M%SZ", now)},
    )


_WEIRD_STRINGS = [
    "",
    "x",
    "$default",
    "$connect",
    "a" * 5000,
    "é€😀",
    "\x00",
    "%2F",
    "../..",
    "integrations/zzz",
    "'static'",
    "$request.body.action",
    "${request.body.a}/${request.body.b}",
    "route.request.header.X",
    "http://127.0.0.1:1/",
]


def _value(rng: random.Random, depth: int = 0) -> object:
    choice = rng.randrange(10 if depth < 3 else 6)
    if choice == 0:
        return None
    if choice == 1:
        return rng.choice([True, False])
    if choice == 2:
        return rng.choice([0, -1, 1, 49, 50, 29000, 2**31, 2**63, 10**30])
    if choice == 3:
        return rng.choice([0.5, -0.0, 1e308, 3.14])
    if choice in (4, 5):
        return rng.choice(_WEIRD_STRINGS)
    if choice in (6, 7):
        return [_value(rng, depth + 1) for _ in range(rng.randrange(4))]
    return {rng.choice(_FIELDS): _value(rng, depth + 1) for _ in range(rng.randrange(5))}


# Members of the apigatewayv2 wire model and of the admin API, so bodies reach deep code paths.
_FIELDS = [
    "name",
    "protocolType",
    "routeSelectionExpression",
    "routeKey",
    "target",
    "integrationType",
    "integrationUri",
    "integrationMethod",
    "timeoutInMillis",
    "requestParameters",
    "requestModels",
    "requestTemplates",
    "stageName",
    "deploymentId",
    "autoDeploy",
    "stageVariables",
    "routeSettings",
    "defaultRouteSettings",
    "domainName",
    "domainNameConfigurations",
    "certificateArn",
    "apiMappingKey",
    "apiId",
    "stage",
    "tags",
    "routeResponseKey",
    "integrationResponseKey",
    "routeResponseSelectionExpression",
    "authorizerType",
    "identitySource",
    "authorizerUri",
    "schema",
    "contentType",
    "count",
    "fail_429",
    "frame_limit",
    "latency_ms",
    "seed",
    "idle_timeout",
    "virtual_keep_messages",
]


_CERT = "arn:aws:acm:us-east-1:123456789012:certificate/x"
# (method, path, a valid body): the requests a client would make, to be mutated one member at a
# time so that the fuzzing gets past the first checks into the deeper code.
_TARGETS = [
    (
        "POST",
        "/v2/apis",
        {"name": "n", "protocolType": "WEBSOCKET", "routeSelectionExpression": "$request.body.a"},
    ),
    (
        "PATCH",
        "/v2/apis/{api}",
        {"name": "n2", "routeSelectionExpression": "${request.body.a}/${request.body.b}"},
    ),
    ("POST", "/v2/apis/{api}/routes", {"routeKey": "k", "target": "integrations/{integration}"}),
    (
        "PATCH",
        "/v2/apis/{api}/routes/{route}",
        {"routeKey": "$default", "target": "integrations/{integration}"},
    ),
    (
        "POST",
        "/v2/apis/{api}/integrations",
        {
            "integrationType": "HTTP_PROXY",
            "integrationMethod": "POST",
            "integrationUri": "http://127.0.0.1:1/",
        },
    ),
    (
        "PATCH",
        "/v2/apis/{api}/integrations/{integration}",
        {
            "requestParameters": {"integration.request.header.x": "route.request.body.a"},
            "timeoutInMillis": 1000,
        },
    ),
    ("POST", "/v2/apis/{api}/stages", {"stageName": "s2", "autoDeploy": True}),
    ("PATCH", "/v2/apis/{api}/stages/{stage}", {"stageVariables": {"a": "b"}, "description": "d"}),
    ("POST", "/v2/apis/{api}/deployments", {"stageName": "{stage}"}),
    ("POST", "/v2/apis/{api}/routes/{route}/routeresponses", {"routeResponseKey": "$default"}),
    (
        "POST",
        "/v2/apis/{api}/integrations/{integration}/integrationresponses",
        {"integrationResponseKey": "/200/"},
    ),
    (
        "POST",
        "/v2/apis/{api}/authorizers",
        {
            "authorizerType": "REQUEST",
            "name": "a",
            "authorizerUri": "arn:x",
            "identitySource": ["route.request.header.A"],
        },
    ),
    ("POST", "/v2/apis/{api}/models", {"name": "m", "schema": "{}"}),
    ("POST", "/v2/tags/arn:aws:apigateway:us-east-1::%2Fapis%2F{api}", {"tags": {"k": "v"}}),
    (
        "POST",
        "/v2/domainnames",
        {"domainName": "ws.example.com", "domainNameConfigurations": [{"certificateArn": _CERT}]},
    ),
    (
        "POST",
        "/v2/domainnames/ws.example.com/apimappings",
        {"apiId": "{api}", "stage": "{stage}", "apiMappingKey": "v1"},
    ),
    ("POST", "/_emulator/config", {"fail_429": 0.0, "frame_limit": 32768, "idle_timeout": 600, "seed": 1}),
    ("POST", "/_emulator/virtual-connections", {"count": 2, "apiId": "{api}", "stage": "{stage}"}),
]


def _fill(value: object, ids: dict[str, str]) -> object:
    if isinstance(value, str):
        for key, real in ids.items():
            value = value.replace("{" + key + "}", real)
        return value
    if isinstance(value, list):
        return [_fill(v, ids) for v in value]
    if isinstance(value, dict):
        return {k: _fill(v, ids) for k, v in value.items()}
    return value


def _mutated(rng: random.Random, ids: dict[str, str]) -> tuple[str, str, bytes]:
    """A valid request with one member replaced, dropped, or set to a number no float holds."""
    method, path, valid = rng.choice(_TARGETS)
    body = dict(_fill(valid, ids))  # type: ignore[call-overload]
    member = rng.choice(list(body)) if rng.random() < 0.7 else rng.choice(_FIELDS)
    roll = rng.random()
    if roll < 0.15:
        body.pop(member, None)
        return method, str(_fill(path, ids)), json.dumps(body).encode()
    if roll < 0.35:  # json parses 1e400 as inf
        return (
            method,
            path.format(**ids),
            json.dumps(dict(body, **{member: "HUGE"})).encode().replace(b'"HUGE"', b"1e400"),
        )
    body[member] = _value(rng)
    return method, str(_fill(path, ids)), json.dumps(body).encode()


def _paths(rng: random.Random, ids: dict[str, str]) -> str:
    api, route, integ, stage = ids["api"], ids["route"], ids["integration"], ids["stage"]
    some = rng.choice([api, route, integ, stage, "zzz", "%00", "%F0%9F%98%80", "a" * 300, ""])
    return rng.choice(
        [
            "/v2/apis",
            f"/v2/apis/{some}",
            f"/v2/apis/{api}",
            f"/v2/apis/{api}/routes",
            f"/v2/apis/{api}/routes/{route}",
            f"/v2/apis/{api}/routes/{some}/routeresponses",
            f"/v2/apis/{api}/integrations",
            f"/v2/apis/{api}/integrations/{integ}",
            f"/v2/apis/{api}/integrations/{integ}/integrationresponses",
            f"/v2/apis/{api}/stages",
            f"/v2/apis/{api}/stages/{stage}",
            f"/v2/apis/{api}/deployments",
            f"/v2/apis/{api}/authorizers",
            f"/v2/apis/{api}/models",
            f"/v2/tags/arn:aws:apigateway:us-east-1::/apis/{api}",
            "/v2/domainnames",
            f"/v2/domainnames/{some}",
            "/v2/domainnames/ws.example.com/apimappings",
            "/_emulator/health",
            "/_emulator/config",
            "/_emulator/connections?apiId=" + some,
            "/_emulator/stats",
            "/_emulator/reset-stats",
            "/_emulator/virtual-connections",
            f"/_emulator/virtual-connections/{some}/messages",
            f"/_emulator/virtual-connections/{some}",
            f"/{api}/{stage}/@connections/{some}",
            f"/{api}/{stage}",
            f"/{some}",
            "/",
        ]
    ) + rng.choice(["", "?maxResults=1", "?maxResults=x", "?nextToken=-1", "?nextToken=999", "?a=%ZZ"])


def _fuzz_target(emu: EmulatorServer, backend: RecordingBackend) -> tuple[Any, dict[str, str]]:
    """A deployed API to aim at, and its ids by name (``{api}``, ``{route}``... in the targets)."""
    api = create_websocket_api(emu.url, backend.url("ws/"), client=emu.client("apigatewayv2"))
    ids = {
        "api": api.api_id,
        "route": api.routes["$default"],
        "integration": api.integrations["$default"],
        "stage": api.stage,
    }
    return api, ids


def _back_to_aws_behaviour(emu: EmulatorServer) -> None:
    # Injected faults and latency are 5xx and slowness by design: undo what a fuzzed config set.
    emu.configure(fail_429=0, fail_500=0, control_plane_fail=0, latency_ms=0, latency_max_ms=None)
    emu.configure(throttle_control_plane=False, idle_timeout=600, max_lifetime=7200)


def test_fuzzed_control_plane_and_admin_requests_never_get_a_5xx():
    rng = random.Random(20261201)
    answered: dict[int, int] = {}
    with RecordingBackend() as backend, EmulatorServer() as emu:
        api, ids = _fuzz_target(emu, backend)
        api_path = f"/v2/apis/{api.api_id}"
        protected = {
            api_path,
            f"{api_path}/routes/{ids['route']}",
            f"{api_path}/integrations/{ids['integration']}",
            f"{api_path}/stages/{ids['stage']}",
        }
        conn = http.client.HTTPConnection("127.0.0.1", emu.port, timeout=30)
        for _ in range(1500):
            if rng.random() < 0.5:
                method, path, body = _mutated(rng, ids)
            else:
                method = rng.choices(
                    ["GET", "POST", "PATCH", "DELETE", "PUT", "HEAD", "OPTIONS"], [5, 6, 4, 2, 1, 1, 1]
                )[0]
                path = _paths(rng, ids)
                if rng.random() < 0.15:
                    body = rng.choice([b"[" * 5000, b"\xff\xfe", b"{", b"1e400", b'{"a": NaN}'])
                else:
                    body = json.dumps(_value(rng)).encode()
            headers = {
                "Content-Type": rng.choices(
                    ["application/json", "text/plain", "application/x-amz-json-1.1"], [8, 1, 1]
                )[0]
            }
            if rng.random() < 0.9:
                headers = _signed_looking(headers, "apigateway" if path.startswith("/v2") else "execute-api")
            if rng.random() < 0.9:
                headers["X-Emulator-Admin-Token"] = emu.admin_token
            if rng.random() < 0.03:
                headers["Host"] = rng.choice(["evil.example", "", "[::1]:1", "a" * 300])
            if (path.startswith("/_emulator/reset") and method == "POST") or (
                method == "DELETE" and path.split("?")[0] in protected
            ):
                method = "GET"  # keep the resources the other requests aim at
            conn.request(method, path, body=body if method not in ("GET", "HEAD") else None, headers=headers)
            response = conn.getresponse()
            response.read()
            answered[response.status] = answered.get(response.status, 0) + 1
            assert response.status < 500, (method, path, headers, body[:200], response.status)
            if path.startswith("/_emulator/config"):
                _back_to_aws_behaviour(emu)
            if response.getheader("Connection", "").lower() == "close":
                conn.close()
                conn = http.client.HTTPConnection("127.0.0.1", emu.port, timeout=30)
        conn.close()
        # Whatever the requests stored must deploy and serve: deploy every stage of every API
        # left, then open a socket and call @connections on each (a bad stored value used to
        # surface only here, as a 500 on every handshake).
        client = emu.client("apigatewayv2", max_attempts=1)
        for item in client.get_apis()["Items"]:
            for stage in client.get_stages(ApiId=item["ApiId"])["Items"]:
                _assert_serves(emu, client, item["ApiId"], stage["StageName"])
        # The emulator still provisions and serves sockets after all that.
        fresh = create_websocket_api(emu.url, backend.url("ws/"), client=emu.client("apigatewayv2"))
        with connect(emu.ws_url(fresh.api_id, fresh.stage), open_timeout=5):
            backend.wait_for(lambda r: r.path == "/ws/connect")
    assert sum(answered.values()) == 1500
    assert len(answered) > 4  # the requests reached many different answers, not one gate


def _assert_serves(emu, client, api_id, stage):
    from botocore.exceptions import ClientError

    try:
        client.create_deployment(ApiId=api_id, StageName=stage)
    except ClientError as err:
        assert err.response["ResponseMetadata"]["HTTPStatusCode"] < 500
        return
    conn = http.client.HTTPConnection("127.0.0.1", emu.port, timeout=30)
    for path, headers in (
        (
            f"/{api_id}/{stage}",
            {
                "Upgrade": "websocket",
                "Connection": "Upgrade",
                "Sec-WebSocket-Version": "13",
                "Sec-WebSocket-Key": "dGhlIHNhbXBsZSBub25jZQ==",
            },
        ),
        (f"/{api_id}/{stage}/@connections/AAAAAAAAAAAAAAA%3D", _signed_looking({}, "execute-api")),
    ):
        conn.request("GET", path, headers=headers)
        response = conn.getresponse()
        if response.status == 101:  # an accepted socket: done with this connection
            break
        response.read()
        assert response.status < 500, (path, response.status)
    conn.close()


def test_every_control_plane_route_is_validated_by_botocores_model():
    from wsgateway.emulator import wire_model
    from wsgateway.emulator.server import Emulator

    app_routes = [
        (route.method, route.resource.canonical)
        for route in Emulator().build_app().router.routes()
        if route.resource is not None
        and route.resource.canonical.startswith("/v2")
        and route.method != "HEAD"
    ]
    assert app_routes
    unknown = [r for r in app_routes if wire_model.operation_for(*r) is None]
    assert unknown == []


@pytest.mark.parametrize(
    ("path_kind", "member", "value"),
    [
        ("routes", "requestModels", "str"),
        ("routes", "authorizationType", "MAYBE"),
        ("routes", "requestParameters", {"route.request.header.x": "yes"}),
        ("stages", "stageVariables", ["a"]),
        ("stages", "defaultRouteSettings", {"throttlingBurstLimit": "many"}),
        ("integrations", "timeoutInMillis", "1000"),
    ],
)
def test_wrong_typed_members_are_refused_not_echoed(emulator, ws_api, path_kind, member, value):
    client = emulator.client("apigatewayv2")
    item = {
        "routes": f"/v2/apis/{ws_api.api_id}/routes/{ws_api.routes['$default']}",
        "stages": f"/v2/apis/{ws_api.api_id}/stages/{ws_api.stage}",
        "integrations": f"/v2/apis/{ws_api.api_id}/integrations/{ws_api.integrations['$default']}",
    }[path_kind]
    conn = http.client.HTTPConnection("127.0.0.1", emulator.port, timeout=10)
    body = json.dumps({member: value}).encode()
    conn.request("PATCH", item, body=body, headers=_signed_looking({"Content-Type": "application/json"}))
    response = conn.getresponse()
    response.read()
    conn.close()
    assert response.status == 400
    # What boto3 (and the AWS CLI) parse afterwards is still the model's shape.
    client.get_routes(ApiId=ws_api.api_id)
    client.get_stages(ApiId=ws_api.api_id)
    client.get_integrations(ApiId=ws_api.api_id)


# Request shapes a well-behaved client never sends; each is a whole request on its own connection.
_METHODS = [b"GET", b"POST", b"PATCH", b"DELETE", b"PUT", b"get", b"PROPFIND", b"FOO", b"TRACE", b"OPTIONS"]
_CONTENT_TYPES = [
    None,
    b"application/json",
    b"application/json; charset=latin-1",
    b"text/plain",
    b"application/x-www-form-urlencoded",
    b"multipart/form-data; boundary=x",
    b"application/json\xff",
]
_ODD_BODIES = [
    b'{"name": ' + b"1" * 5000 + b"}",  # more digits than Python's int() accepts
    b"1" * 5000,
    b'{"name": "\\ud800", "protocolType": "WEBSOCKET", "routeSelectionExpression": "$request.body.a"}',
    b'{"\\udfff": 1}',
    b'{"timeoutInMillis": NaN, "count": -Infinity}',
    b'{"name": "a", "name": 5}',
    b'"x"',
    b"null",
    b"[" * 100000,
    b"\xef\xbb\xbf{}",
    '{"name": "x"}'.encode("utf-16"),
]


def _hostile_body(rng: random.Random, ids: dict[str, str]) -> bytes:
    roll = rng.random()
    if roll < 0.4:
        return _mutated(rng, ids)[2]
    if roll < 0.8:
        return rng.choice(_ODD_BODIES)
    return json.dumps(_value(rng)).encode()


def _hostile_request(rng: random.Random, ids: dict[str, str], token: str) -> bytes:
    method = rng.choice(_METHODS)
    path = _paths(rng, ids) if rng.random() < 0.7 else str(_fill(rng.choice(_TARGETS)[1], ids))
    roll = rng.random()
    if roll < 0.1:  # around AWS's 4,096-character URL limit and past aiohttp's request line limit
        path += ("&" if "?" in path else "?") + "q=" + "a" * rng.choice([3900, 4100, 9000])
    elif roll < 0.2:
        path = path.replace("/", rng.choice(["//", "/%2F", "/./"]), 1)
    elif roll < 0.25:
        path += rng.choice(["?maxResults=18446744073709551616", "?maxResults=-5", "?nextToken=" + "9" * 5000])
    headers = [b"Host: 127.0.0.1", b"Connection: close", b"X-Emulator-Admin-Token: " + token.encode()]
    if rng.random() < 0.8:
        signed = _signed_looking({}, "apigateway" if path.startswith("/v2") else "execute-api")
        headers += [f"{k}: {v}".encode() for k, v in signed.items()]
    content_type = rng.choice(_CONTENT_TYPES)
    if content_type is not None:
        headers.append(b"Content-Type: " + content_type)
    body = _hostile_body(rng, ids)
    encoding = rng.choices(["", "gzip", "gzip-garbage", "deflate-garbage", "chunked"], [6, 1, 1, 1, 1])[0]
    if encoding == "gzip":
        body = gzip.compress(body)
        headers.append(b"Content-Encoding: gzip")
    elif encoding.endswith("garbage"):
        headers.append(b"Content-Encoding: " + encoding.split("-")[0].encode())
    if encoding == "chunked":
        headers.append(b"Transfer-Encoding: chunked")
        body = b"%x\r\n%s\r\n0\r\n\r\n" % (len(body), body)
    else:
        headers.append(b"Content-Length: %d" % len(body))
    if rng.random() < 0.05:
        headers.append(b"X-Odd: \xff\xfe" + b"x" * rng.choice([10, 20000]))
    return method + b" " + path.encode() + b" HTTP/1.1\r\n" + b"\r\n".join(headers) + b"\r\n\r\n" + body


def _status_of(port: int, request: bytes) -> int:
    """Send one whole request; the status of the answer (0 when the server closes without one)."""
    with socket.create_connection(("127.0.0.1", port), timeout=30) as sock:
        sock.sendall(request)
        head = b""
        while b"\r\n" not in head:
            chunk = sock.recv(4096)
            if not chunk:
                return 0
            head += chunk
    return int(head.split(b" ", 2)[1])


def test_hostile_request_shapes_never_get_a_5xx():
    # Beyond the JSON members above: unknown and lower-case methods, URLs around and past the
    # length limits, bodies Python's json cannot turn into values, encodings that do not
    # decode, chunked bodies and odd content types, on every plane and the admin API.
    rng = random.Random(20261202)
    answered: dict[int, int] = {}
    with RecordingBackend() as backend, EmulatorServer() as emu:
        api, ids = _fuzz_target(emu, backend)
        for _ in range(600):
            request = _hostile_request(rng, ids, emu.admin_token)
            if b"/_emulator/reset" in request.split(b"\r\n", 1)[0] or request.startswith(b"DELETE /v2/apis"):
                continue  # keep the resources the other requests aim at
            status = _status_of(emu.port, request)
            answered[status] = answered.get(status, 0) + 1
            assert status < 500, (status, request[:300])
            if b"/_emulator/config" in request.split(b"\r\n", 1)[0]:
                _back_to_aws_behaviour(emu)
        _assert_serves(emu, emu.client("apigatewayv2", max_attempts=1), api.api_id, api.stage)
    assert sum(answered.values()) > 500
    assert len(answered) > 4, answered


def _mostly(rng: random.Random, valid: bytes | None, odd: list[bytes | None]) -> bytes | None:
    """The valid value 3 times in 4 (so that many handshakes get far), else an odd one."""
    return valid if rng.random() < 0.75 else rng.choice(odd)


def _hostile_handshake(rng: random.Random, path: str) -> bytes:
    method = rng.choices([b"GET", b"POST", b"HEAD", b"get"], [12, 1, 1, 1])[0]
    fields = {
        b"Upgrade": _mostly(rng, b"websocket", [b"WebSocket", b"websocket, h2c", b"h2c", b""]),
        b"Connection": _mostly(rng, b"Upgrade", [b"keep-alive, Upgrade", b"close", b"upgrade\xff"]),
        b"Sec-WebSocket-Key": _mostly(
            rng, b"dGhlIHNhbXBsZSBub25jZQ==", [b"", b"c2hvcnQ=", b"not base64!", b"\xff" * 24, None]
        ),
        b"Sec-WebSocket-Version": _mostly(rng, b"13", [b"8", b"99", b"", b"13, 8", None]),
        b"Sec-WebSocket-Protocol": _mostly(
            rng, None, [b"chat", b"a, b, c", b"", b",,,", b"\xff\xfe", b"x" * 9000]
        ),
        b"Sec-WebSocket-Extensions": _mostly(rng, None, [b"permessage-deflate", b"x; y=\xff", b";;"]),
        b"X-Forwarded-For": _mostly(rng, None, [b"1.2.3.4", b"", b"\xff", b"a" * 5000]),
    }
    headers = [b"Host: 127.0.0.1"] + [
        name + b": " + value for name, value in fields.items() if value is not None
    ]
    tail = b""
    if rng.random() < 0.1:
        headers.append(b"Content-Length: 5")
        tail = b"hello"
    query = rng.choices(["", "?token=abc", "?a=%ZZ&b=%ff", "?" + "q=" * 3000], [6, 2, 1, 1])[0]
    return (
        method
        + b" "
        + (path + query).encode()
        + b" HTTP/1.1\r\n"
        + b"\r\n".join(headers)
        + b"\r\n\r\n"
        + tail
    )


def test_hostile_handshakes_never_get_a_5xx_nor_leave_a_connection_behind():
    rng = random.Random(20261203)
    answered: dict[int, int] = {}
    with RecordingBackend() as backend, EmulatorServer() as emu:
        api = create_websocket_api(
            emu.url,
            backend.url("ws/"),
            client=emu.client("apigatewayv2"),
            extra_parameters={
                "integration.request.header.X-Proto": "route.request.header.Sec-WebSocket-Protocol",
                "integration.request.querystring.t": "route.request.querystring.token",
            },
        )
        for _ in range(300):
            status = _status_of(emu.port, _hostile_handshake(rng, f"/{api.api_id}/{api.stage}"))
            answered[status] = answered.get(status, 0) + 1
            assert status < 500, status
        # Every accepted $connect ends with a $disconnect; nothing stays CONNECTING or CONNECTED.
        waiting.wait_until(lambda: emu.admin("connections")["items"] == [], 30, "every socket to be gone")
        waiting.wait_until(
            lambda: len(backend.by_path("/ws/disconnect")) == len(backend.by_path("/ws/connect")),
            30,
            "a $disconnect for every accepted $connect",
        )
    assert answered.get(101, 0) > 10 and len(answered) > 3, answered
