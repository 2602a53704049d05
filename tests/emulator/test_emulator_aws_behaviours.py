"""Behaviours where the emulator used to differ from AWS's documentation (issue 13, 1-12).

Sources: the API Gateway developer guide (WebSocket APIs: quotas, route selection, data
mapping, $connect) and the apigatewayv2 / apigatewaymanagementapi API references.
"""

# ruff: noqa: S310  (urllib talks to the local emulator over http on purpose)

from __future__ import annotations

import base64
import datetime as dt
import os
import socket
import time
import urllib.error
import urllib.request
from urllib.parse import quote

import pytest
from botocore.exceptions import ClientError

from wsgateway.emulator import EmulatorConfig, EmulatorServer
from wsgateway.emulator.testing import (
    EMULATOR_ACCESS_KEY,
    EMULATOR_SECRET_KEY,
    create_websocket_api,
    signed_headers,
)

pytestmark = pytest.mark.timeout(60)


class RawClient:
    """A WebSocket client on a plain socket that shows every frame (FIN bit, opcode, size)."""

    def __init__(self, port: int, path: str, headers: dict[str, str] | None = None, rcvbuf: int = 0) -> None:
        self.sock = socket.socket()
        if rcvbuf:
            self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, rcvbuf)
        self.sock.settimeout(10)
        self.sock.connect(("127.0.0.1", port))
        key = base64.b64encode(os.urandom(16)).decode()
        extra = "".join(f"{k}: {v}\r\n" for k, v in (headers or {}).items())
        self.sock.sendall(
            (
                f"GET {path} HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\nUpgrade: websocket\r\n"
                f"Connection: Upgrade\r\nSec-WebSocket-Key: {key}\r\nSec-WebSocket-Version: 13\r\n"
                f"{extra}\r\n"
            ).encode()
        )
        self.buffer = b""
        while b"\r\n\r\n" not in self.buffer:
            chunk = self.sock.recv(4096)
            if not chunk:
                break
            self.buffer += chunk
        head, _, self.buffer = self.buffer.partition(b"\r\n\r\n")
        self.status = int(head.split(b" ", 2)[1])
        self.response_head = head.decode("latin-1")

    def _read(self, count: int) -> bytes:
        while len(self.buffer) < count:
            chunk = self.sock.recv(65536)
            if not chunk:
                raise ConnectionError("closed")
            self.buffer += chunk
        data, self.buffer = self.buffer[:count], self.buffer[count:]
        return data

    def frame(self) -> tuple[bool, int, bytes]:
        """(FIN, opcode, payload) of the next frame."""
        first, second = self._read(2)
        length = second & 0x7F
        if length == 126:
            length = int.from_bytes(self._read(2), "big")
        elif length == 127:
            length = int.from_bytes(self._read(8), "big")
        return bool(first & 0x80), first & 0x0F, self._read(length)

    def close(self) -> None:
        self.sock.close()


def _connect_raw(emulator, api, recording_backend, **kwargs) -> tuple[RawClient, str]:
    client = RawClient(emulator.port, f"/{api.api_id}/{api.stage}", **kwargs)
    assert client.status == 101
    connection_id = recording_backend.wait_for(lambda r: r.path == "/ws/connect").header("connectionId")
    return client, connection_id


# ----------------------------------------------------------------------------- 1 and 7: @connections


def test_1_a_client_that_stops_reading_gets_429_not_a_hang(emulator, recording_backend, ws_api):
    emulator.configure(send_buffer_limit=256 * 1024)
    client, connection_id = _connect_raw(emulator, ws_api, recording_backend, rcvbuf=4096)
    mgmt = emulator.client(
        "apigatewaymanagementapi",
        emulator.management_url(ws_api.api_id, ws_api.stage),
        max_attempts=1,
    )
    statuses = []
    try:
        for _ in range(300):  # bounded: 300 x 64 KiB is far beyond any socket buffer
            started = time.monotonic()
            try:
                mgmt.post_to_connection(ConnectionId=connection_id, Data=b"x" * 65536)
            except mgmt.exceptions.LimitExceededException as err:
                assert err.response["ResponseMetadata"]["HTTPStatusCode"] == 429
                statuses.append(429)
                break
            statuses.append(200)
            assert time.monotonic() - started < 5  # every POST answers promptly
    finally:
        client.close()
    assert statuses[-1] == 429 and statuses.count(200) >= 1


