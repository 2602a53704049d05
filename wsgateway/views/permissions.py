"""Per-handler permissions: any-of and all-of lists of Django permission names.

Declare them on the view class::

    class ChatView(WebSocketView):
        allowed_handlers = ("change_channel", "post", "moderate")
        handler_permissions = {"moderate": {"any_of": ["chat.moderate", "chat.admin"]}}

or on the handler method::

    @requires_permissions(all_of=["chat.add_message", "chat.view_room"])
    def post(self, body): ...

A handler passes when the user holds every ``all_of`` permission and, if ``any_of`` is not empty,
at least one of those. Anonymous users hold no permission. Both declarations apply when both
exist. Permission checks use Django's auth backends (``user.has_perm``), which cost queries the
first time a user's permissions are read in a request.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, TypeVar

__all__ = ["HandlerPermissions", "ViewPermissionsMixin", "requires_permissions"]

_ATTRIBUTE = "wsgateway_permissions"
F = TypeVar("F", bound=Callable[..., Any])


@dataclass(frozen=True)
class HandlerPermissions:
    """Who may run a handler."""

    any_of: tuple[str, ...] = ()
    all_of: tuple[str, ...] = ()

    @classmethod
    def from_mapping(cls, value: Mapping[str, Iterable[str]]) -> HandlerPermissions:
        """From ``{"any_of": [...], "all_of": [...]}`` (either key optional, no other key)."""
        unknown = set(value) - {"any_of", "all_of"}
        if unknown:
            raise ValueError(f"Unknown permission keys {sorted(unknown)}; use any_of and all_of.")
        return cls(tuple(value.get("any_of", ())), tuple(value.get("all_of", ())))

    def allows(self, user: Any) -> bool:
        """Whether ``user`` satisfies both lists."""
        if not self.any_of and not self.all_of:
            return True
        if user is None or not getattr(user, "is_authenticated", False):
            return False
        if self.all_of and not all(user.has_perm(p) for p in self.all_of):
            return False
        return not self.any_of or any(user.has_perm(p) for p in self.any_of)


def requires_permissions(*, any_of: Iterable[str] = (), all_of: Iterable[str] = ()) -> Callable[[F], F]:
    """Decorator declaring the permissions a handler method needs."""
    permissions = HandlerPermissions(tuple(any_of), tuple(all_of))

    def decorate(method: F) -> F:
        setattr(method, _ATTRIBUTE, permissions)
        return method

    return decorate


def declared_on(method: Any) -> HandlerPermissions | None:
    """The permissions set on a handler with :func:`requires_permissions`, if any."""
    value = getattr(method, _ATTRIBUTE, None)
    return value if isinstance(value, HandlerPermissions) else None


class ViewPermissionsMixin:
    """The reference package's view-wide permissions, checked on every message.

    ``all_permissions_required`` (the user needs every one) wins over ``permissions_required``
    (any one). With ``CHECK_PERMISSIONS_ON_CONNECT = True`` they are checked on ``$connect`` too.
    Empty lists allow everyone.
    """

    #: The user must hold at least one of these (empty: no requirement).
    permissions_required: Sequence[str] = ()
    #: The user must hold all of these (empty: no requirement).
    all_permissions_required: Sequence[str] = ()
    #: Also apply the two lists to ``$connect``.
    CHECK_PERMISSIONS_ON_CONNECT: bool = False

    def has_any_permission(self, request: Any) -> bool:
        """Whether ``request.user`` holds any of ``permissions_required`` (``True`` when empty)."""
        required = list(self.permissions_required)
        return not required or any(request.user.has_perms([p]) for p in required)

    def has_all_permission(self, request: Any) -> bool:
        """Whether ``request.user`` holds all of ``all_permissions_required`` (``True`` when empty)."""
        return all(request.user.has_perms([p]) for p in self.all_permissions_required)

    def _passes_permission_checks(self, request: Any) -> bool:
        if self.all_permissions_required:
            return self.has_all_permission(request)
        if self.permissions_required:
            return self.has_any_permission(request)
        return True
