"""The emulator checked by clients nobody here wrote: boto3, the AWS CLI and the JavaScript SDK v3.

Each scenario runs once per client through one small interface (``call(service, endpoint,
operation, params)`` → output dict, or the AWS error code). The AWS CLI comes from the ``dev``
extra (``python -m awscli``); the JavaScript SDK is installed from npm into
``test-artifacts/aws-sdk-js`` (git-ignored) the first time, so CI needs no manual step.
"""

from __future__ import annotations

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

    def __init__(self, ca_bundle: str | None = None, unsigned: bool = False) -> None:
        assert not unsigned, "the JavaScript SDK always signs"
        self.ca_bundle = ca_bundle

    def call(self, service: str, endpoint: str, operation: str, params: dict[str, Any]) -> dict[str, Any]:
        plan = {
            "region": REGION,
            "accessKeyId": EMULATOR_ACCESS_KEY,
            "secretAccessKey": EMULATOR_SECRET_KEY,
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


def _provision(client: Any, url: str, target: str) -> tuple[str, str]:
    """The chain wsgateway's provisioning runs; returns (api id, stage)."""
    api = client.call(
        "apigatewayv2",
        url,
        "CreateApi",
        {"Name": "fidelity", "ProtocolType": "WEBSOCKET", "RouteSelectionExpression": "$request.body.action"},
    )
    api_id = api["ApiId"]
    assert api["ApiEndpoint"].endswith(f"/{api_id}")
    for route_key in ("$connect", "$disconnect", "$default"):
        integration = client.call(
            "apigatewayv2",
            url,
            "CreateIntegration",
            {
                "ApiId": api_id,
                "IntegrationType": "HTTP_PROXY",
                "IntegrationMethod": "POST",
                "IntegrationUri": f"{target}{route_key.lstrip('$')}",
                "RequestParameters": {"integration.request.header.connectionId": "context.connectionId"},
            },
        )
        assert integration["IntegrationResponseSelectionExpression"] == "${integration.response.statuscode}"
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
