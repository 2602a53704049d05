"""The WebSocket data plane over real sockets against a real recording HTTP backend."""

from __future__ import annotations

import http.client
import json
import re
import socket
import threading
import time
from urllib.parse import quote

import pytest
from websockets.exceptions import ConnectionClosed, InvalidStatus
from websockets.sync.client import connect

from tests import waiting
from wsgateway.emulator.testing import DEFAULT_SECRET, boto3_client, create_websocket_api, signed_headers

pytestmark = pytest.mark.timeout(60)  # a hang guard, generous for loaded machines

TRACE = re.compile(r"^Root=1-[0-9a-f]{8}-[0-9a-f]{24}$")
CONNECTION_ID = re.compile(r"^[A-Za-z0-9=]{16}$")


def _close_code(ws, timeout=10.0):
    """Wait for the server to close; return the close code it sent."""
    deadline = time.monotonic() + timeout
    with pytest.raises(ConnectionClosed):
        while time.monotonic() < deadline:
            ws.recv(timeout=deadline - time.monotonic())
    return ws.close_code


def test_connect_request_is_forwarded_like_api_gateway(emulator, recording_backend):
    api = create_websocket_api(
        emulator.url,
        recording_backend.url("ws/"),
        extra_parameters={
            "integration.request.header.X-Event": "context.eventType",
            "integration.request.header.X-Route": "context.routeKey",
            "integration.request.header.X-Epoch": "context.requestTimeEpoch",
            "integration.request.header.X-Ip": "context.identity.sourceIp",
            "integration.request.header.X-Custom-Copy": "route.request.header.X-Custom",
            "integration.request.querystring.tok": "route.request.querystring.token",
        },
    )
    url = emulator.ws_url(api.api_id, api.stage) + "?token=abc&x=1"
    before = int(time.time() * 1000)
    with connect(
        url,
        additional_headers={"Origin": "https://app.example.com", "Cookie": "sessionid=xyz", "X-Custom": "c1"},
        user_agent_header="test-browser/1.0",
        open_timeout=5,
    ):
        request = recording_backend.wait_for(lambda r: r.path == "/ws/connect")
    assert request.method == "POST"
    assert request.body == b""
    assert request.query_string == "token=abc&x=1&tok=abc"
    names = [name.lower() for name, _ in request.headers]
    assert sorted(names) == sorted(
        [
            "host",
            "x-amzn-apigateway-api-id",
            "cookie",
            "origin",
            "sec-websocket-extensions",
            "sec-websocket-key",
            "sec-websocket-version",
            "user-agent",
            "x-forwarded-for",
            "x-forwarded-port",
            "x-forwarded-proto",
            "x-amzn-trace-id",
            "connectionid",
            "x-ws-gateway-secret",
            "x-event",
            "x-route",
            "x-epoch",
            "x-ip",
            "x-custom-copy",
            "x-custom",  # every handshake header reaches $connect, as on AWS (issue 13, 2)
            "content-length",
        ]
    )
    assert request.header("Host") == f"127.0.0.1:{recording_backend.port}"
    assert request.header("X-Amzn-Apigateway-Api-Id") == api.api_id
    assert request.header("Cookie") == "sessionid=xyz"
    assert request.header("Origin") == "https://app.example.com"
    assert request.header("Sec-WebSocket-Version") == "13"
    assert request.header("Sec-WebSocket-Key")
    assert request.header("User-Agent") == "test-browser/1.0"
    assert request.header("X-Forwarded-For") == "127.0.0.1"
    # What AWS reports whatever the client used (issue 13, mismatch 12).
    assert request.header("X-Forwarded-Port") == "443"
    assert request.header("X-Forwarded-Proto") == "https"
    assert TRACE.match(request.header("X-Amzn-Trace-Id") or "")
    assert CONNECTION_ID.match(request.header("connectionId") or "")
    assert request.header("X-Ws-Gateway-Secret") == DEFAULT_SECRET
    assert request.header("X-Event") == "CONNECT"
    assert request.header("X-Route") == "$connect"
    assert before <= int(request.header("X-Epoch") or 0) <= int(time.time() * 1000)
    assert request.header("X-Ip") == "127.0.0.1"
    assert request.header("X-Custom-Copy") == "c1"
    assert request.header("Content-Length") == "0"


