"""The attacks of issue 12 on the emulator, each tried as an attacker on localhost would.

Chained, they read the gateway secret from the control plane, list connection ids from the
admin API and impersonate any connected user; or a cross-site page / DNS rebinding drives the
admin API from the victim's browser.
"""

# ruff: noqa: S310  (urllib talks to the local emulator over http on purpose)

from __future__ import annotations

import http.client
import json
import os
import subprocess
import sys
import urllib.error
import urllib.request
from urllib.parse import quote

import pytest
from botocore.exceptions import ClientError

from wsgateway.emulator import EmulatorConfig, EmulatorServer
from wsgateway.emulator.testing import (
    DEFAULT_SECRET,
    RecordingBackend,
    boto3_client,
    create_websocket_api,
    signed_headers,
)

pytestmark = pytest.mark.timeout(60)

GOOD = {"access_key": "AKIDGOOD", "secret_key": "good-secret"}


def _status(request: urllib.request.Request) -> tuple[int, dict[str, str], bytes]:
    try:
        with urllib.request.urlopen(request, timeout=5) as response:
            return response.status, dict(response.headers), response.read()
    except urllib.error.HTTPError as err:
        return err.code, dict(err.headers), err.read()


def test_the_gateway_secret_is_not_readable_without_a_signature(emulator, recording_backend, ws_api):
    request = urllib.request.Request(f"{emulator.url}/v2/apis/{ws_api.api_id}/integrations")
    status, headers, body = _status(request)
    assert status == 403
    assert headers["x-amzn-ErrorType"] == "MissingAuthenticationTokenException"
    assert DEFAULT_SECRET.encode() not in body


def test_the_gateway_secret_is_not_readable_with_someone_elses_credentials(recording_backend):
    with EmulatorServer(EmulatorConfig(port=0, **GOOD)) as emu:
        api = create_websocket_api(emu.url, recording_backend.url("ws/"), client=emu.client("apigatewayv2"))
        stranger = boto3_client("apigatewayv2", emu.url, max_attempts=1)  # the dummy credentials
        with pytest.raises(ClientError) as err:
            stranger.get_integrations(ApiId=api.api_id)
        assert err.value.response["Error"]["Code"] == "UnrecognizedClientException"
        items = emu.client("apigatewayv2").get_integrations(ApiId=api.api_id)["Items"]
        assert items[0]["RequestParameters"]["integration.request.header.X-Ws-Gateway-Secret"]


def test_connection_ids_are_not_listed_without_the_admin_token(emulator):
    status, _headers, body = _status(urllib.request.Request(f"{emulator.url}/_emulator/connections"))
    assert status == 401
    assert b"connectionId" not in body
    wrong = urllib.request.Request(
        f"{emulator.url}/_emulator/connections", headers={"X-Emulator-Admin-Token": "guess"}
    )
    assert _status(wrong)[0] == 401
    assert emulator.admin("connections") == {"items": [], "count": 0}
    # The liveness probe stays open (compose's healthcheck), and reveals nothing.
    health = urllib.request.Request(f"{emulator.url}/_emulator/health")
    assert _status(health)[:3:2] == (200, b'{"ok": true}')


def test_signature_checks_cannot_be_turned_off_at_run_time():
    with EmulatorServer(EmulatorConfig(port=0, **GOOD)) as emu:
        created = emu.admin("virtual-connections", {"count": 1})
        for change in (
            {"access_key": None, "secret_key": None},
            {"secret_key": "known"},
            {"admin_token": ""},
        ):
            with pytest.raises(urllib.error.HTTPError) as err:
                emu.admin("config", change)
            assert err.value.code == 400
            with pytest.raises(ValueError):
                emu.configure(**change)
        forged = boto3_client("apigatewaymanagementapi", created["managementEndpoint"], max_attempts=1)
        with pytest.raises(ClientError) as refused:
            forged.post_to_connection(ConnectionId=created["connectionIds"][0], Data=b"x")
        assert refused.value.response["Error"]["Code"] == "UnrecognizedClientException"
        config = emu.admin("config")
        assert config["access_key"] == "AKIDGOOD" and config["secret_key"] == "***"
        assert config["admin_token"] == "***"


@pytest.mark.parametrize(
    "content_type", ["text/plain", "application/x-www-form-urlencoded", "multipart/form-data; boundary=x"]
)
def test_a_cross_site_form_cannot_drive_the_admin_api(emulator, content_type):
    # What an HTML form on any page can send to http://127.0.0.1:4510 without a CORS preflight.
    form = urllib.request.Request(
        f"{emulator.url}/_emulator/config",
        data=b'{"fail_500": 1}',
        method="POST",
        headers={"Content-Type": content_type},
    )
    assert _status(form)[0] == 401
    # Even with the token a non-JSON body never reaches a handler.
    with_token = urllib.request.Request(
        form.full_url,
        data=form.data,
        method="POST",
        headers={"Content-Type": content_type, "X-Emulator-Admin-Token": emulator.admin_token},
    )
    assert _status(with_token)[0] == 415
    assert emulator.admin("config")["fail_500"] == 0.0
    reset = urllib.request.Request(
        f"{emulator.url}/_emulator/reset", data=b"{}", method="POST", headers={"Content-Type": content_type}
    )
    assert _status(reset)[0] == 401


