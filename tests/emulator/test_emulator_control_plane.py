"""The apigatewayv2 control plane through boto3 with only ``endpoint_url`` changed."""

# ruff: noqa: S310  (urllib talks to the local emulator over http on purpose)

from __future__ import annotations

import datetime as dt
import json
import urllib.error
import urllib.request

import pytest

from wsgateway.emulator import EmulatorConfig, EmulatorServer
from wsgateway.emulator.testing import boto3_client, signed_headers

pytestmark = pytest.mark.timeout(60)  # a hang guard, generous for loaded machines

CERT = "arn:aws:acm:us-east-1:123456789012:certificate/abcd-1234"


def _ws_api(apigw, **extra):
    return apigw.create_api(
        Name="chat", ProtocolType="WEBSOCKET", RouteSelectionExpression="$request.body.action", **extra
    )


def test_full_create_chain(emulator, apigw):
    api = _ws_api(
        apigw,
        Description="d",
        ApiKeySelectionExpression="$request.header.x-api-key",
        DisableSchemaValidation=True,
        Tags={"app": "wsgateway"},
    )
    api_id = api["ApiId"]
    assert len(api_id) == 10 and api_id.isalnum() and api_id.lower() == api_id
    assert api["ApiEndpoint"] == f"ws://127.0.0.1:{emulator.port}/{api_id}"
    assert api["ProtocolType"] == "WEBSOCKET"
    assert api["RouteSelectionExpression"] == "$request.body.action"
    assert api["DisableSchemaValidation"] is True
    assert api["Tags"] == {"app": "wsgateway"}
    assert isinstance(api["CreatedDate"], dt.datetime)

    integration = apigw.create_integration(
        ApiId=api_id,
        IntegrationType="HTTP_PROXY",
        IntegrationMethod="POST",
        IntegrationUri="https://example.com/ws/connect",
        RequestParameters={
            "integration.request.header.connectionId": "context.connectionId",
            "integration.request.header.X-Ws-Gateway-Secret": "'s3cret'",
            "integration.request.querystring.ip": "context.identity.sourceIp",
            "integration.request.header.X-Token": "route.request.querystring.token",
        },
        TimeoutInMillis=5000,
    )
    assert len(integration["IntegrationId"]) == 7
    assert integration["TimeoutInMillis"] == 5000
    assert integration["PayloadFormatVersion"] == "1.0"
    assert integration["ConnectionType"] == "INTERNET"
    assert integration["PassthroughBehavior"] == "WHEN_NO_MATCH"

    route = apigw.create_route(
        ApiId=api_id, RouteKey="$connect", Target=f"integrations/{integration['IntegrationId']}"
    )
    assert len(route["RouteId"]) == 7 and route["AuthorizationType"] == "NONE"
    response = apigw.create_route_response(
        ApiId=api_id, RouteId=route["RouteId"], RouteResponseKey="$default"
    )
    assert response["RouteResponseKey"] == "$default"

    stage = apigw.create_stage(ApiId=api_id, StageName="prod")
    assert "DeploymentId" not in stage
    deployment = apigw.create_deployment(ApiId=api_id, StageName="prod")
    assert deployment["DeploymentStatus"] == "DEPLOYED"
    assert apigw.get_stage(ApiId=api_id, StageName="prod")["DeploymentId"] == deployment["DeploymentId"]

    domain = apigw.create_domain_name(
        DomainName="ws.example.com",
        DomainNameConfigurations=[
            {"CertificateArn": CERT, "EndpointType": "REGIONAL", "SecurityPolicy": "TLS_1_2"}
        ],
    )
    config = domain["DomainNameConfigurations"][0]
    assert config["ApiGatewayDomainName"].startswith("d-")
    assert config["ApiGatewayDomainName"].endswith(".execute-api.us-east-1.amazonaws.com")
    assert config["HostedZoneId"] == "Z1UJRXOUMOOFQ8"
    assert config["DomainNameStatus"] == "AVAILABLE"
    mapping = apigw.create_api_mapping(
        DomainName="ws.example.com", ApiId=api_id, Stage="prod", ApiMappingKey="v1"
    )
    assert mapping["ApiMappingKey"] == "v1"

    # Get/Update round trips.
    assert apigw.get_api(ApiId=api_id)["Name"] == "chat"
    assert apigw.update_api(ApiId=api_id, Name="chat2")["Name"] == "chat2"
    assert apigw.get_integration(ApiId=api_id, IntegrationId=integration["IntegrationId"])[
        "IntegrationUri"
    ] == ("https://example.com/ws/connect")
    updated = apigw.update_integration(
        ApiId=api_id, IntegrationId=integration["IntegrationId"], TimeoutInMillis=100
    )
    assert updated["TimeoutInMillis"] == 100 and updated["IntegrationType"] == "HTTP_PROXY"
    assert apigw.get_route(ApiId=api_id, RouteId=route["RouteId"])["RouteKey"] == "$connect"
    assert apigw.get_deployment(ApiId=api_id, DeploymentId=deployment["DeploymentId"])["DeploymentId"]
    assert apigw.get_domain_name(DomainName="ws.example.com")["DomainName"] == "ws.example.com"
    assert (
        apigw.get_api_mapping(DomainName="ws.example.com", ApiMappingId=mapping["ApiMappingId"])["Stage"]
        == "prod"
    )

    # Deletes.
    apigw.delete_api_mapping(DomainName="ws.example.com", ApiMappingId=mapping["ApiMappingId"])
    apigw.delete_domain_name(DomainName="ws.example.com")
    apigw.delete_stage(ApiId=api_id, StageName="prod")
    apigw.delete_deployment(ApiId=api_id, DeploymentId=deployment["DeploymentId"])
    apigw.delete_route(ApiId=api_id, RouteId=route["RouteId"])
    apigw.delete_integration(ApiId=api_id, IntegrationId=integration["IntegrationId"])
    apigw.delete_api(ApiId=api_id)
    assert apigw.get_apis()["Items"] == []