def test_message_and_disconnect_requests(emulator, recording_backend, ws_api):
    with connect(emulator.ws_url(ws_api.api_id, ws_api.stage), open_timeout=5) as ws:
        connection_id = recording_backend.wait_for(lambda r: r.path == "/ws/connect").header("connectionId")
        frame = '{"action": "unknown", "text": "héllo"}'
        ws.send(frame)
        message = recording_backend.wait_for(lambda r: r.path == "/ws/default")
        ws.send(b"\x00\x01binary")
        binary = recording_backend.wait_for(lambda r: r.path == "/ws/default" and r.body.startswith(b"\x00"))
    disconnect = recording_backend.wait_for(lambda r: r.path == "/ws/disconnect")

    expected = [
        "host",
        "x-amzn-apigateway-api-id",
        "user-agent",
        "x-forwarded-for",
        "x-forwarded-port",
        "x-forwarded-proto",
        "x-amzn-trace-id",
        "connectionid",
        "x-ws-gateway-secret",
        "content-length",
    ]
    assert message.body == frame.encode()
    assert message.query_string == ""
    assert sorted(n.lower() for n, _ in message.headers) == sorted([*expected, "content-type"])
    assert message.header("User-Agent") == f"AmazonAPIGateway_{ws_api.api_id}"
    assert message.header("Content-Type") == "application/json"
    assert message.header("connectionId") == connection_id
    assert message.header("X-Ws-Gateway-Secret") == DEFAULT_SECRET
    assert binary.body == b"\x00\x01binary"
    assert binary.header("Content-Type") == "application/octet-stream"
    assert disconnect.body == b""
    assert sorted(n.lower() for n, _ in disconnect.headers) == sorted(expected)
    assert disconnect.header("connectionId") == connection_id
    assert disconnect.header("User-Agent") == f"AmazonAPIGateway_{ws_api.api_id}"


def test_route_selection(emulator, recording_backend):
    api = create_websocket_api(
        emulator.url,
        recording_backend.url("ws/"),
        routes=("$connect", "$disconnect", "$default", "sendmessage"),
    )
    nested = create_websocket_api(
        emulator.url,
        recording_backend.url("nested/"),
        routes=("$default", "typed"),
        route_selection_expression="${request.body.meta.type}",
    )
    with connect(emulator.ws_url(api.api_id, api.stage), open_timeout=5) as ws:
        ws.send('{"action": "sendmessage", "n": 1}')
        ws.send('{"action": "other", "n": 2}')
        ws.send("not json at all")
        ws.send('["action", "sendmessage"]')
        recording_backend.wait_for(lambda r: r.body == b'["action", "sendmessage"]')
    with connect(emulator.ws_url(nested.api_id, nested.stage), open_timeout=5) as ws:
        ws.send('{"meta": {"type": "typed"}}')
        ws.send('{"meta": "typed"}')
        recording_backend.wait_for(lambda r: r.body == b'{"meta": "typed"}')
    assert [r.body for r in recording_backend.by_path("/ws/sendmessage")] == [
        b'{"action": "sendmessage", "n": 1}'
    ]
    assert [r.body for r in recording_backend.by_path("/ws/default")] == [
        b'{"action": "other", "n": 2}',
        b"not json at all",
        b'["action", "sendmessage"]',
    ]
    assert [r.body for r in recording_backend.by_path("/nested/typed")] == [b'{"meta": {"type": "typed"}}']
    assert [r.body for r in recording_backend.by_path("/nested/default")] == [b'{"meta": "typed"}']


