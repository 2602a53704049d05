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

from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from typing import Any, TypeVar

__all__ = ["HandlerPermissions", "requires_permissions"]

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
