"""The WebSocket view's permission checks, without a database (fake users).

The view's other pure checks (gateway secret, origin, host, client address, connection ids,
channel names) are in tests/ingestion/test_security.py, which is marked ``unit`` too.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from types import SimpleNamespace

import pytest

from wsgateway.views.permissions import (
    HandlerPermissions,
    ViewPermissionsMixin,
    declared_on,
    requires_permissions,
)

pytestmark = pytest.mark.unit


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
