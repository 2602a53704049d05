"""A handler can never replace an HTTP method or any other part of the view."""

from __future__ import annotations

from typing import Any

import pytest
from django.core.exceptions import ImproperlyConfigured

from wsgateway.views import WebSocketView, handler


@pytest.mark.parametrize("method", ["post", "get", "put", "delete", "options", "head"])
def test_redefining_an_http_method_is_refused_at_class_creation(method: str) -> None:
    def body(self: Any, body: dict[str, Any]) -> None:
        return None

    with pytest.raises(ImproperlyConfigured, match=rf"\.{method}\(\) would replace the view's HTTP"):
        type("Broken", (WebSocketView,), {method: body, "allowed_handlers": (method,)})


@pytest.mark.parametrize("name", ["reply", "send_to_channel", "dispatch", "setup", "connect", "refused"])
def test_listing_and_redefining_a_view_method_is_refused(name: str) -> None:
    def body(self: Any, *args: Any, **kwargs: Any) -> None:
        return None

    with pytest.raises(ImproperlyConfigured, match=rf"lists '{name}' as a handler and redefines it"):
        type("Broken", (WebSocketView,), {name: body, "ALLOWED_HANDLERS": {name}})


def test_overriding_a_hook_without_listing_it_is_fine() -> None:
    def connect(self: Any, request: Any, *args: Any, **kwargs: Any) -> Any:
        return None

    view = type("Hooked", (WebSocketView,), {"connect": connect})
    assert view.connect is connect


def test_registered_names_must_be_public_and_methods_not_part_of_the_view() -> None:
    with pytest.raises(ImproperlyConfigured, match="may not be empty or start with '_'"):

        class Private(WebSocketView):
            @handler("_x")
            def x(self, body: dict[str, Any]) -> None: ...

    with pytest.raises(ImproperlyConfigured, match="is part of the view itself"):

        class Reply(WebSocketView):
            @handler("say")
            def reply(self, body: dict[str, Any]) -> None: ...  # type: ignore[override]


def test_a_registered_name_may_be_anything_public() -> None:
    class Chat(WebSocketView):
        @handler("post")
        def post_message(self, body: dict[str, Any]) -> None: ...

        @handler()
        def wave(self, body: dict[str, Any]) -> None: ...

    # The base view's own (recovery's "wsgateway.resume") come along.
    own = {"post": "post_message", "wave": "wave", **WebSocketView._registered_handlers}
    assert Chat._registered_handlers == own
    # Subclasses inherit them.
    assert type("More", (Chat,), {})._registered_handlers == own