@pytest.mark.parametrize("path", ["/v2/apis", "/_emulator/connections", "/_emulator/config"])
def test_a_rebound_host_name_is_refused(emulator, path):
    # DNS rebinding: evil.example now resolves to 127.0.0.1; the page talks to us same-origin.
    conn = http.client.HTTPConnection("127.0.0.1", emulator.port, timeout=5)
    headers = {"Host": f"evil.example:{emulator.port}", "X-Emulator-Admin-Token": emulator.admin_token}
    if path.startswith("/v2"):
        # A correctly signed request for that host: only the Host check stands in the way.
        headers.update(signed_headers("GET", f"http://evil.example:{emulator.port}{path}"))
    conn.request("GET", path, headers=headers)
    response = conn.getresponse()
    body = response.read()
    conn.close()
    assert response.status == 403
    assert b"items" not in body and b"fail_429" not in body


def test_a_custom_domain_host_does_not_open_the_control_plane_or_admin(emulator):
    client = emulator.client("apigatewayv2")
    client.create_domain_name(
        DomainName="ws.example.com",
        DomainNameConfigurations=[{"CertificateArn": "arn:aws:acm:us-east-1:123456789012:certificate/x"}],
    )
    conn = http.client.HTTPConnection("127.0.0.1", emulator.port, timeout=5)
    conn.request(
        "GET",
        "/_emulator/connections",
        headers={"Host": "ws.example.com", "X-Emulator-Admin-Token": emulator.admin_token},
    )
    response = conn.getresponse()
    response.read()
    conn.close()
    assert response.status == 403


def test_refuses_to_listen_off_loopback_without_credentials_and_admin_token():
    from wsgateway.emulator.security import InsecureConfigurationError, check_listen_address

    with pytest.raises(InsecureConfigurationError):
        EmulatorServer(EmulatorConfig(host="0.0.0.0", port=0)).start()
    for incomplete in (
        EmulatorConfig(host="0.0.0.0", **GOOD),
        EmulatorConfig(host="192.0.2.10", admin_token="t"),  # no credentials
        EmulatorConfig(host="emulator", access_key="AKID", admin_token="t"),  # no secret key
    ):
        with pytest.raises(InsecureConfigurationError):
            check_listen_address(incomplete)
    check_listen_address(EmulatorConfig(host="0.0.0.0", admin_token="t", **GOOD))
    check_listen_address(EmulatorConfig(host="0.0.0.0", admin_enabled=False, **GOOD))
    for loopback in ("127.0.0.1", "127.3.2.1", "::1", "localhost"):
        check_listen_address(EmulatorConfig(host=loopback))


def test_the_cli_refuses_a_public_address_without_credentials():
    env = {k: v for k, v in os.environ.items() if not k.startswith("WSGATEWAY_EMULATOR_")}
    result = subprocess.run(
        [sys.executable, "-m", "wsgateway.emulator", "--host", "0.0.0.0", "--port", "0"],
        capture_output=True,
        text=True,
        timeout=30,
        env=env,
        check=False,
    )
    assert result.returncode == 2
    assert "refusing to listen" in result.stderr
    assert "listening on" not in result.stdout


def test_connections_needs_a_valid_signature_when_credentials_are_configured():
    with EmulatorServer(EmulatorConfig(port=0, **GOOD)) as emu, RecordingBackend():
        created = emu.admin("virtual-connections", {"count": 1})
        url = f"{created['managementEndpoint']}/@connections/{quote(created['connectionIds'][0], safe='')}"
        looks_signed = urllib.request.Request(
            url,
            data=b"x",
            method="POST",
            headers={
                "Authorization": "AWS4-HMAC-SHA256 Credential=AKIDGOOD/20260101/us-east-1/execute-api/"
                "aws4_request, SignedHeaders=host, Signature=00",
            },
        )
        status, _headers, _body = _status(looks_signed)
        assert status == 403
        good = emu.client("apigatewaymanagementapi", created["managementEndpoint"])
        good.post_to_connection(ConnectionId=created["connectionIds"][0], Data=b"signed")
        messages = emu.admin(f"virtual-connections/{quote(created['connectionIds'][0], safe='')}/messages")
        assert [m["data"] for m in messages["messages"]] == ["signed"]
        assert json.dumps(messages)  # the admin answer is JSON
