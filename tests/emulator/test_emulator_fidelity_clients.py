"""The emulator checked by clients nobody here wrote: boto3, the AWS CLI and the JavaScript SDK v3.

Each scenario runs once per client through one small interface (``call(service, endpoint,
operation, params)`` → output dict, or the AWS error code). The AWS CLI comes from the ``dev``
extra (``python -m awscli``); the JavaScript SDK is installed from npm into
``test-artifacts/aws-sdk-js`` (git-ignored) the first time, so CI needs no manual step.
"""

from __future__ import annotations

import http.client
import json
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from websockets.sync.client import connect

from tests.emulator.test_emulator_aws_behaviours import _connect_raw
from tests.emulator.test_emulator_robustness import _signed_looking
from wsgateway.emulator.testing import (
    EMULATOR_ACCESS_KEY,
    EMULATOR_SECRET_KEY,
    boto3_client,
    create_websocket_api,
)

pytestmark = pytest.mark.timeout(300)

ROOT = Path(__file__).resolve().parents[2]
JS_DIR = ROOT / "test-artifacts" / "aws-sdk-js"
JS_PACKAGES = ("@aws-sdk/client-apigatewayv2@^3", "@aws-sdk/client-apigatewaymanagementapi@^3")
DRIVER = Path(__file__).with_name("js") / "aws_sdk_driver.mjs"
REGION = "us-east-1"


class Failed(Exception):
    """An AWS error answer, by code (``GoneException``...)."""

    def __init__(self, code: str) -> None:
        super().__init__(code)
        self.code = code


def _env(ca_bundle: str | None) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("AWS_")}
    env.update(
        AWS_ACCESS_KEY_ID=EMULATOR_ACCESS_KEY,
        AWS_SECRET_ACCESS_KEY=EMULATOR_SECRET_KEY,
        AWS_DEFAULT_REGION=REGION,
        AWS_CONFIG_FILE=os.devnull,
        AWS_SHARED_CREDENTIALS_FILE=os.devnull,
        AWS_MAX_ATTEMPTS="1",
    )
    if ca_bundle:
        env["NODE_EXTRA_CA_CERTS"] = ca_bundle  # the JavaScript SDK's (node's) way
    return env


class Boto3:
    name = "boto3"

    def __init__(self, ca_bundle: str | None = None, unsigned: bool = False) -> None:
        self.ca_bundle, self.unsigned = ca_bundle, unsigned

    def call(self, service: str, endpoint: str, operation: str, params: dict[str, Any]) -> dict[str, Any]:
        client = boto3_client(service, endpoint, max_attempts=1, verify=self.ca_bundle)
        if self.unsigned:
            import boto3
            from botocore import UNSIGNED
            from botocore.config import Config

            client = boto3.client(
                service, endpoint_url=endpoint, region_name=REGION, config=Config(signature_version=UNSIGNED)
            )
        snake = re.sub(r"(?<!^)(?=[A-Z])", "_", operation).lower()
        try:
            out = getattr(client, snake)(**params)
        except client.exceptions.ClientError as err:
            raise Failed(err.response["Error"]["Code"]) from None
        except Exception as err:  # SSL errors and the like: not an AWS answer
            raise Failed(type(err).__name__) from None
        out.pop("ResponseMetadata", None)
        return dict(out)


class AwsCli:
    name = "aws-cli"

    def __init__(self, ca_bundle: str | None = None, unsigned: bool = False) -> None:
        self.ca_bundle, self.unsigned = ca_bundle, unsigned

    def call(self, service: str, endpoint: str, operation: str, params: dict[str, Any]) -> dict[str, Any]:
        kebab = re.sub(r"(?<!^)(?=[A-Z])", "-", operation).lower()
        command = [
            sys.executable,
            "-m",
            "awscli",
            service,
            kebab,
            "--endpoint-url",
            endpoint,
            "--output",
            "json",
        ]
        if params:
            command += ["--cli-input-json", json.dumps(params)]
        if self.ca_bundle:
            command += ["--ca-bundle", self.ca_bundle]
        if self.unsigned:
            command.append("--no-sign-request")
        result = subprocess.run(
            command, capture_output=True, text=True, timeout=60, env=_env(None), check=False
        )
        if result.returncode != 0:
            match = re.search(r"An error occurred \((\w+)\)", result.stderr)
            raise Failed(
                match.group(1) if match else ("SSLError" if "SSL" in result.stderr else result.stderr)
            )
        return json.loads(result.stdout) if result.stdout.strip() else {}