def test_7_a_large_post_reaches_the_client_in_frames_of_32_kib(emulator, recording_backend, ws_api):
    client, connection_id = _connect_raw(emulator, ws_api, recording_backend)
    try:
        mgmt = emulator.client(
            "apigatewaymanagementapi", emulator.management_url(ws_api.api_id, ws_api.stage)
        )
        data = (b"0123456789abcdef" * 6400)[: 100 * 1024]
        mgmt.post_to_connection(ConnectionId=connection_id, Data=data)
        frames = []
        while not frames or not frames[-1][0]:
            frames.append(client.frame())
    finally:
        client.close()
    assert [len(f[2]) for f in frames] == [32768, 32768, 32768, 4096]
    assert [f[1] for f in frames] == [1, 0, 0, 0]  # text, then continuations
    assert [f[0] for f in frames] == [False, False, False, True]
    assert b"".join(f[2] for f in frames) == data


# ----------------------------------------------------------------------------- 8 and 9: signatures


def _signed_then_aged(url: str, service: str, age_seconds: int, **kwargs) -> urllib.request.Request:
    """A request signed ``age_seconds`` ago (botocore reads the clock through ``datetime``)."""
    import botocore.auth

    real = botocore.auth.datetime.datetime

    class Past(real):  # type: ignore[misc, valid-type]
        @classmethod
        def utcnow(cls):
            return real.utcnow() - dt.timedelta(seconds=age_seconds)

        @classmethod
        def now(cls, tz=None):
            return real.now(tz) - dt.timedelta(seconds=age_seconds)

    botocore.auth.datetime.datetime = Past
    try:
        headers = signed_headers(kwargs.get("method", "GET"), url, kwargs.get("body", b""), service=service)
    finally:
        botocore.auth.datetime.datetime = real
    return urllib.request.Request(
        url, data=kwargs.get("body") or None, method=kwargs.get("method", "GET"), headers=headers
    )


@pytest.fixture(params=["any-key", "verified"])
def checking_emulator(request):
    """An emulator without credentials (any key), then one verifying signatures."""
    config = EmulatorConfig(port=0)
    if request.param == "verified":
        config.access_key, config.secret_key = EMULATOR_ACCESS_KEY, EMULATOR_SECRET_KEY
    with EmulatorServer(config) as emu:
        yield emu


def test_8_a_signature_older_than_5_minutes_is_refused(checking_emulator):
    emu = checking_emulator
    created = emu.admin("virtual-connections", {"count": 1})
    connection = f"{created['managementEndpoint']}/@connections/{quote(created['connectionIds'][0], safe='')}"
    for url, service in ((f"{emu.url}/v2/apis", "apigateway"), (connection, "execute-api")):
        recent = _signed_then_aged(url, service, 200)
        with urllib.request.urlopen(recent, timeout=5) as response:
            assert response.status == 200
        old = _signed_then_aged(url, service, 3600)
        with pytest.raises(urllib.error.HTTPError) as err:
            urllib.request.urlopen(old, timeout=5)
        assert err.value.code == 403
        assert err.value.headers["x-amzn-ErrorType"] == "InvalidSignatureException"
        assert "Signature expired" in err.value.read().decode()
        future = _signed_then_aged(url, service, -3600)
        with pytest.raises(urllib.error.HTTPError) as err:
            urllib.request.urlopen(future, timeout=5)
        assert err.value.code == 403


