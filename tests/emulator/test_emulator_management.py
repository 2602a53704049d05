"""The @connections management API through boto3's apigatewaymanagementapi client."""

# ruff: noqa: S310  (urllib talks to the local emulator over http on purpose)

from __future__ import annotations

import contextlib
import datetime as dt
import json
import threading
import time
import urllib.error
import urllib.request
from urllib.parse import quote

import pytest
from botocore.exceptions import ClientError
from websockets.exceptions import ConnectionClosed
from websockets.sync.client import connect

from tests.emulator.conftest import emulator_process
from tests.waiting import wait_until
from wsgateway.emulator import EmulatorConfig, EmulatorServer
from wsgateway.emulator.testing import RecordingBackend, boto3_client, create_websocket_api

pytestmark = pytest.mark.timeout(60)  # a hang guard, generous for loaded machines


@contextlib.contextmanager
def _open(emulator, api, backend):
    """Connect a client; yield (socket, connection id as the backend saw it on $connect)."""
    with connect(emulator.ws_url(api.api_id, api.stage), open_timeout=5) as ws:
        connection_id = backend.wait_for(lambda r: r.path == "/ws/connect").header("connectionId")
        yield ws, connection_id


def _admin(emulator, path, body=None, method=None):
    return emulator.admin(path.removeprefix("/_emulator/"), body, method)


def test_post_delivers_text_and_binary(emulator, recording_backend, ws_api, mgmt):
    with _open(emulator, ws_api, recording_backend) as (ws, connection_id):
        response = mgmt.post_to_connection(ConnectionId=connection_id, Data=b'{"hi": 1}')
        assert response["ResponseMetadata"]["HTTPStatusCode"] == 200
        assert ws.recv(timeout=10) == '{"hi": 1}'  # valid UTF-8 -> a text frame
        mgmt.post_to_connection(ConnectionId=connection_id, Data=b"\xff\x00")
        assert ws.recv(timeout=10) == b"\xff\x00"  # not UTF-8 -> a binary frame
    assert emulator.stats()["management.POST.200"] == 2


def test_gone_for_unknown_and_closed_connections(emulator, recording_backend, ws_api, mgmt):
    with pytest.raises(mgmt.exceptions.GoneException) as err:
        mgmt.post_to_connection(ConnectionId="AAAAAAAAAAAAAAA=", Data=b"x")
    assert err.value.response["ResponseMetadata"]["HTTPStatusCode"] == 410
    with _open(emulator, ws_api, recording_backend) as (_ws, connection_id):
        pass
    recording_backend.wait_for(lambda r: r.path == "/ws/disconnect")
    with pytest.raises(mgmt.exceptions.GoneException):
        mgmt.post_to_connection(ConnectionId=connection_id, Data=b"x")
    with pytest.raises(mgmt.exceptions.GoneException):
        mgmt.get_connection(ConnectionId=connection_id)
    with pytest.raises(mgmt.exceptions.GoneException):
        mgmt.delete_connection(ConnectionId=connection_id)


def test_gone_while_connect_is_in_flight(emulator, recording_backend, ws_api, mgmt):
    hold = threading.Event()
    recording_backend.respond("/ws/connect", hold=hold)
    received: list[str] = []
    done = threading.Event()

    def client():
        with connect(emulator.ws_url(ws_api.api_id, ws_api.stage), open_timeout=10) as ws:
            received.append(ws.recv(timeout=5))
        done.set()

    thread = threading.Thread(target=client)
    thread.start()
    connection_id = recording_backend.wait_for(lambda r: r.path == "/ws/connect").header("connectionId")
    # The connect handler posting a welcome message gets 410, like on AWS.
    with pytest.raises(mgmt.exceptions.GoneException):
        mgmt.post_to_connection(ConnectionId=connection_id, Data=b"welcome")
    hold.set()
    deadline = time.monotonic() + 5
    while time.monotonic() < deadline:
        try:
            mgmt.post_to_connection(ConnectionId=connection_id, Data=b"welcome")
            break
        except mgmt.exceptions.GoneException:
            time.sleep(0.01)  # the upgrade completes right after $connect answers
    assert done.wait(5)
    thread.join(5)
    assert received == ["welcome"]


def test_payload_limit(emulator, recording_backend, ws_api, mgmt):
    with _open(emulator, ws_api, recording_backend) as (ws, connection_id):
        with pytest.raises(mgmt.exceptions.PayloadTooLargeException) as err:
            mgmt.post_to_connection(ConnectionId=connection_id, Data=b"x" * (128 * 1024 + 1))
        assert err.value.response["ResponseMetadata"]["HTTPStatusCode"] == 413
        mgmt.post_to_connection(ConnectionId=connection_id, Data=b"y" * (128 * 1024))
        assert ws.recv(timeout=10) == "y" * 128 * 1024


