"""``checkApiGateway --round-trip`` over WSS/HTTPS: the emulator serves TLS with a certificate of
a throw-away local CA, trusted only through ``AWS_CA_BUNDLE`` (boto3's own setting). Provisioning
(boto3), the WebSocket connect and the broadcast (the fan-out client) all trust that bundle and
nothing else: with another CA in it the connect fails and says why."""

# ruff: noqa: F811  (fixtures imported from the plugin are used as arguments)

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from django.contrib.auth.models import User

from wsgateway.aws.clients import clear_client_cache
from wsgateway.aws.management import close_engine
from wsgateway.emulator.pytest_plugin import emulator_tls, emulator_tls_files  # noqa: F401
from wsgateway.emulator.server import EmulatorServer
from wsgateway.models import ApiGateway, WebSocketSession
from wsgateway.provisioning import run_inline
from wsgateway.roundtrip import RoundTripFailed, round_trip

from .conftest import run, wsgateway_overrides
from .test_round_trip import STAGES, stage_times

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.timeout(60)]


@pytest.fixture
def tls_gateway(
    emulator_tls: EmulatorServer, live_server: Any, settings: Any, clean_redis: Any, monkeypatch: Any
) -> Iterator[ApiGateway]:
    """A gateway provisioned on the HTTPS emulator, its integrations calling the live Django."""
    assert emulator_tls.tls_files is not None
    monkeypatch.setenv("AWS_CA_BUNDLE", emulator_tls.tls_files.ca)
    settings.WSGATEWAY = wsgateway_overrides(ENDPOINT_URLS={"apigatewayv2": emulator_tls.url})
    clear_client_cache()
    close_engine()
    gateway = ApiGateway.objects.create(
        api_name="round-trip-tls", target_base_endpoint=f"{live_server.url}/ws/", stage_name="production"
    )
    run_inline("create_gateway", gateway.pk)
    gateway.refresh_from_db()
    yield gateway
    clear_client_cache()
    close_engine()


def test_round_trip_over_wss_trusts_the_ca_bundle(tls_gateway: ApiGateway) -> None:
    assert tls_gateway.websocket_url.startswith("wss://")
    User.objects.create_user("alice", password="pw")
    output = run("checkApiGateway", "--pk", str(tls_gateway.pk), "--round-trip", "--user", "alice")
    assert tuple(stage_times(output)) == STAGES, output
    assert "matches AWS" in output
    session = WebSocketSession.objects.get()
    assert session.request_count == 2 and not session.connected


def test_round_trip_over_wss_refuses_a_certificate_the_bundle_does_not_trust(
    tls_gateway: ApiGateway, tmp_path: Path, monkeypatch: Any
) -> None:
    import trustme

    other = tmp_path / "other-ca.pem"
    trustme.CA().cert_pem.write_to_path(str(other))
    monkeypatch.setenv("AWS_CA_BUNDLE", str(other))
    user = User.objects.create_user("bob", password="pw")
    with pytest.raises(RoundTripFailed) as failed:
        round_trip(tls_gateway, user, timeout=5)
    assert failed.value.stage == "connect"
    assert "CERTIFICATE_VERIFY_FAILED" in failed.value.reason
    assert not WebSocketSession.objects.exists()