def test_no_matching_route_and_no_default_sends_forbidden(emulator, recording_backend):
    api = create_websocket_api(emulator.url, recording_backend.url("ws/"), routes=("$connect", "hello"))
    with connect(emulator.ws_url(api.api_id, api.stage), open_timeout=5) as ws:
        connection_id = recording_backend.wait_for(lambda r: r.path == "/ws/connect").header("connectionId")
        ws.send('{"action": "nope"}')
        reply = json.loads(ws.recv(timeout=10))
    assert reply["message"] == "Forbidden"
    assert reply["connectionId"] == connection_id
    assert reply["requestId"]


def test_messages_are_forwarded_in_order(emulator, recording_backend, ws_api):
    recording_backend.respond("/ws/default", delay=0.01)
    with connect(emulator.ws_url(ws_api.api_id, ws_api.stage), open_timeout=5) as ws:
        for n in range(20):
            ws.send(json.dumps({"n": n}))
        recording_backend.wait_for(lambda r: r.body == b'{"n": 19}')
    assert [json.loads(r.body)["n"] for r in recording_backend.by_path("/ws/default")] == list(range(20))


def test_deployed_snapshot_is_served_not_unsaved_edits(emulator, recording_backend, ws_api):
    apigw = boto3_client("apigatewayv2", emulator.url)
    integration = apigw.create_integration(
        ApiId=ws_api.api_id,
        IntegrationType="HTTP_PROXY",
        IntegrationMethod="POST",
        IntegrationUri=recording_backend.url("ws/late"),
    )["IntegrationId"]
    apigw.create_route(ApiId=ws_api.api_id, RouteKey="late", Target=f"integrations/{integration}")
    with connect(emulator.ws_url(ws_api.api_id, ws_api.stage), open_timeout=5) as ws:
        ws.send('{"action": "late", "n": 1}')
        recording_backend.wait_for(lambda r: r.body == b'{"action": "late", "n": 1}')
        assert recording_backend.by_path("/ws/late") == []
        apigw.create_deployment(ApiId=ws_api.api_id, StageName=ws_api.stage)
        ws.send('{"action": "late", "n": 2}')
        late = recording_backend.wait_for(lambda r: r.path == "/ws/late")
    assert late.body == b'{"action": "late", "n": 2}'


def test_two_way_route_sends_the_integration_response(emulator, recording_backend):
    api = create_websocket_api(
        emulator.url, recording_backend.url("ws/"), routes=("$default", "echo"), two_way=("echo",)
    )
    recording_backend.respond("/ws/echo", body=b'{"pong": true}')
    recording_backend.respond("/ws/default", body=b'{"discarded": true}')
    with connect(emulator.ws_url(api.api_id, api.stage), open_timeout=5) as ws:
        ws.send('{"action": "other"}')
        ws.send('{"action": "echo"}')
        assert ws.recv(timeout=10) == '{"pong": true}'


def test_integration_failure_sends_internal_server_error(emulator, recording_backend):
    api = create_websocket_api(
        emulator.url, recording_backend.url("ws/"), routes=("$default",), timeout_ms=100
    )
    recording_backend.respond("/ws/default", delay=1.0)
    with connect(emulator.ws_url(api.api_id, api.stage), open_timeout=5) as ws:
        ws.send('{"action": "slow"}')
        reply = json.loads(ws.recv(timeout=10))
    assert reply["message"] == "Internal server error"
    assert reply["connectionId"] and reply["requestId"]


def assert_no_disconnect_can_follow(emulator, recording_backend) -> None:
    """A refused ``$connect`` leaves nothing behind that could forward a ``$disconnect``: the
    connection is out of the emulator's registry (only a registered connection has the event
    worker that forwards it) and no ``$disconnect`` was forwarded. Checked on that state, not
    by waiting a while for a forward that should not come."""
    registry = emulator.emulator.registry
    waiting.wait_until(
        lambda: emulator.call(lambda: len(registry.connections)) == 0,
        5,
        "the refused connection to be forgotten",
    )
    assert emulator.stats().get("forward.$disconnect", 0) == 0
    assert recording_backend.by_path("/ws/disconnect") == []