def test_9_an_unsigned_control_plane_request_gets_missing_authentication_token(checking_emulator):
    emu = checking_emulator
    with pytest.raises(urllib.error.HTTPError) as err:
        urllib.request.urlopen(f"{emu.url}/v2/apis", timeout=5)
    assert err.value.code == 403
    assert err.value.headers["x-amzn-ErrorType"] == "MissingAuthenticationTokenException"
    assert err.value.read() == b'{"message": "Missing Authentication Token"}'
    with pytest.raises(ClientError) as refused:
        raise_for_unsigned(emu.url)
    assert refused.value.response["Error"]["Code"] == "MissingAuthenticationTokenException"


def raise_for_unsigned(url: str) -> None:
    """What boto3 raises for an unsigned call (``signature_version=UNSIGNED``)."""
    import boto3
    from botocore import UNSIGNED
    from botocore.config import Config

    client = boto3.client(
        "apigatewayv2", endpoint_url=url, region_name="us-east-1", config=Config(signature_version=UNSIGNED)
    )
    client.get_apis()


# ----------------------------------------------------------------------------- 2, 3, 4: data plane


def test_2_connect_forwards_the_clients_handshake_headers(emulator, recording_backend, ws_api):
    client = RawClient(
        emulator.port,
        f"/{ws_api.api_id}/{ws_api.stage}",
        headers={
            "Authorization": "Bearer abc",
            "X-Tenant": "t-1",
            "Sec-WebSocket-Protocol": "chat.v1",
            "X-Forwarded-For": "203.0.113.9",
        },
    )
    try:
        assert client.status == 101
        request = recording_backend.wait_for(lambda r: r.path == "/ws/connect")
    finally:
        client.close()
    assert request.header("Authorization") == "Bearer abc"
    assert request.header("X-Tenant") == "t-1"
    assert request.header("Sec-WebSocket-Protocol") == "chat.v1"
    assert request.header("X-Forwarded-For") == "203.0.113.9, 127.0.0.1"
    # What the gateway sets itself is not taken from the client.
    assert request.header("X-Forwarded-Proto") == "https"
    assert request.header("X-Amzn-Apigateway-Api-Id") == ws_api.api_id


def test_3_multi_variable_route_selection_expression(emulator, recording_backend):
    api = create_websocket_api(
        emulator.url,
        recording_backend.url("ws/"),
        routes=("$connect", "$default", "chat/send"),
        route_selection_expression="${request.body.service}/${request.body.action}",
        client=emulator.client("apigatewayv2"),
    )
    from websockets.sync.client import connect

    with connect(emulator.ws_url(api.api_id, api.stage), open_timeout=5) as ws:
        ws.send('{"service": "chat", "action": "send", "n": 1}')
        ws.send('{"service": "chat", "n": 2}')  # a variable missing: $default
        ws.send('{"service": "chat", "action": "other", "n": 3}')
        routed = recording_backend.wait_for(lambda r: r.path == "/ws/chat/send")
        assert b'"n": 1' in routed.body
        recording_backend.wait_for(lambda r: r.path == "/ws/default" and b'"n": 3' in r.body)
    assert [b'"n": 2' in r.body for r in recording_backend.by_path("/ws/default")][:1] == [True]


def test_4_body_and_multivalue_mapping_sources(emulator, recording_backend):
    api = create_websocket_api(
        emulator.url,
        recording_backend.url("ws/"),
        routes=("$connect", "$default"),
        extra_parameters={
            "integration.request.header.X-Action": "route.request.body.action",
            "integration.request.header.X-Nested": "route.request.body.meta.kind",
            "integration.request.header.X-Tags": "route.request.multivalueheader.X-Tag",
            "integration.request.querystring.ids": "route.request.multivaluequerystring.id",
        },
        client=emulator.client("apigatewayv2"),
    )
    client = RawClient(
        emulator.port,
        f"/{api.api_id}/{api.stage}?id=1&id=2",
        headers={"X-Tag": "a", "x-tag": "b"},
    )
    try:
        assert client.status == 101
        connect_request = recording_backend.wait_for(lambda r: r.path == "/ws/connect")
        assert connect_request.header("X-Tags") == "a,b"
        assert "ids=1%2C2" in connect_request.query_string
        assert connect_request.header("X-Action") is None  # $connect has no body
        payload = b'{"action": "post", "meta": {"kind": "note"}}'
        mask = os.urandom(4)
        masked = bytes(b ^ mask[i % 4] for i, b in enumerate(payload))
        client.sock.sendall(bytes((0x81, 0x80 | len(payload))) + mask + masked)
        message = recording_backend.wait_for(lambda r: r.path == "/ws/default")
    finally:
        client.close()
    assert message.header("X-Action") == "post"
    assert message.header("X-Nested") == "note"