class JavaScriptSdk:
    name = "js-sdk-v3"

    def __init__(self, ca_bundle: str | None = None, unsigned: bool = False, clock_offset: int = 0) -> None:
        assert not unsigned, "the JavaScript SDK always signs"
        self.ca_bundle = ca_bundle
        self.clock_offset = clock_offset  # seconds the SDK's clock is off (signatures dated then)

    def call(self, service: str, endpoint: str, operation: str, params: dict[str, Any]) -> dict[str, Any]:
        plan = {
            "region": REGION,
            "accessKeyId": EMULATOR_ACCESS_KEY,
            "secretAccessKey": EMULATOR_SECRET_KEY,
            "clockOffsetSeconds": self.clock_offset,
            "steps": [
                {"client": service, "endpoint": endpoint, "command": f"{operation}Command", "input": params}
            ],
        }
        result = subprocess.run(
            ["node", str(JS_DIR / DRIVER.name)],
            input=json.dumps(plan),
            capture_output=True,
            text=True,
            timeout=60,
            env=_env(self.ca_bundle),
            cwd=JS_DIR,
            check=False,
        )
        assert result.returncode == 0, result.stderr
        (answer,) = json.loads(result.stdout)
        if "error" in answer:
            code = answer["error"]
            if "certificate" in answer.get("message", "") or code in ("UNABLE_TO_VERIFY_LEAF_SIGNATURE",):
                code = "SSLError"
            raise Failed(code)
        return dict(answer["ok"])


@pytest.fixture(scope="session")
def js_sdk() -> type[JavaScriptSdk]:
    """Install the two SDK clients from npm once (kept in test-artifacts/, git-ignored)."""
    if not (JS_DIR / "node_modules" / "@aws-sdk" / "client-apigatewaymanagementapi").is_dir():
        JS_DIR.mkdir(parents=True, exist_ok=True)
        npm = shutil.which("npm")
        assert npm, "node and npm are needed for the JavaScript SDK checks"
        subprocess.run(
            [npm, "install", "--prefix", str(JS_DIR), "--no-audit", "--no-fund", "--silent", *JS_PACKAGES],
            check=True,
            timeout=240,
        )
    shutil.copyfile(DRIVER, JS_DIR / DRIVER.name)  # bare imports resolve from the script's folder
    return JavaScriptSdk


@pytest.fixture(params=["boto3", "aws-cli", "js-sdk-v3"])
def sdk(request) -> type:
    """Each client in turn."""
    if request.param == "js-sdk-v3":
        return request.getfixturevalue("js_sdk")
    return {"boto3": Boto3, "aws-cli": AwsCli}[request.param]


CONNECTION_ID_HEADER = {"integration.request.header.connectionId": "context.connectionId"}


