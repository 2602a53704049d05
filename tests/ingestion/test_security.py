"""The pure checks of wsgateway.security."""

from __future__ import annotations

import pytest
from django.test import RequestFactory, override_settings

from tests.ingestion.conftest import wsgateway
from wsgateway import security

pytestmark = pytest.mark.unit  # pure: part of the fast tier (tests/unit/conftest.py)


@pytest.mark.parametrize(
    ("origin", "normal"),
    [
        ("https://App.Example.com", "https://app.example.com"),
        ("https://app.example.com:443", "https://app.example.com"),
        ("http://app.example.com:80/", "http://app.example.com"),
        ("http://localhost:8000", "http://localhost:8000"),
        ("http://[::1]:8000", "http://[::1]:8000"),
        ("https://app.example.com/path", None),
        ("https://user@app.example.com", None),
        ("https://app.example.com?x=1", None),
        ("https://app.example.com:99999", None),
        ("app.example.com", None),
        ("null", None),
        ("", None),
    ],
)
def test_normalise_origin(origin: str, normal: str | None) -> None:
    assert security.normalise_origin(origin) == normal


def test_origin_is_matched_exactly_never_by_substring() -> None:
    assert security.origin_allowed("https://app.example.com")
    assert security.origin_allowed(None)  # non-browser client
    for origin in ("https://app.example.com.evil.org", "https://evilapp.example.com", "https://example.com"):
        assert not security.origin_allowed(origin)


@pytest.mark.parametrize(
    ("host", "patterns", "ok"),
    [
        ("ws.example.com", [".example.com"], True),
        ("example.com", [".example.com"], True),
        ("evilexample.com", [".example.com"], False),
        ("anything.org", ["*"], True),
        ("api.example.com:8443", ["api.example.com"], True),
        ("[::1]:8000", ["[::1]"], True),
        ("bad host", ["*"], False),
        ("", ["*"], False),
    ],
)
def test_host_validation_uses_djangos_rules(host: str, patterns: list[str], ok: bool) -> None:
    request = RequestFactory().post("/ws/connect", HTTP_HOST=host)
    with override_settings(WSGATEWAY=wsgateway(ALLOWED_HOSTS=patterns)):
        assert security.host_allowed(request) is ok


def test_host_falls_back_to_djangos_allowed_hosts() -> None:
    request = RequestFactory().post("/", HTTP_HOST="x.example.com")
    assert security.host_allowed(request)  # tests.settings.ALLOWED_HOSTS has ".example.com"
    with override_settings(ALLOWED_HOSTS=["other.org"]):
        assert not security.host_allowed(request)
    with override_settings(ALLOWED_HOSTS=[], DEBUG=True):
        assert security.host_allowed(RequestFactory().post("/", HTTP_HOST="localhost:8000"))
        assert not security.host_allowed(request)


@pytest.mark.parametrize(
    ("xff", "hops", "ip"),
    [
        ("203.0.113.7", 1, "203.0.113.7"),
        ("6.6.6.6, 203.0.113.7", 1, "203.0.113.7"),  # the client's own entry is ignored
        ("6.6.6.6, 203.0.113.7, 10.0.0.2", 2, "203.0.113.7"),
        ("2001:db8::1", 1, "2001:db8::1"),
        (" 203.0.113.7 ", 1, "203.0.113.7"),
    ],
)
def test_client_ip_from_trusted_hops(xff: str, hops: int, ip: str) -> None:
    request = RequestFactory().post("/", HTTP_X_FORWARDED_FOR=xff)
    assert security.client_ip(request, hops) == ip


def test_client_ip_with_no_proxy_is_the_peer() -> None:
    request = RequestFactory().post("/", HTTP_X_FORWARDED_FOR="6.6.6.6", REMOTE_ADDR="192.0.2.1")
    assert security.client_ip(request, 0) == "192.0.2.1"


@pytest.mark.parametrize(("xff", "hops"), [("", 1), ("203.0.113.7", 2), ("garbage", 1), ("1.2.3.4,", 1)])
def test_client_ip_errors(xff: str, hops: int) -> None:
    request = RequestFactory().post("/", HTTP_X_FORWARDED_FOR=xff)
    with pytest.raises(security.ClientIpError):
        security.client_ip(request, hops)


@pytest.mark.parametrize(
    ("cid", "ok"),
    [
        ("L0SM9cOFvHcCIhw=", True),
        ("a-b_c+/=", True),
        ("", False),
        ("x\n", False),
        ("a b", False),
        ("é", False),
    ],
)
def test_connection_id_format(cid: str, ok: bool) -> None:
    assert security.connection_id_valid(cid) is ok


@pytest.mark.parametrize(
    ("name", "ok"),
    [
        ("", True),
        ("lobby", True),
        ("Shared Channel Name", True),
        ("room:42/a@b#c", True),
        ("x" * 128, True),
        ("x" * 129, False),
        (" lead", False),
        ("trail ", False),
        ("new\nline", False),
        ("lobby\n", False),
        ("semi;colon", False),
    ],
)
def test_channel_name_format(name: str, ok: bool) -> None:
    assert security.channel_name_valid(name) is ok


def test_secret_rotation_and_fail_closed() -> None:
    factory = RequestFactory()
    assert security.secret_is_valid(factory.post("/", HTTP_X_WS_GATEWAY_SECRET="test-secret-current"))
    assert security.secret_is_valid(factory.post("/", HTTP_X_WS_GATEWAY_SECRET="test-secret-previous"))
    assert not security.secret_is_valid(factory.post("/", HTTP_X_WS_GATEWAY_SECRET="test-secret"))
    assert not security.secret_is_valid(factory.post("/"))
    with override_settings(WSGATEWAY=wsgateway(SECRET_HEADER="X-Other")):
        assert security.secret_is_valid(factory.post("/", HTTP_X_OTHER="test-secret-current"))
        assert not security.secret_is_valid(factory.post("/", HTTP_X_WS_GATEWAY_SECRET="test-secret-current"))