# ----------------------------------------------------------------------------- 10, 11, domain


def test_10_websocket_integrations_have_an_integration_response_selection_expression(emulator, ws_api):
    client = emulator.client("apigatewayv2")
    integration = client.get_integration(ApiId=ws_api.api_id, IntegrationId=ws_api.integrations["$default"])
    assert integration["IntegrationResponseSelectionExpression"] == "${integration.response.statuscode}"
    lambda_like = client.create_integration(
        ApiId=ws_api.api_id,
        IntegrationType="AWS_PROXY",
        IntegrationUri="arn:aws:apigateway:us-east-1:lambda:path/2015-03-31/functions/x/invocations",
    )
    expected = "${integration.response.body.errorMessage}"
    assert lambda_like["IntegrationResponseSelectionExpression"] == expected
    http_api = client.create_api(Name="h", ProtocolType="HTTP")["ApiId"]
    plain = client.create_integration(
        ApiId=http_api, IntegrationType="HTTP_PROXY", IntegrationMethod="ANY", IntegrationUri="http://e.com/"
    )
    assert "IntegrationResponseSelectionExpression" not in plain  # WebSocket APIs only


def test_11_urls_over_4096_characters_are_refused(emulator, recording_backend, ws_api):
    base = f"/{ws_api.api_id}/{ws_api.stage}?q="
    fits = RawClient(emulator.port, base + "a" * (4096 - len(base)))
    fits.close()
    assert fits.status == 101
    too_long = RawClient(emulator.port, base + "a" * (4097 - len(base)))
    too_long.close()
    assert too_long.status == 414
    assert len(recording_backend.by_path("/ws/connect")) == 1


@pytest.mark.parametrize("name", ["127.0.0.1", "localhost", "::1", "10.0.0.1"])
def test_a_domain_named_like_an_address_is_refused_and_stage_urls_keep_working(
    emulator, recording_backend, ws_api, name
):
    client = emulator.client("apigatewayv2")
    with pytest.raises(client.exceptions.BadRequestException):
        client.create_domain_name(
            DomainName=name,
            DomainNameConfigurations=[{"CertificateArn": "arn:aws:acm:us-east-1:123456789012:certificate/x"}],
        )
    raw = RawClient(emulator.port, f"/{ws_api.api_id}/{ws_api.stage}")
    raw.close()
    assert raw.status == 101


def test_a_custom_domain_matching_the_host_does_not_hide_stage_urls(emulator, recording_backend, ws_api):
    # A state file from before the check above may hold such a domain.
    from wsgateway.emulator.state import DomainRecord

    emulator.call(lambda: emulator.emulator.state.domains.__setitem__("127.0.0.1", DomainRecord({})))
    raw = RawClient(emulator.port, f"/{ws_api.api_id}/{ws_api.stage}")
    raw.close()
    assert raw.status == 101
    mgmt = emulator.client("apigatewaymanagementapi", emulator.management_url(ws_api.api_id, ws_api.stage))
    with pytest.raises(mgmt.exceptions.GoneException):
        mgmt.get_connection(ConnectionId="AAAAAAAAAAAAAAA=")


# ----------------------------------------------------------------------------- 6: more operations


