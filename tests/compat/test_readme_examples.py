"""Every Python example of README.md, executed as written (not only compiled).

A snippet may use names the surrounding code of a real project defines (``path`` in a urls.py,
``request`` in a view); those are given to it, the snippet's text is not changed. The sending
example runs against the real database and the test run's Redis broker: its messages must reach
the broker's ``fanout`` queue when the transaction commits.
"""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import pytest
import redis
from django.contrib.auth import get_user_model
from django.test import RequestFactory, override_settings
from django.urls import URLResolver, include, path

from tests.compat.readme import README, python_block
from wsgateway.conf import wsgateway_settings
from wsgateway.models import ApiGateway, WebSocketSession, get_gateway_secrets, get_region_name
from wsgateway.tasks.queues import FANOUT


def test_every_readme_python_block_is_covered_here() -> None:
    blocks = re.findall(r"```python\n(.*?)```", README.read_text(), flags=re.S)
    covered = ("INSTALLED_APPS", "send_message.delay_on_commit", "class ChatView", "import presence")
    assert len(blocks) == len(covered), "a README python block was added: run it in this module"
    for block in blocks:
        assert sum(marker in block for marker in covered) == 1, block


def test_the_settings_example_configures_wsgateway() -> None:
    # A urls.py imports path and include itself; the settings lines need nothing.
    namespace = run_example("INSTALLED_APPS", {"path": path, "include": include})
    assert namespace["INSTALLED_APPS"][-2:] == ["django_celery_beat", "wsgateway"]
    (mounted,) = namespace["urlpatterns"]
    assert isinstance(mounted, URLResolver)
    assert mounted.app_name == "wsgateway"
    with override_settings(WSGATEWAY=namespace["WSGATEWAY"], AWS_REGION_NAME=namespace["AWS_REGION_NAME"]):
        assert get_gateway_secrets() == ["<long random string>"]
        assert wsgateway_settings.ALLOWED_ORIGINS == ["https://www.example.com"]
        assert get_region_name() == "eu-west-1"


def run_example(containing: str, names: dict[str, Any]) -> dict[str, Any]:
    """Run the README block verbatim with ``names`` defined, as the project around it would."""
    namespace: dict[str, Any] = {"__name__": "readme_example", **names}
    exec(compile(python_block(containing), f"README.md ({containing})", "exec"), namespace)  # noqa: S102
    return namespace


def _queued_tasks(client: redis.Redis) -> list[str]:
    return [json.loads(raw)["headers"]["task"] for raw in client.lrange(FANOUT, 0, -1)]


@pytest.mark.django_db(transaction=True)
def test_the_sending_example_runs_and_queues_its_messages(clean_redis: redis.Redis) -> None:
    user = get_user_model().objects.create_user("reader", password="pw")
    gateway = ApiGateway.objects.create(
        api_name="readme", api_id="readme1", target_base_endpoint="https://app.example.com/ws/"
    )
    for n, (channel, owner) in enumerate([("room", None), ("room", user), ("elsewhere", user)]):
        WebSocketSession.objects.create(
            api_gateway=gateway, connection_id=f"conn{n}=", channel_name=channel, user=owner, connected=True
        )
    request = RequestFactory().get("/")
    request.user = user

    # Outside a transaction each line enqueues at once; the README's code runs as written.
    run_example(
        "send_message.delay_on_commit",
        {"sender_connection_id": "conn0=", "request": request, "user": user},
    )

    queued = _queued_tasks(clean_redis)
    assert "wsgateway.send_message" in queued  # send_message.delay_on_commit
    assert "wsgateway.disconnect" in queued  # disconnect_user(user)
    assert len(queued) >= 5, queued


def test_the_readme_chat_view_is_covered_by_the_view_tests() -> None:
    # tests/compat/test_views_readme.py runs the ChatView block through the HTTP stack.
    assert 'run_block("class ChatView")' in Path(__file__).with_name("urls.py").read_text()


@pytest.mark.django_db
def test_the_presence_example_lists_each_user_once_with_their_tabs() -> None:
    from wsgateway import subscriptions

    gateway = ApiGateway.objects.create(api_name="readme", api_id="readme2")
    users = {name: get_user_model().objects.create_user(name, password="pw") for name in ("alice", "bob")}
    rows = [("room-2", "alice"), ("lobby", "alice"), ("room-2", "bob"), ("room-2", None)]
    for n, (channel, owner) in enumerate(rows):
        session = WebSocketSession.objects.create(
            api_gateway=gateway, connection_id=f"tab{n}=", channel_name=channel, user=users.get(owner or "")
        )
        if channel == "lobby":
            subscriptions.subscribe(session, "room-2")  # alice's second tab: subscribed to room-2
    namespace = run_example("import presence", {})
    here = namespace["here"]
    assert [(m.name, m.connections) for m in here.members] == [("alice", 2), ("bob", 1)]
    assert here.anonymous_connections == 1