def test_region_comes_from_the_signature(emulator):
    client = boto3_client("apigatewayv2", emulator.url, region="eu-west-1")
    domain = client.create_domain_name(
        DomainName="eu.example.com",
        DomainNameConfigurations=[{"CertificateArn": CERT.replace("us-east-1", "eu-west-1")}],
    )
    config = domain["DomainNameConfigurations"][0]
    assert config["ApiGatewayDomainName"].endswith(".execute-api.eu-west-1.amazonaws.com")
    assert config["HostedZoneId"] == "ZLY8HYME6SFDD"
    with pytest.raises(client.exceptions.BadRequestException):
        client.create_domain_name(
            DomainName="x.example.com", DomainNameConfigurations=[{"CertificateArn": CERT}]
        )


def test_list_pagination(apigw):
    created = {_ws_api(apigw)["ApiId"] for _ in range(5)}
    page = apigw.get_apis(MaxResults="2")
    assert len(page["Items"]) == 2 and page["NextToken"]
    seen = [item["ApiId"] for item in page["Items"]]
    while "NextToken" in page:
        page = apigw.get_apis(MaxResults="2", NextToken=page["NextToken"])
        seen += [item["ApiId"] for item in page["Items"]]
    assert sorted(seen) == sorted(created)

    api_id = seen[0]
    for n in range(3):
        apigw.create_route(ApiId=api_id, RouteKey=f"r{n}")
    routes = apigw.get_routes(ApiId=api_id, MaxResults="2")
    assert len(routes["Items"]) == 2
    rest = apigw.get_routes(ApiId=api_id, MaxResults="2", NextToken=routes["NextToken"])
    assert len(rest["Items"]) == 1 and "NextToken" not in rest
    with pytest.raises(apigw.exceptions.BadRequestException):
        apigw.get_apis(NextToken="garbage")


def test_websocket_rejects_http_only_members(apigw):
    with pytest.raises(apigw.exceptions.BadRequestException):
        _ws_api(apigw, RouteKey="$default")
    with pytest.raises(apigw.exceptions.BadRequestException):
        _ws_api(apigw, Target="https://example.com")
    with pytest.raises(apigw.exceptions.BadRequestException) as err:
        apigw.create_api(Name="x", ProtocolType="WEBSOCKET")
    assert "RouteSelectionExpression" in err.value.response["Error"]["Message"]


