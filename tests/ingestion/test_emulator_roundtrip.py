"""connect → message → disconnect through the emulator over a real socket, with Django serving
the integrations on a real port (``live_server``).

The API is created on the emulator through boto3 the way provisioning does it (three HTTP_PROXY
POST integrations with the connection id and the secret mapped, plus a custom route), then a
``websockets`` client connects with the token in the query string and the session cookie and
Origin in the handshake, exactly as a browser would.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from typing import Any

import pytest
from websockets.exceptions import InvalidStatus
from websockets.sync.client import connect
from websockets.typing import Origin

from tests.ingestion.conftest import ORIGIN, SECRET, Browser, wsgateway
from wsgateway.emulator.pytest_plugin import emulator  # noqa: F401  (fixture)
from wsgateway.emulator.server import EmulatorServer
from wsgateway.emulator.testing import WebSocketApi, create_websocket_api
from wsgateway.models import ApiGateway, ApiGatewayAdditionalRoute, ConnectionRateLimit, WebSocketSession

pytestmark = pytest.mark.django_db(transaction=True)


def wait_for(condition: Callable[[], bool], timeout: float = 10.0) -> bool:
    """Poll ``condition`` until it holds or ``timeout`` seconds pass (bounded in time and count)."""
    deadline = time.monotonic() + timeout
    for _ in range(int(timeout / 0.05) + 1):
        if condition():
            return True
        if time.monotonic() > deadline:
            break
        time.sleep(0.05)
    return condition()


@pytest.fixture
def ws_api(emulator: EmulatorServer, live_server: Any) -> WebSocketApi:  # noqa: F811
    api = create_websocket_api(
        emulator.url,
        f"{live_server.url}/custom/ws/",
        stage="production",
        routes=("$connect", "$disconnect", "$default", "chat"),
        secret=SECRET,
        two_way=("$default", "chat"),  # the handlers' answers come back over the socket
    )
    ApiGateway.objects.create(
        api_name="emulated",
        api_id=api.api_id,
        api_endpoint=emulator.ws_url(api.api_id, api.stage).rsplit("/", 1)[0],  # as AWS: no stage
        stage_name=api.stage,
        default_channel_name="lobby",
        target_base_endpoint=f"{live_server.url}/custom/ws/",
        api_created=True,
    )
    return api


def socket_url(emulator: EmulatorServer, api: WebSocketApi, query: str) -> str:  # noqa: F811
    url = emulator.ws_url(api.api_id, api.stage)
    gateway = ApiGateway.objects.filter(api_id=api.api_id).first()
    assert gateway is None or gateway.websocket_url in ("", url)  # what the page mixin hands out
    return f"{url}?{query}"


def test_connect_message_disconnect_round_trip(
    emulator: EmulatorServer,  # noqa: F811
    ws_api: WebSocketApi,
    browser: Browser,
) -> None:
    url = socket_url(emulator, ws_api, f"token={browser.token()}&channel=room-1")
    cookie = f"sessionid={browser.session_key}"
    with connect(url, origin=Origin(ORIGIN), additional_headers={"Cookie": cookie}, open_timeout=10) as ws:
        session = WebSocketSession.objects.get()
        assert session.connected and session.user == browser.user and session.channel_name == "room-1"
        assert session.source_ip == "127.0.0.1"
        assert ConnectionRateLimit.objects.filter(successful=True).count() == 1

        ws.send(json.dumps({"action": "whoami"}))  # no such route: $default, handler from "action"
        assert json.loads(ws.recv(timeout=10)) == {"username": "alice"}
        ws.send(json.dumps({"action": "chat", "text": "hi"}))  # the custom route
        assert json.loads(ws.recv(timeout=10)) == {"route": "chat"}
        ws.send(json.dumps({"handler": "_secret"}))
        refused = json.loads(ws.recv(timeout=10))
        assert refused["error"] == "unknown_handler"
        assert WebSocketSession.objects.get().request_count == 4
        connection_id = session.connection_id

    assert wait_for(lambda: not WebSocketSession.objects.get(connection_id=connection_id).connected)
    assert WebSocketSession.objects.get().disconnected_at is not None


def test_refused_connects_leave_no_session(
    emulator: EmulatorServer,  # noqa: F811
    ws_api: WebSocketApi,
    browser: Browser,
) -> None:
    cookie = {"Cookie": f"sessionid={browser.session_key}"}
    cases = [
        (socket_url(emulator, ws_api, f"token={browser.token()}"), "https://evil.example.org", cookie, 403),
        (socket_url(emulator, ws_api, "token=forged"), ORIGIN, cookie, 401),
        # A cookie of another session (a custom domain sharing the cookie domain sends one).
        (
            socket_url(emulator, ws_api, f"token={browser.token()}"),
            ORIGIN,
            {"Cookie": "sessionid=other"},
            401,
        ),
    ]
    for url, origin, headers, status in cases:
        with pytest.raises(InvalidStatus) as refused:
            connect(url, origin=Origin(origin), additional_headers=headers, open_timeout=10)
        assert refused.value.response.status_code == status
    assert not WebSocketSession.objects.exists()
    assert ConnectionRateLimit.objects.filter(successful=False).count() == 3


def test_gateway_without_the_secret_is_refused(
    emulator: EmulatorServer,  # noqa: F811
    live_server: Any,
    browser: Browser,
) -> None:
    # An API whose integrations do not carry the secret: anyone could have built it.
    api = create_websocket_api(emulator.url, f"{live_server.url}/ws/", stage="production", secret=None)
    ApiGateway.objects.create(api_name="no-secret", api_id=api.api_id)
    url = socket_url(emulator, api, f"token={browser.token()}")
    with pytest.raises(InvalidStatus) as refused:
        connect(
            url,
            origin=Origin(ORIGIN),
            additional_headers={"Cookie": f"sessionid={browser.session_key}"},
            open_timeout=10,
        )
    assert refused.value.response.status_code == 403
    assert not WebSocketSession.objects.exists()


def test_round_trip_on_a_gateway_provisioned_by_wsgateway(
    emulator: EmulatorServer,  # noqa: F811
    live_server: Any,
    browser: Browser,
    settings: Any,
    clean_redis: Any,
) -> None:
    # The provisioning chain (run in-process) builds the API on the emulator; the integrations it
    # creates must carry exactly what the view checks (connection id and secret headers).
    from wsgateway.aws import clear_client_cache
    from wsgateway.provisioning import run_inline

    settings.WSGATEWAY = wsgateway(
        ENDPOINT_URLS={"apigatewayv2": emulator.url},
        DEPLOYMENT_INTERVAL_SECONDS=0,
        CONTROL_PLANE_CALLS_PER_SECOND=1000,
    )
    clear_client_cache()
    try:
        gateway = ApiGateway.objects.create(
            api_name="provisioned",
            target_base_endpoint=f"{live_server.url}/custom/ws/",
            stage_name="production",
            default_channel_name="lobby",
        )
        ApiGatewayAdditionalRoute.objects.create(
            api_gateway=gateway,
            name="Chat",
            route_key="chat",
            integration_url=f"{live_server.url}/custom/ws/chat",
        )
        run_inline("create_gateway", gateway.pk)
        gateway.refresh_from_db()
        assert gateway.api_created and gateway.websocket_url.startswith("ws://")
        url = f"{gateway.websocket_url}?token={browser.token()}"
        with connect(
            url,
            origin=Origin(ORIGIN),
            additional_headers={"Cookie": f"sessionid={browser.session_key}"},
            open_timeout=10,
        ) as ws:
            session = WebSocketSession.objects.get()
            assert session.api_gateway == gateway and session.channel_name == "lobby"
            ws.send(json.dumps({"action": "chat", "text": "hi"}))  # the additional route
            assert wait_for(lambda: WebSocketSession.objects.get().request_count == 2)
        assert wait_for(lambda: not WebSocketSession.objects.get().connected)
    finally:
        clear_client_cache()
