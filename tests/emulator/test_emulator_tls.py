"""HTTPS/WSS: the control plane, @connections and the data plane over TLS with a local CA.

Production reaches API Gateway over HTTPS only; these tests run the clients' TLS paths with
certificate verification on, and check that an untrusted certificate is refused.
"""

from __future__ import annotations

import asyncio
import ssl

import pytest
from botocore.exceptions import SSLError

from tests.emulator.conftest import emulator_process
from wsgateway.aws.management import NO_ANSWER, ConnectionsClient, Endpoint
from wsgateway.aws.sigv4 import Credentials, Signer
from wsgateway.emulator.testing import (
    EMULATOR_ACCESS_KEY,
    EMULATOR_SECRET_KEY,
    boto3_client,
    create_websocket_api,
)
from wsgateway.wsclient import connect  # safe over wss (wsgateway/wsclient.py)

pytestmark = pytest.mark.timeout(60)


@pytest.fixture
def tls_files(emulator_tls_files):
    return emulator_tls_files


@pytest.fixture
def tls_emulator(emulator_tls):
    return emulator_tls


def _post_with_fanout_client(url: str, connection_id: str, body: bytes, context: ssl.SSLContext | None):
    endpoint = Endpoint.from_url(url)
    client = ConnectionsClient(endpoint, ssl_context=context)
    signer = Signer(Credentials(EMULATOR_ACCESS_KEY, EMULATOR_SECRET_KEY), "us-east-1", endpoint.host)

    async def send():
        try:
            return await client.call_many("POST", [connection_id], signer, body, concurrency=1, timeout=10)
        finally:
            client.close()

    return asyncio.run(send())[0]


def test_every_plane_over_https_and_wss(tls_emulator, tls_files, recording_backend):
    emu = tls_emulator
    assert emu.url.startswith("https://") and emu.ws_url("a", "b").startswith("wss://")
    api = create_websocket_api(emu.url, recording_backend.url("ws/"), client=emu.client("apigatewayv2"))
    assert emu.client("apigatewayv2").get_api(ApiId=api.api_id)["ApiEndpoint"].startswith("wss://")
    management = emu.management_url(api.api_id, api.stage)
    with connect(emu.ws_url(api.api_id, api.stage), ssl=tls_files.client_context(), open_timeout=5) as ws:
        connection_id = recording_backend.wait_for(lambda r: r.path == "/ws/connect").header("connectionId")
        # boto3, verifying the certificate against the local CA.
        emu.client("apigatewaymanagementapi", management).post_to_connection(
            ConnectionId=connection_id, Data=b"via boto3"
        )
        assert ws.recv(timeout=10) == "via boto3"
        # The fan-out client, the only @connections path production uses.
        answer = _post_with_fanout_client(
            management, connection_id, b"via fan-out", tls_files.client_context()
        )
        assert answer.status == 200
        assert ws.recv(timeout=10) == "via fan-out"
        ws.send('{"action": "x"}')
        assert recording_backend.wait_for(lambda r: r.path == "/ws/default").body == b'{"action": "x"}'
    assert emu.admin("stats")["management.POST.200"] == 2


def test_the_fanout_client_trusts_aws_ca_bundle_like_boto3(tls_emulator, tls_files, monkeypatch):
    created = tls_emulator.admin("virtual-connections", {"count": 1})
    connection_id = created["connectionIds"][0]
    monkeypatch.setenv("AWS_CA_BUNDLE", tls_files.ca)
    answer = _post_with_fanout_client(created["managementEndpoint"], connection_id, b"bundle", None)
    assert answer.status == 200
    mgmt = boto3_client("apigatewaymanagementapi", created["managementEndpoint"])  # reads AWS_CA_BUNDLE too
    mgmt.post_to_connection(ConnectionId=connection_id, Data=b"boto3 bundle")
    assert tls_emulator.admin(f"virtual-connections/{connection_id}/messages")["count"] == 2


def test_an_untrusted_certificate_is_refused_by_every_client(tls_emulator, monkeypatch):
    monkeypatch.delenv("AWS_CA_BUNDLE", raising=False)
    created = tls_emulator.admin("virtual-connections", {"count": 1})
    connection_id = created["connectionIds"][0]
    with pytest.raises(SSLError):
        boto3_client("apigatewayv2", tls_emulator.url, max_attempts=1).get_apis()
    with pytest.raises(SSLError):
        boto3_client("apigatewaymanagementapi", created["managementEndpoint"], max_attempts=1).get_connection(
            ConnectionId=connection_id
        )
    answer = _post_with_fanout_client(created["managementEndpoint"], connection_id, b"never", None)
    assert answer.status == NO_ANSWER
    assert "CERTIFICATE_VERIFY_FAILED" in answer.detail
    with pytest.raises(ssl.SSLCertVerificationError):
        connect(tls_emulator.ws_url(created["apiId"], created["stage"]), open_timeout=5)
    assert tls_emulator.admin(f"virtual-connections/{connection_id}/messages")["count"] == 0


def test_the_cli_serves_https(tls_files):
    with emulator_process("--tls-cert", tls_files.cert, "--tls-key", tls_files.key) as line:
        assert line.startswith("wsgateway emulator listening on https://127.0.0.1:")
        url = line.split()[-1]
        assert boto3_client("apigatewayv2", url, verify=tls_files.ca).get_apis()["Items"] == []


@pytest.mark.django_db(transaction=True)
def test_a_broadcast_goes_out_over_https_through_the_whole_fanout_pipeline(
    tls_emulator, tls_files, monkeypatch
):
    # The production path: planner -> chunk -> pooled keep-alive HTTPS connections, verified.
    from wsgateway.aws.management import close_engine
    from wsgateway.fanout.broadcast import broadcast
    from wsgateway.fanout.delivery import run_chunk
    from wsgateway.fanout.messages import encode_message
    from wsgateway.fanout.planner import POST
    from wsgateway.models import ApiGateway, WebSocketSession

    monkeypatch.setenv("AWS_CA_BUNDLE", tls_files.ca)
    created = tls_emulator.admin("virtual-connections", {"count": 300})
    gateway = ApiGateway.objects.create(
        api_name="tls",
        api_id=created["apiId"],
        api_endpoint=f"wss://127.0.0.1:{tls_emulator.port}/{created['apiId']}",
        stage_name=created["stage"],
        api_created=True,
    )
    assert gateway.management_endpoint_url.startswith("https://")
    WebSocketSession.objects.bulk_create(
        [
            WebSocketSession(connection_id=c, channel_name="tls", api_gateway=gateway)
            for c in created["connectionIds"]
        ]
    )
    retries = []
    message_id, body = encode_message({"text": "over tls"})
    try:
        broadcast(
            WebSocketSession.objects.filter(channel_name="tls"),
            message_id=message_id,
            op=POST,
            body=body,
            emit=lambda chunk: run_chunk(chunk, lambda c, countdown: retries.append(c)),
        )
    finally:
        close_engine()
    assert retries == []
    assert tls_emulator.admin("stats")["management.POST.200"] == 300
    sample = created["connectionIds"][7]
    assert "over tls" in tls_emulator.admin(f"virtual-connections/{sample}/messages")["messages"][0]["data"]
