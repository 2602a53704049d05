"""The WebSocket view's checks that need no database: secret, origin, host, client address, ids,
channel names and handler permissions."""

from __future__ import annotations

from dataclasses import dataclass, field
from types import SimpleNamespace

import pytest
from django.test import RequestFactory, override_settings

from wsgateway import security
from wsgateway.views.permissions import (
    HandlerPermissions,
    ViewPermissionsMixin,
    declared_on,
    requires_permissions,
)

pytestmark = pytest.mark.unit

factory = RequestFactory()


def test_the_gateway_secret_is_required_and_rotation_accepts_both() -> None:
    header = "HTTP_X_WSGATEWAY_SECRET"
    with override_settings(
        WSGATEWAY={"GATEWAY_SECRETS": ["new", "old"], "SECRET_HEADER": "X-Wsgateway-Secret"}
    ):
        assert security.secret_is_valid(factory.post("/", **{header: "new"}))
        assert security.secret_is_valid(factory.post("/", **{header: "old"}))
        assert not security.secret_is_valid(factory.post("/", **{header: "neww"}))
        assert not security.secret_is_valid(factory.post("/"))
    with override_settings(WSGATEWAY={"GATEWAY_SECRETS": []}, DEBUG=False):
        assert not security.secret_is_valid(factory.post("/"))  # no secret configured: fail closed


@pytest.mark.parametrize(
    ("origin", "normalised"),
    [
        ("HTTPS://Example.COM", "https://example.com"),
        ("https://example.com:443", "https://example.com"),
        ("http://example.com:8080/", "http://example.com:8080"),
        ("https://[::1]:8443", "https://[::1]:8443"),
        ("https://example.com/path", None),
        ("https://user@example.com", None),
        ("https://example.com:99999", None),
        ("null", None),
        ("", None),
    ],
)
def test_origins_are_normalised_or_refused(origin: str, normalised: str | None) -> None:
    assert security.normalise_origin(origin) == normalised


def test_origins_match_exactly_never_by_suffix() -> None:
    with override_settings(WSGATEWAY={"ALLOWED_ORIGINS": ["https://app.example.com"]}):
        assert security.origin_allowed(None)  # not a browser
        assert security.origin_allowed("https://APP.example.com:443")
        assert not security.origin_allowed("https://evil-app.example.com")
        assert not security.origin_allowed("https://app.example.com.evil.net")
        assert not security.origin_allowed("null")
    with override_settings(WSGATEWAY={"ALLOWED_ORIGINS": []}, DEBUG=True):
        assert security.origin_allowed("https://anything.example")
    with override_settings(WSGATEWAY={"ALLOWED_ORIGINS": []}, DEBUG=False):
        assert not security.origin_allowed("https://anything.example")


def test_hosts_follow_djangos_matching() -> None:
    with override_settings(WSGATEWAY={"ALLOWED_HOSTS": [".example.com"]}):
        assert security.host_allowed(factory.post("/", HTTP_HOST="api.example.com"))
        assert security.host_allowed(factory.post("/", HTTP_HOST="example.com:8443"))
        assert not security.host_allowed(factory.post("/", HTTP_HOST="example.com.evil.net"))


def test_client_address_is_taken_at_the_trusted_hop() -> None:
    request = factory.post("/", HTTP_X_FORWARDED_FOR="6.6.6.6, 203.0.113.7, 10.0.0.1", REMOTE_ADDR="10.0.0.2")
    assert security.client_ip(request, trusted_hops=0) == "10.0.0.2"
    assert security.client_ip(request, trusted_hops=1) == "10.0.0.1"
    assert security.client_ip(request, trusted_hops=2) == "203.0.113.7"
    with pytest.raises(security.ClientIpError, match="4 trusted proxy hops"):
        security.client_ip(request, trusted_hops=4)
    with pytest.raises(security.ClientIpError, match="not an IP address"):
        security.client_ip(factory.post("/", HTTP_X_FORWARDED_FOR="localhost"), trusted_hops=1)


@pytest.mark.parametrize(
    ("connection_id", "valid"),
    [
        ("L0SM9cOFvHcCIhw=", True),
        ("a-b_c/d+e=", True),
        ("", False),
        (None, False),
        ("a b", False),
        ("a\n", False),
    ],
)
def test_connection_id_shape(connection_id: str | None, valid: bool) -> None:
    assert security.connection_id_valid(connection_id) is valid


@pytest.mark.parametrize(
    ("name", "valid"),
    [
        ("", True),
        ("Shared Channel Name", True),
        ("room:42", True),
        (" room", False),
        ("room ", False),
        ("a" * 129, False),
    ],
)
def test_channel_name_shape(name: str, valid: bool) -> None:
    assert security.channel_name_valid(name) is valid


@dataclass
class FakeUser:
    """A user holding ``perms``; ``is_authenticated`` like Django's users."""

    perms: set[str] = field(default_factory=set)
    is_authenticated: bool = True

    def has_perm(self, perm: str) -> bool:
        return perm in self.perms

    def has_perms(self, perms: list[str]) -> bool:
        return all(p in self.perms for p in perms)


def test_handler_permissions_any_of_and_all_of() -> None:
    rule = HandlerPermissions(any_of=("chat.read", "chat.admin"), all_of=("chat.use",))
    assert rule.allows(FakeUser({"chat.use", "chat.read"}))
    assert not rule.allows(FakeUser({"chat.read"}))
    assert not rule.allows(FakeUser({"chat.use"}))
    assert not rule.allows(FakeUser({"chat.use", "chat.read"}, is_authenticated=False))
    assert HandlerPermissions().allows(None)
    assert HandlerPermissions.from_mapping({"all_of": ["x"]}) == HandlerPermissions(all_of=("x",))
    with pytest.raises(ValueError, match="Unknown permission keys"):
        HandlerPermissions.from_mapping({"one_of": ["x"]})


def test_requires_permissions_is_read_back_from_the_handler() -> None:
    @requires_permissions(any_of=["chat.read"])
    def handler() -> None: ...

    assert declared_on(handler) == HandlerPermissions(any_of=("chat.read",))
    assert declared_on(lambda: None) is None


def test_view_wide_lists_all_of_wins_over_any_of() -> None:
    class View(ViewPermissionsMixin):
        permissions_required = ("a", "b")
        all_permissions_required = ("c",)

    view = View()
    assert view._passes_permission_checks(SimpleNamespace(user=FakeUser({"c"})))
    assert not view._passes_permission_checks(SimpleNamespace(user=FakeUser({"a", "b"})))
    View.all_permissions_required = ()
    assert view._passes_permission_checks(SimpleNamespace(user=FakeUser({"b"})))
    assert not view._passes_permission_checks(SimpleNamespace(user=FakeUser(set())))
