"""Which method a message runs: handler names live apart from the view's attributes.

A message names a handler (``{"handler": "chat"}``). That name is looked up in the view's
handler table, never with a bare ``getattr``, so a message can only reach methods the class
declared as handlers, and a handler can never replace a method the view itself relies on:

- :func:`handler` registers a method under a message name of its own choosing, so the message
  name ``"post"`` can run a method called ``post_message``;
- a name listed in ``allowed_handlers`` (wsgateway) or ``ALLOWED_HANDLERS`` /
  ``ADDITIONAL_ALLOWED_HANDLERS`` (the reference package) runs the method of that name, unless
  the name is one of the view's own attributes (:func:`protected_names`) or starts with ``_``;
- a class that defines a method named after an HTTP method (``post``, ``get`` …), or that
  lists one of the view's own attributes as a handler *and* redefines it, is refused when the
  class is created (:func:`validate_view_class`), with an error saying what to do instead.

Two calling conventions are supported, told apart by the method's signature
(:func:`takes_request`): wsgateway's ``def name(self, body)`` and the reference package's
``def name(self, request, *args, **kwargs)``.
"""

from __future__ import annotations

import inspect
from collections.abc import Callable
from functools import cache
from typing import Any, TypeVar

from django.core.exceptions import ImproperlyConfigured
from django.views import View

__all__ = [
    "BASE_HANDLERS",
    "HTTP_METHOD_NAMES",
    "automatic_handlers",
    "handler",
    "listed_handler_names",
    "protected_names",
    "registered_handlers",
    "takes_request",
    "validate_view_class",
]

F = TypeVar("F", bound=Callable[..., Any])

_REGISTERED = "wsgateway_handler_name"

#: Handlers the base view provides; a message may select them although the view defines them.
BASE_HANDLERS = frozenset({"default", "change_channel", "heartbeat"})
#: Every HTTP method name Django's ``View`` knows: never a handler, never redefined.
HTTP_METHOD_NAMES = frozenset(View.http_method_names)
# Attributes the view sets on itself while it handles an event (``View.setup`` and ours).
_INSTANCE_ATTRIBUTES = frozenset({"request", "args", "kwargs", "head", "refusal"})


def handler(name: str | None = None) -> Callable[[F], F]:
    """Register the decorated method as the handler for messages naming ``name``.

    ``name`` defaults to the method's own name. The message name is independent of the method
    name, so any name a client should send works, e.g. ``@handler("post") def post_message``.
    """

    def register(method: F) -> F:
        setattr(method, _REGISTERED, name or method.__name__)
        return method

    return register


def registered_handlers(cls: type) -> dict[str, str]:
    """Message name -> method name for every :func:`handler` on ``cls`` and its bases."""
    table: dict[str, str] = {}
    for klass in reversed(cls.__mro__):
        for attribute, value in vars(klass).items():
            name = getattr(value, _REGISTERED, None)
            if isinstance(name, str):
                table[name] = attribute
    return table


@cache
def protected_names(base: type) -> frozenset[str]:
    """Names a message may never select by attribute: everything ``base`` (the view) defines or
    sets on itself, and every HTTP method name, except :data:`BASE_HANDLERS`."""
    names = set(dir(base)) | set(getattr(base, "__annotations__", {})) | _INSTANCE_ATTRIBUTES
    return frozenset((names | HTTP_METHOD_NAMES) - BASE_HANDLERS)


@cache
def takes_request(function: Callable[..., Any]) -> bool:
    """Whether a handler uses the reference's convention ``(self, request, *args, **kwargs)``.

    wsgateway's convention is ``(self, body)``. A first parameter named ``request``, or ``*args``
    in its place, means the reference's.
    """
    try:
        parameters = list(inspect.signature(function).parameters.values())
    except (TypeError, ValueError):
        return False
    if parameters and parameters[0].name == "self":
        parameters = parameters[1:]
    if not parameters:
        return False
    first = parameters[0]
    return first.name == "request" or first.kind is inspect.Parameter.VAR_POSITIONAL


def automatic_handlers(cls: type, base: type) -> tuple[str, ...]:
    """The reference's handler list for a class without ``ALLOWED_HANDLERS``: the public
    functions the class itself defines in the reference's convention, minus the view's own names.

    Only ``(self, request, …)`` methods count, so a wsgateway-style helper method is never
    exposed by accident (system check ``wsgateway.W005`` reports views that rely on this).
    Computed once per class (views are instantiated per request).
    """
    found = _AUTOMATIC.get(cls)
    if found is None:
        protected = protected_names(base)
        found = tuple(
            name
            for name, value in vars(cls).items()
            if not name.startswith("_")
            and name not in protected
            and inspect.isfunction(value)
            and takes_request(value)
        )
        _AUTOMATIC[cls] = found
    return found


_AUTOMATIC: dict[type, tuple[str, ...]] = {}


def listed_handler_names(cls: type) -> set[str]:
    """Every name ``cls`` lists as a handler, in either package's attributes."""
    listed: set[str] = set(getattr(cls, "allowed_handlers", ()) or ())
    listed |= set(getattr(cls, "ALLOWED_HANDLERS", ()) or ())
    listed |= set(getattr(cls, "ADDITIONAL_ALLOWED_HANDLERS", ()) or ())
    return {name for name in listed if isinstance(name, str)}


def unusable_listed_names(cls: type, base: type) -> list[str]:
    """Listed names no message can ever run (``_`` names and the view's own attributes)."""
    protected = protected_names(base)
    return sorted(n for n in listed_handler_names(cls) if n.startswith("_") or n in protected)


def validate_view_class(cls: type, base: type) -> None:
    """Refuse, when the class is created, a handler that would replace part of the view.

    :raises ImproperlyConfigured: naming the class, the method and the fix.
    """
    own = vars(cls)
    for name in sorted(HTTP_METHOD_NAMES & set(own)):
        if callable(own[name]):
            raise ImproperlyConfigured(
                f"{cls.__qualname__}.{name}() would replace the view's HTTP {name.upper()} method, "
                f"so API Gateway's requests would call it instead of the view. Give the method another "
                f"name and register the message name with @handler({name!r})."
            )
    protected = protected_names(base)
    for name in sorted(listed_handler_names(cls) & protected & set(own)):
        raise ImproperlyConfigured(
            f"{cls.__qualname__} lists {name!r} as a handler and redefines it, but {name!r} is part of "
            f"the view itself. Give the method another name and register the message name with "
            f"@handler({name!r})."
        )
    # The base view's own registered handlers (e.g. recovery's "wsgateway.resume") are its API.
    inherited = registered_handlers(base)
    for message_name, attribute in registered_handlers(cls).items():
        if inherited.get(message_name) == attribute:
            continue
        if not message_name or message_name.startswith("_"):
            raise ImproperlyConfigured(
                f"{cls.__qualname__}.{attribute}: a handler name may not be empty or start with '_' "
                f"(got {message_name!r})."
            )
        if attribute in protected:
            raise ImproperlyConfigured(
                f"{cls.__qualname__}.{attribute} is registered as a handler but {attribute!r} is part of "
                f"the view itself; give the method another name."
            )