def test_not_found_errors(apigw):
    with pytest.raises(apigw.exceptions.NotFoundException) as err:
        apigw.get_api(ApiId="nope")
    assert err.value.response["ResponseMetadata"]["HTTPStatusCode"] == 404
    api_id = _ws_api(apigw)["ApiId"]
    for call, kwargs in [
        (apigw.get_integration, {"IntegrationId": "zzzzzzz"}),
        (apigw.get_route, {"RouteId": "zzzzzzz"}),
        (apigw.get_stage, {"StageName": "nope"}),
        (apigw.get_deployment, {"DeploymentId": "zzzzzzz"}),
        (apigw.delete_route, {"RouteId": "zzzzzzz"}),
    ]:
        with pytest.raises(apigw.exceptions.NotFoundException):
            call(ApiId=api_id, **kwargs)
    with pytest.raises(apigw.exceptions.NotFoundException):
        apigw.get_domain_name(DomainName="nope.example.com")
    with pytest.raises(apigw.exceptions.NotFoundException):
        apigw.create_api_mapping(DomainName="nope.example.com", ApiId=api_id, Stage="x")


def test_conflicts(apigw):
    api_id = _ws_api(apigw)["ApiId"]
    apigw.create_route(ApiId=api_id, RouteKey="$default")
    with pytest.raises(apigw.exceptions.ConflictException) as err:
        apigw.create_route(ApiId=api_id, RouteKey="$default")
    assert err.value.response["ResponseMetadata"]["HTTPStatusCode"] == 409
    apigw.create_stage(ApiId=api_id, StageName="prod")
    with pytest.raises(apigw.exceptions.ConflictException):
        apigw.create_stage(ApiId=api_id, StageName="prod")
    apigw.create_domain_name(DomainName="a.example.com", DomainNameConfigurations=[{"CertificateArn": CERT}])
    with pytest.raises(apigw.exceptions.ConflictException):
        apigw.create_domain_name(
            DomainName="a.example.com", DomainNameConfigurations=[{"CertificateArn": CERT}]
        )
    apigw.create_api_mapping(DomainName="a.example.com", ApiId=api_id, Stage="prod", ApiMappingKey="k")
    with pytest.raises(apigw.exceptions.ConflictException):
        apigw.create_api_mapping(DomainName="a.example.com", ApiId=api_id, Stage="prod", ApiMappingKey="k")


@pytest.mark.parametrize(
    "kwargs",
    [
        {"TimeoutInMillis": 29001},
        {"IntegrationType": "SOAP"},
        {"IntegrationUri": "ftp://example.com/"},
        {"RequestParameters": {"integration.request.header.X": "context.nope"}},
        {"RequestParameters": {"integration.request.header.X": "unquoted"}},
        {"RequestParameters": {"integration.request.body.X": "context.connectionId"}},
        {"PayloadFormatVersion": "2.0"},
    ],
)
def test_integration_validation(apigw, kwargs):
    api_id = _ws_api(apigw)["ApiId"]
    args = {
        "ApiId": api_id,
        "IntegrationType": "HTTP_PROXY",
        "IntegrationMethod": "POST",
        "IntegrationUri": "http://example.com/",
    }
    args.update(kwargs)
    with pytest.raises(apigw.exceptions.BadRequestException):
        apigw.create_integration(**args)


def test_integration_timeout_below_50ms_is_rejected_by_the_server(emulator, apigw):
    # botocore refuses 49 before sending; the server must refuse it too (other SDKs do send it).
    api_id = _ws_api(apigw)["ApiId"]
    body = {"integrationType": "HTTP_PROXY", "integrationMethod": "POST", "integrationUri": "http://e.com/"}
    raw = _signed(
        f"{emulator.url}/v2/apis/{api_id}/integrations", json.dumps(dict(body, timeoutInMillis=49)).encode()
    )
    with pytest.raises(urllib.error.HTTPError) as err:
        urllib.request.urlopen(raw, timeout=5)
    assert err.value.code == 400
    assert err.value.headers["x-amzn-ErrorType"] == "BadRequestException"
    assert "message" in json.loads(err.value.read())


def test_route_and_deployment_validation(apigw):
    api_id = _ws_api(apigw)["ApiId"]
    with pytest.raises(apigw.exceptions.BadRequestException):
        apigw.create_route(ApiId=api_id, RouteKey="$default", Target="integrations/missing")
    with pytest.raises(apigw.exceptions.BadRequestException):
        apigw.create_route(ApiId=api_id, RouteKey="$bogus")
    with pytest.raises(apigw.exceptions.BadRequestException):
        apigw.create_deployment(ApiId=api_id)  # no routes yet
    apigw.create_route(ApiId=api_id, RouteKey="$default")
    with pytest.raises(apigw.exceptions.BadRequestException):
        apigw.create_deployment(ApiId=api_id, StageName="missing")
    deployment = apigw.create_deployment(ApiId=api_id)["DeploymentId"]
    with pytest.raises(apigw.exceptions.NotFoundException):
        apigw.create_stage(ApiId=api_id, StageName="s", DeploymentId="zzzzzzz")
    apigw.create_stage(ApiId=api_id, StageName="s", DeploymentId=deployment)
    with pytest.raises(apigw.exceptions.BadRequestException):
        apigw.delete_deployment(ApiId=api_id, DeploymentId=deployment)