def test_forbidden_wrong_stage_wrong_api_and_unsigned(emulator, recording_backend, ws_api):
    with _open(emulator, ws_api, recording_backend) as (_ws, connection_id):
        wrong_stage = boto3_client("apigatewaymanagementapi", emulator.management_url(ws_api.api_id, "prod"))
        with pytest.raises(wrong_stage.exceptions.ForbiddenException) as err:
            wrong_stage.post_to_connection(ConnectionId=connection_id, Data=b"x")
        assert err.value.response["ResponseMetadata"]["HTTPStatusCode"] == 403
        wrong_api = boto3_client(
            "apigatewaymanagementapi", emulator.management_url("zzzzzzzzzz", ws_api.stage)
        )
        with pytest.raises(wrong_api.exceptions.ForbiddenException):
            wrong_api.get_connection(ConnectionId=connection_id)
        endpoint = emulator.management_url(ws_api.api_id, ws_api.stage)
        unsigned = urllib.request.Request(
            f"{endpoint}/@connections/{quote(connection_id, safe='')}",
            data=b"x",
            method="POST",
        )
        with pytest.raises(urllib.error.HTTPError) as http_err:
            urllib.request.urlopen(unsigned, timeout=5)
        assert http_err.value.code == 403
        assert http_err.value.headers["x-amzn-ErrorType"] == "MissingAuthenticationTokenException"
        assert json.loads(http_err.value.read()) == {"message": "Missing Authentication Token"}


def test_get_connection_fields_parse_as_datetimes(emulator, recording_backend, ws_api, mgmt):
    with _open(emulator, ws_api, recording_backend) as (ws, connection_id):
        first = mgmt.get_connection(ConnectionId=connection_id)
        assert isinstance(first["ConnectedAt"], dt.datetime)
        assert isinstance(first["LastActiveAt"], dt.datetime)
        assert first["Identity"]["SourceIp"] == "127.0.0.1"
        assert first["Identity"]["UserAgent"].startswith("Python/")
        assert abs(first["ConnectedAt"].timestamp() - time.time()) < 5
        # The emulator stamps milliseconds: the message must come at least one later.
        later = first["LastActiveAt"].timestamp() + 0.001
        wait_until(lambda: time.time() >= later, 5, "a millisecond past LastActiveAt", interval=0.001)
        ws.send('{"action": "x"}')
        recording_backend.wait_for(lambda r: r.path == "/ws/default")
        second = mgmt.get_connection(ConnectionId=connection_id)
        assert second["LastActiveAt"] > first["LastActiveAt"]
        assert second["ConnectedAt"] == first["ConnectedAt"]


def test_delete_closes_the_socket_and_forwards_disconnect(emulator, recording_backend, ws_api, mgmt):
    with _open(emulator, ws_api, recording_backend) as (ws, connection_id):
        response = mgmt.delete_connection(ConnectionId=connection_id)
        assert response["ResponseMetadata"]["HTTPStatusCode"] == 204
        with pytest.raises(ConnectionClosed):
            ws.recv(timeout=10)
        assert ws.close_code == 1000
    disconnect = recording_backend.wait_for(lambda r: r.path == "/ws/disconnect")
    assert disconnect.header("connectionId") == connection_id
    with pytest.raises(mgmt.exceptions.GoneException):
        mgmt.post_to_connection(ConnectionId=connection_id, Data=b"x")


@pytest.mark.parametrize(
    ("key", "status", "error"),
    [("fail_429", 429, "LimitExceededException"), ("fail_500", 500, "InternalServerErrorException")],
)
def test_fault_injection_does_not_deliver(emulator, recording_backend, ws_api, key, status, error):
    client = boto3_client(
        "apigatewaymanagementapi", emulator.management_url(ws_api.api_id, ws_api.stage), max_attempts=1
    )
    with _open(emulator, ws_api, recording_backend) as (ws, connection_id):
        emulator.configure(**{key: 1.0})
        with pytest.raises(ClientError) as err:
            client.post_to_connection(ConnectionId=connection_id, Data=b"lost")
        assert err.value.response["Error"]["Code"] == error
        assert err.value.response["ResponseMetadata"]["HTTPStatusCode"] == status
        if status == 429:
            assert isinstance(err.value, client.exceptions.LimitExceededException)
        emulator.configure(**{key: 0.0})
        client.post_to_connection(ConnectionId=connection_id, Data=b"kept")
        assert ws.recv(timeout=10) == "kept"  # "lost" was never sent
    assert emulator.stats()[f"faults.{status}"] == 1