@pytest.mark.parametrize("status", [401, 403, 500])
def test_non_2xx_connect_refuses_the_socket(emulator, recording_backend, ws_api, status):
    recording_backend.respond("/ws/connect", status=status)
    with pytest.raises(InvalidStatus) as err:
        connect(emulator.ws_url(ws_api.api_id, ws_api.stage), open_timeout=5)
    assert err.value.response.status_code == status
    assert_no_disconnect_can_follow(emulator, recording_backend)
    assert emulator.stats()["connections.refused"] == 1


def test_connect_timeout_refuses_the_socket(emulator, recording_backend):
    api = create_websocket_api(emulator.url, recording_backend.url("ws/"), timeout_ms=100)
    # The backend never answers while held, so only the integration timeout can end $connect
    # (no wall-clock bound needed: without the timeout this would hang until open_timeout).
    recording_backend.respond("/ws/connect", hold=threading.Event())
    with pytest.raises(InvalidStatus) as err:
        connect(emulator.ws_url(api.api_id, api.stage), open_timeout=10)
    assert err.value.response.status_code == 504
    assert_no_disconnect_can_follow(emulator, recording_backend)


def test_connect_waits_for_the_integration(emulator, recording_backend, ws_api):
    recording_backend.respond("/ws/connect", delay=0.3)
    started = time.monotonic()
    with connect(emulator.ws_url(ws_api.api_id, ws_api.stage), open_timeout=5):
        assert time.monotonic() - started >= 0.3


def test_unknown_api_stage_or_undeployed_stage(emulator, recording_backend, ws_api):
    with pytest.raises(InvalidStatus) as err:
        connect(emulator.ws_url("nosuchapi0", "test"), open_timeout=5)
    assert err.value.response.status_code == 404
    with pytest.raises(InvalidStatus) as err:
        connect(emulator.ws_url(ws_api.api_id, "nostage"), open_timeout=5)
    assert err.value.response.status_code == 403
    boto3_client("apigatewayv2", emulator.url).create_stage(ApiId=ws_api.api_id, StageName="undeployed")
    with pytest.raises(InvalidStatus) as err:
        connect(emulator.ws_url(ws_api.api_id, "undeployed"), open_timeout=5)
    assert err.value.response.status_code == 403


def test_idle_timeout_closes_with_1001_and_forwards_disconnect(emulator, recording_backend, ws_api):
    emulator.configure(idle_timeout=0.5)
    started = time.monotonic()
    with connect(emulator.ws_url(ws_api.api_id, ws_api.stage), open_timeout=5) as ws:
        assert _close_code(ws) == 1001
    # Lower bound exact (the timer starts after `started`); upper bound generous for loaded CI.
    assert 0.45 <= time.monotonic() - started < 8.0
    recording_backend.wait_for(lambda r: r.path == "/ws/disconnect")
    assert emulator.stats()["connections.idle_expired"] == 1


def test_data_resets_the_idle_timer_but_not_the_lifetime(emulator, recording_backend, ws_api):
    # Messages every 0.1 s against a 1.5 s idle timeout: only a stall of the test thread longer
    # than 1.5 s could let the idle timer fire, and the counters below would then say so.
    emulator.configure(idle_timeout=1.5, max_lifetime=2.5)
    started = time.monotonic()
    with connect(emulator.ws_url(ws_api.api_id, ws_api.stage), open_timeout=5) as ws:
        with pytest.raises(ConnectionClosed):
            while time.monotonic() - started < 15:
                ws.send('{"action": "keepalive"}')
                time.sleep(0.1)
        assert ws.close_code == 1001
    # Past the idle timeout (so data reset it), closed by the lifetime.
    assert time.monotonic() - started >= 2.4
    recording_backend.wait_for(lambda r: r.path == "/ws/disconnect")
    stats = emulator.stats()
    assert stats["connections.lifetime_expired"] == 1
    assert stats.get("connections.idle_expired", 0) == 0