def test_throttling_emulation():
    with EmulatorServer(EmulatorConfig(port=0, throttle_control_plane=True)) as emu:
        client = boto3_client("apigatewayv2", emu.url)
        api_id = _ws_api(client)["ApiId"]
        client.create_route(ApiId=api_id, RouteKey="$default")
        client.create_deployment(ApiId=api_id)
        # A raw request: boto3 would retry a 429 by itself.
        raw = _signed(f"{emu.url}/v2/apis/{api_id}/deployments", b"{}")
        with pytest.raises(urllib.error.HTTPError) as err:
            urllib.request.urlopen(raw, timeout=5)
        assert err.value.code == 429
        assert err.value.headers["x-amzn-ErrorType"] == "TooManyRequestsException"


def test_control_plane_fault_injection():
    with EmulatorServer(EmulatorConfig(port=0, control_plane_fail=1.0)) as emu:
        with pytest.raises(urllib.error.HTTPError) as err:
            urllib.request.urlopen(_signed(f"{emu.url}/v2/apis", method="GET"), timeout=5)
        assert err.value.code == 429
        emu.configure(control_plane_fail=0.0)
        with urllib.request.urlopen(_signed(f"{emu.url}/v2/apis", method="GET"), timeout=5) as response:
            assert json.loads(response.read()) == {"items": []}


def test_state_file_survives_restart(tmp_path):
    path = str(tmp_path / "state.json")
    with EmulatorServer(EmulatorConfig(port=0, state_file=path)) as emu:
        client = boto3_client("apigatewayv2", emu.url)
        api_id = _ws_api(client)["ApiId"]
        client.create_route(ApiId=api_id, RouteKey="$default")
        client.create_stage(ApiId=api_id, StageName="prod")
        client.create_deployment(ApiId=api_id, StageName="prod")
    with EmulatorServer(EmulatorConfig(port=0, state_file=path)) as emu:
        client = boto3_client("apigatewayv2", emu.url)
        assert client.get_api(ApiId=api_id)["Name"] == "chat"
        assert client.get_stage(ApiId=api_id, StageName="prod")["DeploymentId"]
        assert emu.call(lambda: emu.emulator.state.stage_snapshot(api_id, "prod")) is not None


def _signed(url, data=None, method="POST", headers=None):
    """A SigV4-signed raw request (what a non-boto3 SDK could send)."""
    headers = dict(headers or {"Content-Type": "application/json"})
    signed = signed_headers(method, url, data or b"", headers=headers)
    return urllib.request.Request(url, data=data, method=method, headers=signed)


def _raw_post_error(url, data):
    """POST raw bytes; return the HTTPError it must raise."""
    with pytest.raises(urllib.error.HTTPError) as err:
        urllib.request.urlopen(_signed(url, data), timeout=5)
    return err.value


@pytest.mark.parametrize(
    "body",
    [
        {"integrationType": ["HTTP_PROXY"]},
        {"integrationType": "MOCK", "connectionType": {"x": 1}},
        {"integrationType": "MOCK", "passthroughBehavior": ["NEVER"]},
        {"integrationType": "MOCK", "payloadFormatVersion": 1},
    ],
)
def test_wrongly_typed_integration_members_are_a_400_not_a_500(emulator, apigw, body):
    api_id = _ws_api(apigw)["ApiId"]
    error = _raw_post_error(f"{emulator.url}/v2/apis/{api_id}/integrations", json.dumps(body).encode())
    assert error.code == 400
    assert error.headers["x-amzn-ErrorType"] == "BadRequestException"


def test_deeply_nested_json_body_is_a_400_not_a_500(emulator):
    error = _raw_post_error(f"{emulator.url}/v2/apis", b"[" * 20000)
    assert error.code == 400
    assert error.headers["x-amzn-ErrorType"] == "BadRequestException"
