"""The fan-out client over HTTPS with certificate verification on (the only path production uses).

The emulator serves TLS with a certificate of a throw-away local CA for ``gateway.example.com``;
the client trusts a CA only through ``AWS_CA_BUNDLE``. With the right CA a broadcast is delivered;
with a certificate it cannot verify (another CA, or a name the certificate does not cover) it
delivers nothing and says so: every recipient is counted failed, the summary completes and the log
names CERTIFICATE_VERIFY_FAILED. Nothing reaches the emulator and nothing is silently lost.
"""

from __future__ import annotations

import logging
import ssl
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.fanout.conftest import (
    TLS_HOST,
    InlineFanout,
    make_gateway,
    make_sessions,
    received,
    virtual_connections,
    wsgateway_overrides,
)
from wsgateway.aws.management import Endpoint, close_engine, get_engine
from wsgateway.emulator.server import EmulatorServer
from wsgateway.fanout.results import get_broadcast_summary
from wsgateway.models import ApiGateway, WebSocketSession

pytestmark = [
    pytest.mark.django_db,
    pytest.mark.timeout(60),
    pytest.mark.parametrize("emulator_scheme", ["https"]),
]

N = 5


@pytest.fixture(autouse=True)
def fresh_engine() -> Iterator[None]:
    """Pools (and their TLS contexts) made under another test's AWS_CA_BUNDLE are not reused."""
    close_engine()
    yield
    close_engine()


@pytest.fixture
def other_ca(tmp_path: Path) -> str:
    """A CA bundle holding only a CA that did not sign the emulator's certificate."""
    import trustme

    path = tmp_path / "other-ca.pem"
    trustme.CA().cert_pem.write_to_path(str(path))
    return str(path)


def room(emulator: EmulatorServer) -> tuple[ApiGateway, list[str]]:
    info = virtual_connections(emulator, N)
    gateway = make_gateway(emulator, info["apiId"])
    make_sessions(gateway, info["connectionIds"])
    return gateway, list(info["connectionIds"])


def send_until_settled(inline: InlineFanout, data: dict[str, str]) -> str:
    """Broadcast to every live session, then run the collected retries (bounded) until none."""
    message_id = inline.send(WebSocketSession.objects.filter(connected=True), data)
    for _ in range(5):
        if not inline.run_retries():
            break
    return message_id


def test_broadcast_over_https_verifies_the_certificate_and_delivers(emulator, inline) -> None:
    gateway, ids = room(emulator)
    assert gateway.management_endpoint_url.startswith(f"https://{TLS_HOST}/")
    message_id = send_until_settled(inline, {"over": "tls"})
    summary = get_broadcast_summary(message_id)
    assert (summary["delivered"], summary["failed"], summary["complete"]) == (N, 0, True)
    assert all(received(emulator, c) == [{"over": "tls", "message_id": message_id}] for c in ids)
    # The pooled client of that endpoint verified: the CA from AWS_CA_BUNDLE, the name checked.
    client = get_engine().client(Endpoint.from_url(gateway.management_endpoint_url))
    context = client._ssl
    assert context is not None and context.verify_mode == ssl.CERT_REQUIRED and context.check_hostname
    assert client.endpoint.host == TLS_HOST and client.endpoint.connect_host == "127.0.0.1"


def assert_every_recipient_failed(
    emulator: EmulatorServer, inline: InlineFanout, caplog: pytest.LogCaptureFixture, ids: list[str]
) -> None:
    with (
        caplog.at_level(logging.WARNING, logger="wsgateway.fanout"),
        wsgateway_overrides(FANOUT_MAX_RETRIES=1),
    ):
        message_id = send_until_settled(inline, {"never": "delivered"})
    summary = get_broadcast_summary(message_id)
    assert summary["complete"] is True, summary
    assert (summary["targeted"], summary["delivered"], summary["failed"]) == (N, 0, N), summary
    assert summary["failed_by"] == {"no_answer": N}
    failures = [m for m in caplog.messages if f"message_id={message_id}" in m and "failed=" in m]
    assert failures and all("CERTIFICATE_VERIFY_FAILED" in m for m in failures), caplog.messages
    assert f"failed={N} status=no_answer" in failures[-1]
    # No request got through the handshake: the emulator answered nothing, delivered nothing.
    assert not any(key.startswith("management.") for key in emulator.stats()), emulator.stats()
    assert all(received(emulator, c) == [] for c in ids)
    # The sessions stay live: a certificate problem is not a gone client.
    assert WebSocketSession.objects.filter(connection_id__in=ids, connected=True).count() == N


def test_an_untrusted_certificate_delivers_nothing_and_reports_every_recipient_failed(
    emulator, inline, caplog, other_ca, monkeypatch
) -> None:
    _, ids = room(emulator)
    monkeypatch.setenv("AWS_CA_BUNDLE", other_ca)
    assert_every_recipient_failed(emulator, inline, caplog, ids)


def test_a_certificate_for_another_name_delivers_nothing_and_reports_every_recipient_failed(
    emulator, inline, caplog
) -> None:
    # The right CA, but the endpoint's name is not on the certificate: the hostname check refuses.
    info = virtual_connections(emulator, N)
    wrong_name = "other.example.org"
    gateway = ApiGateway.objects.create(
        api_name="wrong-name",
        api_id=info["apiId"],
        api_endpoint=f"wss://{wrong_name}/{info['apiId']}",
        stage_name="test",
        api_created=True,
    )
    make_sessions(gateway, info["connectionIds"])
    with wsgateway_overrides(MANAGEMENT_ENDPOINT_OVERRIDES={wrong_name: emulator.url}):
        assert_every_recipient_failed(emulator, inline, caplog, list(info["connectionIds"]))