def test_frame_limit(emulator, recording_backend, ws_api):
    with connect(emulator.ws_url(ws_api.api_id, ws_api.stage), open_timeout=5, max_size=None) as ws:
        ws.send("a" * 32 * 1024)
        recording_backend.wait_for(lambda r: r.path == "/ws/default" and len(r.body) == 32 * 1024)
        ws.send("b" * (32 * 1024 + 1))
        assert _close_code(ws) == 1009
    recording_backend.wait_for(lambda r: r.path == "/ws/disconnect")
    assert not any(r.body.startswith(b"b") for r in recording_backend.by_path("/ws/default"))


def test_message_limit_with_fragmented_frames(emulator, recording_backend, ws_api):
    with connect(emulator.ws_url(ws_api.api_id, ws_api.stage), open_timeout=5) as ws:
        ws.send(["x" * 32 * 1024] * 4)  # exactly 128 KiB in four 32 KiB frames: accepted
        recording_backend.wait_for(lambda r: r.path == "/ws/default" and len(r.body) == 128 * 1024)
        ws.send(["y" * 32 * 1024] * 4 + ["y"])
        assert _close_code(ws) == 1009
    recording_backend.wait_for(lambda r: r.path == "/ws/disconnect")


def test_custom_domain_socket_and_management_via_host_header(emulator, recording_backend, ws_api):
    apigw = boto3_client("apigatewayv2", emulator.url)
    apigw.create_domain_name(
        DomainName="ws.example.com",
        DomainNameConfigurations=[{"CertificateArn": "arn:aws:acm:us-east-1:123456789012:certificate/x"}],
    )
    apigw.create_api_mapping(
        DomainName="ws.example.com", ApiId=ws_api.api_id, Stage=ws_api.stage, ApiMappingKey="v1"
    )
    sock = socket.create_connection(("127.0.0.1", emulator.port))
    with connect("ws://ws.example.com/v1", sock=sock, open_timeout=5) as ws:
        connection_id = recording_backend.wait_for(lambda r: r.path == "/ws/connect").header("connectionId")

        def signed(path, body):
            headers = signed_headers("POST", f"http://ws.example.com{path}", body, service="execute-api")
            return dict(headers, Host="ws.example.com")

        conn = http.client.HTTPConnection("127.0.0.1", emulator.port, timeout=5)
        path = f"/v1/@connections/{quote(connection_id, safe='')}"
        conn.request("POST", path, body=b"via domain", headers=signed(path, b"via domain"))
        response = conn.getresponse()
        response.read()
        assert response.status == 200
        assert ws.recv(timeout=10) == "via domain"
        # The stage name instead of the mapping key is a 403 on a custom domain, like AWS.
        path = f"/{ws_api.stage}/@connections/{quote(connection_id, safe='')}"
        conn.request("POST", path, body=b"x", headers=signed(path, b"x"))
        response = conn.getresponse()
        response.read()
        assert response.status == 403
        assert response.getheader("x-amzn-ErrorType") == "ForbiddenException"
        conn.close()


def test_connections_are_listed_by_the_admin_api(emulator, recording_backend, ws_api):
    with connect(emulator.ws_url(ws_api.api_id, ws_api.stage), open_timeout=5):
        items = emulator.admin("connections")["items"]
    assert len(items) == 1
    assert items[0]["apiId"] == ws_api.api_id and items[0]["stage"] == ws_api.stage
    assert items[0]["state"] == "CONNECTED" and items[0]["virtual"] is False


def test_client_leaving_during_connect_still_gets_disconnect(emulator, recording_backend, ws_api):
    hold = threading.Event()
    recording_backend.respond("/ws/connect", hold=hold)
    sock = socket.create_connection(("127.0.0.1", emulator.port))
    sock.sendall(
        (
            f"GET /{ws_api.api_id}/{ws_api.stage} HTTP/1.1\r\nHost: 127.0.0.1\r\nUpgrade: websocket\r\n"
            "Connection: Upgrade\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n"
            "Sec-WebSocket-Version: 13\r\n\r\n"
        ).encode()
    )
    recording_backend.wait_for(lambda r: r.path == "/ws/connect")
    sock.close()
    hold.set()
    recording_backend.wait_for(lambda r: r.path == "/ws/disconnect")