def _deploy_api(
    client: Any,
    url: str,
    target: str,
    *,
    selection: str = "$request.body.action",
    routes: tuple[str, ...] = ("$connect", "$disconnect", "$default"),
    parameters: dict[str, dict[str, str]] | None = None,
) -> str:
    """CreateApi, one HTTP_PROXY integration and route per route key, stage "live", deployment.

    ``parameters`` maps a route key to its integration's RequestParameters (default: the
    connection id header, as wsgateway provisions). Returns the API id.
    """
    api = client.call(
        "apigatewayv2",
        url,
        "CreateApi",
        {"Name": "fidelity", "ProtocolType": "WEBSOCKET", "RouteSelectionExpression": selection},
    )
    api_id = api["ApiId"]
    assert api["ApiEndpoint"].endswith(f"/{api_id}")
    for route_key in routes:
        mapped = (parameters or {}).get(route_key, CONNECTION_ID_HEADER)
        integration = client.call(
            "apigatewayv2",
            url,
            "CreateIntegration",
            {
                "ApiId": api_id,
                "IntegrationType": "HTTP_PROXY",
                "IntegrationMethod": "POST",
                "IntegrationUri": f"{target}{route_key.lstrip('$')}",
                "RequestParameters": mapped,
            },
        )
        assert integration["IntegrationResponseSelectionExpression"] == "${integration.response.statuscode}"
        assert integration.get("RequestParameters", {}) == mapped
        client.call(
            "apigatewayv2",
            url,
            "CreateRoute",
            {
                "ApiId": api_id,
                "RouteKey": route_key,
                "Target": f"integrations/{integration['IntegrationId']}",
            },
        )
    client.call("apigatewayv2", url, "CreateStage", {"ApiId": api_id, "StageName": "live"})
    client.call("apigatewayv2", url, "CreateDeployment", {"ApiId": api_id, "StageName": "live"})
    return api_id


def _provision(client: Any, url: str, target: str) -> tuple[str, str]:
    """The chain wsgateway's provisioning runs; returns (api id, stage)."""
    api_id = _deploy_api(client, url, target)
    routes = client.call("apigatewayv2", url, "GetRoutes", {"ApiId": api_id})["Items"]
    assert sorted(r["RouteKey"] for r in routes) == ["$connect", "$default", "$disconnect"]
    stages = client.call("apigatewayv2", url, "GetStages", {"ApiId": api_id})["Items"]
    assert [s["StageName"] for s in stages] == ["live"] and stages[0]["DeploymentId"]
    return api_id, "live"


def test_provision_connect_and_post_to_connection(sdk, emulator, recording_backend):
    client = sdk()
    api_id, stage = _provision(client, emulator.url, recording_backend.url("ws/"))
    management = emulator.management_url(api_id, stage)
    with connect(emulator.ws_url(api_id, stage), open_timeout=5) as ws:
        connection_id = recording_backend.wait_for(lambda r: r.path == "/ws/connect").header("connectionId")
        client.call(
            "apigatewaymanagementapi",
            management,
            "PostToConnection",
            {"ConnectionId": connection_id, "Data": "hi"},
        )
        assert ws.recv(timeout=10) == "hi"
        info = client.call(
            "apigatewaymanagementapi", management, "GetConnection", {"ConnectionId": connection_id}
        )
        assert info["Identity"]["SourceIp"] == "127.0.0.1" and info["ConnectedAt"]
        client.call(
            "apigatewaymanagementapi", management, "DeleteConnection", {"ConnectionId": connection_id}
        )
        recording_backend.wait_for(lambda r: r.path == "/ws/disconnect")
    with pytest.raises(Failed) as gone:
        client.call(
            "apigatewaymanagementapi",
            management,
            "PostToConnection",
            {"ConnectionId": connection_id, "Data": "x"},
        )
    assert gone.value.code == "GoneException"
    with pytest.raises(Failed) as missing:
        client.call("apigatewayv2", emulator.url, "GetApi", {"ApiId": "nope"})
    assert missing.value.code == "NotFoundException"