def test_6_authorizer_operations(emulator, ws_api):
    client = emulator.client("apigatewayv2")
    function = "arn:aws:lambda:us-east-1:123456789012:function:auth"
    uri = f"arn:aws:apigateway:us-east-1:lambda:path/2015-03-31/functions/{function}/invocations"
    created = client.create_authorizer(
        ApiId=ws_api.api_id,
        AuthorizerType="REQUEST",
        Name="auth",
        AuthorizerUri=uri,
        IdentitySource=["route.request.header.Authorization"],
    )
    authorizer_id = created["AuthorizerId"]
    assert client.get_authorizer(ApiId=ws_api.api_id, AuthorizerId=authorizer_id)["Name"] == "auth"
    assert [a["AuthorizerId"] for a in client.get_authorizers(ApiId=ws_api.api_id)["Items"]] == [
        authorizer_id
    ]
    updated = client.update_authorizer(ApiId=ws_api.api_id, AuthorizerId=authorizer_id, Name="renamed")
    assert updated["Name"] == "renamed" and updated["AuthorizerUri"] == uri
    with pytest.raises(client.exceptions.BadRequestException):
        client.create_authorizer(
            ApiId=ws_api.api_id, AuthorizerType="JWT", Name="j", IdentitySource=["$request.header.A"]
        )
    client.update_route(
        ApiId=ws_api.api_id,
        RouteId=ws_api.routes["$connect"],
        AuthorizationType="CUSTOM",
        AuthorizerId=authorizer_id,
    )
    with pytest.raises(client.exceptions.ConflictException):
        client.delete_authorizer(ApiId=ws_api.api_id, AuthorizerId=authorizer_id)
    client.update_route(ApiId=ws_api.api_id, RouteId=ws_api.routes["$connect"], AuthorizationType="NONE")
    client.delete_route(ApiId=ws_api.api_id, RouteId=ws_api.routes["$connect"])
    client.delete_authorizer(ApiId=ws_api.api_id, AuthorizerId=authorizer_id)
    with pytest.raises(client.exceptions.NotFoundException):
        client.get_authorizer(ApiId=ws_api.api_id, AuthorizerId=authorizer_id)


def test_6_model_operations(emulator, ws_api):
    client = emulator.client("apigatewayv2")
    schema = '{"type": "object"}'
    model = client.create_model(ApiId=ws_api.api_id, Name="Msg", Schema=schema)
    assert model["ContentType"] == "application/json" and model["Schema"] == schema
    with pytest.raises(client.exceptions.ConflictException):
        client.create_model(ApiId=ws_api.api_id, Name="Msg", Schema=schema)
    assert client.get_model_template(ApiId=ws_api.api_id, ModelId=model["ModelId"])["Value"]
    client.update_model(ApiId=ws_api.api_id, ModelId=model["ModelId"], Description="d")
    assert client.get_models(ApiId=ws_api.api_id)["Items"][0]["Description"] == "d"
    client.delete_model(ApiId=ws_api.api_id, ModelId=model["ModelId"])
    with pytest.raises(client.exceptions.NotFoundException):
        client.get_model(ApiId=ws_api.api_id, ModelId=model["ModelId"])


def test_6_tag_operations(emulator, ws_api):
    client = emulator.client("apigatewayv2")
    arn = f"arn:aws:apigateway:us-east-1::/apis/{ws_api.api_id}"
    client.tag_resource(ResourceArn=arn, Tags={"team": "chat", "env": "test"})
    assert client.get_tags(ResourceArn=arn)["Tags"] == {"team": "chat", "env": "test"}
    assert client.get_api(ApiId=ws_api.api_id)["Tags"] == {"team": "chat", "env": "test"}
    client.untag_resource(ResourceArn=arn, TagKeys=["env"])
    assert client.get_tags(ResourceArn=arn)["Tags"] == {"team": "chat"}
    stage_arn = f"{arn}/stages/{ws_api.stage}"
    client.tag_resource(ResourceArn=stage_arn, Tags={"tier": "1"})
    assert client.get_stage(ApiId=ws_api.api_id, StageName=ws_api.stage)["Tags"] == {"tier": "1"}
    with pytest.raises(client.exceptions.NotFoundException):
        client.get_tags(ResourceArn="arn:aws:apigateway:us-east-1::/apis/nope")