def test_fault_fraction_is_deterministic_with_a_seed(emulator):
    created = _admin(emulator, "/_emulator/virtual-connections", {"count": 1})
    client = boto3_client("apigatewaymanagementapi", created["managementEndpoint"], max_attempts=1)
    connection_id = created["connectionIds"][0]

    def run():
        emulator.configure(fail_429=0.3, fail_500=0.2, seed=42)
        outcome = []
        for _ in range(40):
            try:
                client.post_to_connection(ConnectionId=connection_id, Data=b"m")
                outcome.append(200)
            except ClientError as err:
                outcome.append(err.response["ResponseMetadata"]["HTTPStatusCode"])
        return outcome

    first, second = run(), run()
    assert first == second
    assert {200, 429, 500} <= set(first)
    emulator.configure(fail_429=0.0, fail_500=0.0)
    messages = _admin(emulator, f"/_emulator/virtual-connections/{quote(connection_id, safe='')}/messages")
    assert messages["count"] == 2 * first.count(200)


def test_latency_injection(emulator):
    created = _admin(emulator, "/_emulator/virtual-connections", {"count": 1})
    client = boto3_client("apigatewaymanagementapi", created["managementEndpoint"])
    client.post_to_connection(ConnectionId=created["connectionIds"][0], Data=b"warm-up")
    emulator.configure(latency_ms=200)
    started = time.monotonic()
    client.post_to_connection(ConnectionId=created["connectionIds"][0], Data=b"m")
    assert time.monotonic() - started >= 0.2


def test_virtual_connections(emulator):
    created = _admin(emulator, "/_emulator/virtual-connections", {"count": 3})
    assert len(created["connectionIds"]) == 3
    client = boto3_client("apigatewaymanagementapi", created["managementEndpoint"])
    for n in range(5):
        client.post_to_connection(ConnectionId=created["connectionIds"][0], Data=f"m{n}".encode())
    info = client.get_connection(ConnectionId=created["connectionIds"][1])
    assert info["Identity"]["UserAgent"] == "virtual"
    messages = _admin(
        emulator, f"/_emulator/virtual-connections/{quote(created['connectionIds'][0], safe='')}/messages"
    )
    assert messages["count"] == 5
    assert [m["data"] for m in messages["messages"]] == ["m0", "m1", "m2", "m3", "m4"]
    more = _admin(
        emulator,
        "/_emulator/virtual-connections",
        {"apiId": created["apiId"], "stage": created["stage"], "count": 2},
    )
    assert more["apiId"] == created["apiId"]
    client.delete_connection(ConnectionId=created["connectionIds"][2])
    with pytest.raises(client.exceptions.GoneException):
        client.post_to_connection(ConnectionId=created["connectionIds"][2], Data=b"x")
    assert _admin(emulator, "/_emulator/virtual-connections", method="DELETE") == {"removed": 4}
    with pytest.raises(client.exceptions.GoneException):
        client.post_to_connection(ConnectionId=created["connectionIds"][0], Data=b"x")
    stats = _admin(emulator, "/_emulator/stats")
    assert stats["management.POST.200"] == 5 and stats["management.POST.410"] == 2
    _admin(emulator, "/_emulator/reset-stats", {})
    assert "management.POST.200" not in _admin(emulator, "/_emulator/stats")


def test_config_endpoint(emulator):
    config = _admin(emulator, "/_emulator/config", {"fail_429": 0.25, "idle_timeout": 1.5})
    assert config["fail_429"] == 0.25 and config["idle_timeout"] == 1.5
    assert _admin(emulator, "/_emulator/config")["fail_429"] == 0.25
    with pytest.raises(urllib.error.HTTPError) as err:
        _admin(emulator, "/_emulator/config", {"port": 1})
    assert err.value.code == 400
    with pytest.raises(urllib.error.HTTPError):
        _admin(emulator, "/_emulator/config", {"fail_500": 2})