def test_authorizers_models_and_tags(sdk, emulator, recording_backend):
    client = sdk()
    api_id = create_websocket_api(emulator.url, recording_backend.url("ws/")).api_id  # provisioned above
    url = emulator.url
    function = "arn:aws:lambda:us-east-1:123456789012:function:auth"
    uri = f"arn:aws:apigateway:us-east-1:lambda:path/2015-03-31/functions/{function}/invocations"
    auth = client.call(
        "apigatewayv2",
        url,
        "CreateAuthorizer",
        {
            "ApiId": api_id,
            "AuthorizerType": "REQUEST",
            "Name": "a",
            "AuthorizerUri": uri,
            "IdentitySource": ["route.request.querystring.token"],
        },
    )
    assert (
        client.call("apigatewayv2", url, "GetAuthorizers", {"ApiId": api_id})["Items"][0]["AuthorizerId"]
        == auth["AuthorizerId"]
    )
    model = client.call("apigatewayv2", url, "CreateModel", {"ApiId": api_id, "Name": "M", "Schema": "{}"})
    assert (
        client.call("apigatewayv2", url, "GetModel", {"ApiId": api_id, "ModelId": model["ModelId"]})["Name"]
        == "M"
    )
    arn = f"arn:aws:apigateway:us-east-1::/apis/{api_id}"
    client.call("apigatewayv2", url, "TagResource", {"ResourceArn": arn, "Tags": {"k": "v"}})
    assert client.call("apigatewayv2", url, "GetTags", {"ResourceArn": arn})["Tags"] == {"k": "v"}
    client.call("apigatewayv2", url, "UntagResource", {"ResourceArn": arn, "TagKeys": ["k"]})
    assert client.call("apigatewayv2", url, "GetTags", {"ResourceArn": arn})["Tags"] == {}


@pytest.mark.parametrize("client_class", [Boto3, AwsCli])
def test_unsigned_requests_get_missing_authentication_token(client_class, emulator):
    with pytest.raises(Failed) as refused:
        client_class(unsigned=True).call("apigatewayv2", emulator.url, "GetApis", {})
    assert refused.value.code == "MissingAuthenticationTokenException"


def test_https_with_the_local_ca_and_refused_without(sdk, emulator_tls, recording_backend):
    ca = emulator_tls.tls_files.ca
    api = sdk(ca_bundle=ca).call(
        "apigatewayv2",
        emulator_tls.url,
        "CreateApi",
        {"Name": "tls", "ProtocolType": "WEBSOCKET", "RouteSelectionExpression": "$request.body.action"},
    )
    assert api["ApiEndpoint"] == f"wss://127.0.0.1:{emulator_tls.port}/{api['ApiId']}"
    created = emulator_tls.admin("virtual-connections", {"count": 1})
    connection_id = created["connectionIds"][0]
    sdk(ca_bundle=ca).call(
        "apigatewaymanagementapi",
        created["managementEndpoint"],
        "PostToConnection",
        {"ConnectionId": connection_id, "Data": "tls"},
    )
    assert emulator_tls.admin(f"virtual-connections/{connection_id}/messages")["count"] == 1
    with pytest.raises(Failed) as untrusted:
        sdk().call("apigatewayv2", emulator_tls.url, "GetApis", {})
    assert untrusted.value.code == "SSLError"


# ----------------------------------------------------------------- issue 13's items, by each client


def test_3_4_multi_variable_selection_and_body_mapping_sources(sdk, emulator, recording_backend):
    mapped = {
        **CONNECTION_ID_HEADER,
        "integration.request.header.X-Action": "route.request.body.action",
        "integration.request.querystring.tags": "route.request.multivaluequerystring.tag",
        "integration.request.header.X-Tags": "route.request.multivalueheader.X-Tag",
    }
    api_id = _deploy_api(
        sdk(),
        emulator.url,
        recording_backend.url("ws/"),
        selection="${request.body.service}/${request.body.action}",
        routes=("$connect", "$default", "chat/send"),
        parameters={"chat/send": mapped},
    )
    with connect(
        emulator.ws_url(api_id, "live") + "?tag=a&tag=b",
        additional_headers=[("X-Tag", "x"), ("X-Tag", "y")],
        open_timeout=10,
    ) as ws:
        ws.send('{"service": "chat", "action": "send"}')
        ws.send('{"service": "chat"}')  # a variable missing: $default
        request = recording_backend.wait_for(lambda r: r.path == "/ws/chat/send")
        recording_backend.wait_for(lambda r: r.path == "/ws/default")
    assert request.header("X-Action") == "send"
    assert request.query_string == "tags=a%2Cb"  # the values joined, then URL-encoded
    assert request.header("X-Tags") == "x,y"


