"""The README's ChatView, run verbatim from README.md, and why its old form can no longer break."""

from __future__ import annotations

import json
from typing import Any

import pytest
import redis
from django.core.exceptions import ImproperlyConfigured

from tests.compat.readme import python_block, run_block
from tests.ingestion.conftest import (
    Browser,
    EventClient,
    error_code,
    make_browser,
    new_connection_id,
    queued_tasks,
)
from wsgateway.views import WebSocketView

pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("compat_urls")]


def open_socket(events: EventClient, browser: Browser) -> str:
    events.base = "/readme/ws/"
    cid = new_connection_id()
    response = events.open(browser, cid)
    assert response.status_code == 200, response.content
    return cid


def test_the_readme_chat_view_posts_to_the_channel(
    events: EventClient, broker: redis.Redis, django_capture_on_commit_callbacks: Any
) -> None:
    browser = make_browser("root", is_superuser=True)  # holds chat.add_message
    cid = open_socket(events, browser)
    with django_capture_on_commit_callbacks(execute=True):
        response = events.message(cid, {"action": "post", "text": "hello"})
    assert response.status_code == 200, response.content
    assert json.loads(response.content) == {"status": "ok"}
    [(task, args, _kwargs)] = queued_tasks(broker)
    assert task == "wsgateway.send_to_sessions"
    target, _message_id, body = args
    assert target["channel_name"] == "lobby" and cid in target["exclude"]
    assert json.loads(body)["type"] == "post" and json.loads(body)["text"] == "hello"


def test_the_readme_chat_view_checks_the_permission(events: EventClient, browser: Browser) -> None:
    cid = open_socket(events, browser)
    response = events.message(cid, {"action": "post", "text": "hello"})
    assert response.status_code == 403 and error_code(response) == "permission_denied"


@pytest.mark.parametrize("name", ["post_message", "dispatch", "setup", "reply", "send_to_channel", "get"])
def test_method_names_are_not_message_names(events: EventClient, name: str) -> None:
    browser = make_browser("root", is_superuser=True)
    cid = open_socket(events, browser)
    response = events.message(cid, {"action": name, "text": "x"})
    assert response.status_code == 400 and error_code(response) == "unknown_handler"


def test_http_still_reaches_the_view(events: EventClient) -> None:
    events.base = "/readme/ws/"
    assert events.client.get("/readme/ws/default").status_code == 405


def test_the_old_readme_example_is_refused_when_the_class_is_created() -> None:
    # What the README showed before: a handler called post() replaced View.post, and every event
    # then failed with TypeError: unexpected keyword argument 'route'.
    old = (
        python_block("class ChatView").replace('@handler("post")', "").replace("def post_message", "def post")
    )
    assert "def post(self, body)" in old
    with pytest.raises(ImproperlyConfigured, match=r"ChatView\.post\(\) would replace the view's HTTP POST"):
        exec(compile(old, "old README", "exec"), {"__name__": "old_readme"})  # noqa: S102


def test_the_readme_block_is_what_the_urls_run() -> None:
    assert issubclass(run_block("class ChatView")["ChatView"], WebSocketView)