def test_signature_verification_with_known_credentials():
    config = EmulatorConfig(port=0, access_key="AKIDGOOD", secret_key="good-secret")
    with EmulatorServer(config) as emu, RecordingBackend() as backend:
        api = create_websocket_api(emu.url, backend.url("ws/"), client=emu.client("apigatewayv2"))
        created = _admin(
            emu, "/_emulator/virtual-connections", {"apiId": api.api_id, "stage": api.stage, "count": 1}
        )
        connection_id = created["connectionIds"][0]
        endpoint = emu.management_url(api.api_id, api.stage)
        good = boto3_client(
            "apigatewaymanagementapi", endpoint, access_key="AKIDGOOD", secret_key="good-secret"
        )
        good.post_to_connection(ConnectionId=connection_id, Data=b"signed")
        bad = boto3_client("apigatewaymanagementapi", endpoint, access_key="AKIDGOOD", secret_key="wrong")
        with pytest.raises(ClientError) as err:
            bad.post_to_connection(ConnectionId=connection_id, Data=b"x")
        assert err.value.response["Error"]["Code"] == "InvalidSignatureException"
        assert err.value.response["ResponseMetadata"]["HTTPStatusCode"] == 403
        other = boto3_client(
            "apigatewaymanagementapi", endpoint, access_key="AKIDOTHER", secret_key="good-secret"
        )
        with pytest.raises(ClientError) as err:
            other.get_connection(ConnectionId=connection_id)
        assert err.value.response["Error"]["Code"] == "UnrecognizedClientException"
        # The control plane verifies too.
        control = boto3_client("apigatewayv2", emu.url, access_key="AKIDGOOD", secret_key="good-secret")
        assert control.get_api(ApiId=api.api_id)["ApiId"] == api.api_id
        with pytest.raises(ClientError):
            boto3_client("apigatewayv2", emu.url, max_attempts=1).get_apis()


def test_cli_prints_the_port_and_serves():
    token = "cli-admin-token"
    args = ("--idle-timeout", "5", "--fail-429", "0.1", "--seed", "1")
    with emulator_process(*args, env={"WSGATEWAY_EMULATOR_ADMIN_TOKEN": token}) as line:
        assert line.startswith("wsgateway emulator listening on http://127.0.0.1:")
        url = line.split()[-1]
        request = urllib.request.Request(f"{url}/_emulator/config", headers={"X-Emulator-Admin-Token": token})
        with urllib.request.urlopen(request, timeout=5) as response:
            config = json.loads(response.read())
        assert config["idle_timeout"] == 5.0 and config["fail_429"] == 0.1 and config["seed"] == 1
        apis = boto3_client("apigatewayv2", url).get_apis()
        assert apis["Items"] == []


@pytest.mark.parametrize(
    "change",
    [
        {"fail_429": 0.5, "fail_500": 2},  # the valid key must not be applied either
        {"fail_429": 0.5, "idle_timeout": float("nan")},
        {"fail_429": 0.5, "max_lifetime": float("inf")},
        {"fail_429": 0.5, "latency_max_ms": -1},
        {"fail_429": 0.5, "latency_ms": None},
    ],
)
def test_bad_config_change_is_refused_as_a_whole(emulator, change):
    with pytest.raises(urllib.error.HTTPError) as err:
        _admin(emulator, "/_emulator/config", change)
    assert err.value.code == 400
    config = _admin(emulator, "/_emulator/config")
    assert config["fail_429"] == 0.0
    assert config["idle_timeout"] == 600.0 and config["max_lifetime"] == 7200.0


def test_deeply_nested_admin_body_is_a_400(emulator):
    request = urllib.request.Request(
        f"{emulator.url}/_emulator/config", data=b"[" * 20000, method="POST", headers=emulator.admin_headers
    )
    with pytest.raises(urllib.error.HTTPError) as err:
        urllib.request.urlopen(request, timeout=5)
    assert err.value.code == 400


def test_signed_payload_hash_must_match_the_body():
    # A signature covering X-Amz-Content-Sha256 of one body must not authorise another body.
    import hashlib

    from botocore.auth import SigV4Auth
    from botocore.awsrequest import AWSRequest
    from botocore.credentials import Credentials

    with EmulatorServer(EmulatorConfig(port=0, access_key="AKIDGOOD", secret_key="good-secret")) as emu:
        created = _admin(emu, "/_emulator/virtual-connections", {"count": 1})
        connection_id = created["connectionIds"][0]
        url = f"{created['managementEndpoint']}/@connections/{quote(connection_id, safe='')}"

        def post(signed_body, sent_body):
            request = AWSRequest(
                method="POST",
                url=url,
                data=signed_body,
                headers={"X-Amz-Content-Sha256": hashlib.sha256(signed_body).hexdigest()},
            )
            SigV4Auth(Credentials("AKIDGOOD", "good-secret"), "execute-api", "us-east-1").add_auth(request)
            raw = urllib.request.Request(url, data=sent_body, method="POST", headers=dict(request.headers))
            try:
                with urllib.request.urlopen(raw, timeout=5) as response:
                    return response.status
            except urllib.error.HTTPError as err:
                return err.code

        assert post(b"signed", b"signed") == 200
        assert post(b"signed", b"forged") == 403
        messages = _admin(emu, f"/_emulator/virtual-connections/{quote(connection_id, safe='')}/messages")
        assert [m["data"] for m in messages["messages"]] == ["signed"]