def test_5_wrong_typed_members_are_refused_and_every_client_still_parses(sdk, emulator, ws_api):
    routes = f"/v2/apis/{ws_api.api_id}/routes/{ws_api.routes['$default']}"
    stages = f"/v2/apis/{ws_api.api_id}/stages/{ws_api.stage}"
    for path, member, value in ((routes, "requestModels", "str"), (stages, "stageVariables", ["a"])):
        conn = http.client.HTTPConnection("127.0.0.1", emulator.port, timeout=10)
        conn.request(
            "PATCH",
            path,
            body=json.dumps({member: value}).encode(),
            headers=_signed_looking({"Content-Type": "application/json"}),
        )
        assert conn.getresponse().status == 400
        conn.close()
    client = sdk()
    for operation in ("GetRoutes", "GetStages", "GetIntegrations"):
        assert client.call("apigatewayv2", emulator.url, operation, {"ApiId": ws_api.api_id})["Items"]


def test_1_7_large_posts_come_in_32_kib_frames_and_a_full_client_buffer_is_a_429(
    sdk, emulator, recording_backend, ws_api
):
    client = sdk()
    management = emulator.management_url(ws_api.api_id, ws_api.stage)
    reader, connection_id = _connect_raw(emulator, ws_api, recording_backend)
    try:
        data = ("0123456789abcdef" * 6400)[: 100 * 1024]
        client.call(
            "apigatewaymanagementapi",
            management,
            "PostToConnection",
            {"ConnectionId": connection_id, "Data": data},
        )
        frames = [reader.frame()]
        while not frames[-1][0]:
            frames.append(reader.frame())
    finally:
        reader.close()
    assert [len(f[2]) for f in frames] == [32768, 32768, 32768, 4096]
    assert b"".join(f[2] for f in frames) == data.encode()

    # A client that stops reading: boto3 fills its buffer fast, then each client meets the 429.
    emulator.configure(send_buffer_limit=64 * 1024)
    recording_backend.requests.clear()
    stalled, stalled_id = _connect_raw(emulator, ws_api, recording_backend, rcvbuf=4096)
    filler = emulator.client("apigatewaymanagementapi", management, max_attempts=1)
    try:
        for _ in range(300):  # bounded: 300 x 64 KiB is far beyond any socket buffer
            try:
                filler.post_to_connection(ConnectionId=stalled_id, Data=b"x" * 65536)
            except filler.exceptions.LimitExceededException:
                break
        else:
            raise AssertionError("the stalled client's buffer never filled")
        with pytest.raises(Failed) as full:
            client.call(
                "apigatewaymanagementapi",
                management,
                "PostToConnection",
                {"ConnectionId": stalled_id, "Data": "x"},
            )
    finally:
        stalled.close()
    assert full.value.code == "LimitExceededException"


def test_11_a_url_over_4096_characters_and_a_domain_named_like_an_address(sdk, emulator, ws_api):
    client = sdk()
    management = emulator.management_url(ws_api.api_id, ws_api.stage)
    with pytest.raises(Failed) as too_long:
        client.call("apigatewaymanagementapi", management, "GetConnection", {"ConnectionId": "A" * 4100})
    assert too_long.value.code == "RequestUriTooLongException"
    with pytest.raises(Failed) as address:
        client.call(
            "apigatewayv2",
            emulator.url,
            "CreateDomainName",
            {
                "DomainName": "127.0.0.1",
                "DomainNameConfigurations": [
                    {"CertificateArn": "arn:aws:acm:us-east-1:123456789012:certificate/x"}
                ],
            },
        )
    assert address.value.code == "BadRequestException"


def test_8_a_signature_dated_an_hour_off_is_refused_by_the_javascript_sdk(js_sdk, emulator):
    # The JavaScript SDK signs with a skewed clock when told (systemClockOffset); boto3's aged
    # signatures are in test_emulator_aws_behaviours.py. A few minutes off is still accepted.
    assert js_sdk(clock_offset=-120).call("apigatewayv2", emulator.url, "GetApis", {}) == {"Items": []}
    for offset in (-3600, 3600):
        with pytest.raises(Failed) as refused:
            js_sdk(clock_offset=offset).call("apigatewayv2", emulator.url, "GetApis", {})
        assert refused.value.code == "InvalidSignatureException"