def test_deeply_nested_json_frame_goes_to_default(emulator, recording_backend, ws_api):
    # json.loads raises RecursionError (not ValueError) on deep nesting; the frame must still
    # reach $default like any other body the selection expression cannot evaluate.
    frame = "[" * 20000
    with connect(emulator.ws_url(ws_api.api_id, ws_api.stage), open_timeout=5) as ws:
        ws.send(frame)
        ws.send('{"after": true}')
        recording_backend.wait_for(lambda r: r.body == b'{"after": true}')
    assert [r.body for r in recording_backend.by_path("/ws/default")] == [frame.encode(), b'{"after": true}']


def _raw_handshake(port, path, extra_header_bytes=b""):
    """Send a WebSocket upgrade with arbitrary header bytes; return the status line's code."""
    with socket.create_connection(("127.0.0.1", port), timeout=10) as sock:
        sock.sendall(
            (
                f"GET {path} HTTP/1.1\r\nHost: 127.0.0.1\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
                "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n"
            ).encode()
            + extra_header_bytes
            + b"\r\n"
        )
        head = b""
        while b"\r\n" not in head:
            chunk = sock.recv(4096)
            if not chunk:
                break
            head += chunk
    return int(head.split(b" ", 2)[1])


def _live_connections(emulator):
    return emulator.admin("connections")["items"]


def _connect_with_non_utf8_header(emulator, backend, target):
    """Map the client's X-Custom header to ``target`` and connect sending it as raw non-UTF-8 bytes."""
    api = create_websocket_api(
        emulator.url, backend.url("ws/"), extra_parameters={target: "route.request.header.X-Custom"}
    )
    return _raw_handshake(emulator.port, f"/{api.api_id}/{api.stage}", b"X-Custom: a\xff\xfe\r\n")


def test_non_utf8_header_mapped_to_the_query_string_is_forwarded_as_bytes(emulator, recording_backend):
    # aiohttp decodes header bytes with surrogateescape; quoting such a value used to raise
    # outside the error handling: a 500 and a connection stuck in CONNECTING forever.
    status = _connect_with_non_utf8_header(emulator, recording_backend, "integration.request.querystring.tok")
    assert status == 101
    request = recording_backend.wait_for(lambda r: r.path == "/ws/connect")
    assert request.query_string == "tok=a%FF%FE"
    recording_backend.wait_for(lambda r: r.path == "/ws/disconnect")


def test_non_utf8_header_mapped_to_a_header_refuses_cleanly(emulator, recording_backend):
    status = _connect_with_non_utf8_header(emulator, recording_backend, "integration.request.header.X-Copy")
    assert status != 500
    assert _live_connections(emulator) == []


@pytest.mark.parametrize(
    "bad",
    [
        b"Sec-WebSocket-Version: 99\r\n",
        b"Sec-WebSocket-Key: not-base64!\r\n",
        b"Sec-WebSocket-Key: c2hvcnQ=\r\n",
    ],
)
def test_an_invalid_handshake_is_refused_before_connect(emulator, recording_backend, ws_api, bad):
    # The old code forwarded $connect first; aiohttp then refused the handshake with 400 and the
    # backend's accepted connection never ended (no $disconnect, stuck CONNECTING).
    head = (
        f"GET /{ws_api.api_id}/{ws_api.stage} HTTP/1.1\r\nHost: 127.0.0.1\r\nUpgrade: websocket\r\n"
        "Connection: Upgrade\r\n"
    ).encode()
    if not bad.startswith(b"Sec-WebSocket-Key"):
        head += b"Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n"
    if not bad.startswith(b"Sec-WebSocket-Version"):
        head += b"Sec-WebSocket-Version: 13\r\n"
    with socket.create_connection(("127.0.0.1", emulator.port), timeout=10) as sock:
        sock.sendall(head + bad + b"\r\n")
        answer = sock.recv(4096)
    assert answer.startswith(b"HTTP/1.1 400 ")
    assert _live_connections(emulator) == []
    assert emulator.stats().get("forward.$connect", 0) == 0
    assert recording_backend.by_path("/ws/connect") == []
