"""The one-command demo, end to end in a real browser.

``python -m worker.demo`` starts the embedded Redis, the emulator, Django (gunicorn), a Celery
worker and beat, provisions the demo gateway through the real provisioning chain, and prints the
URL. Then headless Chromium (Qt WebEngine's, from PyPI: see ``tests/browser``) logs alice and bob
into the same room: alice's message shows on bob's
page; bob's socket, closed by the server, reconnects by itself and still receives messages.
Finally Ctrl-C must leave no process behind. Screenshots go to ``test-artifacts/``.
"""

from __future__ import annotations

import collections
import contextlib
import json
import re
import signal
import urllib.request
from collections.abc import Callable, Iterator

import boto3
import pytest

from tests.browser import Browser, BrowserError
from tests.demo.conftest import ARTIFACTS, PASSWORD, DemoProcess, left_running, processes_in_groups
from tests.waiting import wait_until

pytestmark = [pytest.mark.slow, pytest.mark.timeout(300)]

WAIT = 20.0
#: One start-up step of the demo (a Python interpreter starting) on a loaded CI machine.
STEP = 60.0


def test_the_login_page_is_served(demo: DemoProcess) -> None:
    with urllib.request.urlopen(f"{demo.url}/accounts/login/", timeout=10) as answer:  # noqa: S310
        body = answer.read().decode()
    assert answer.status == 200
    assert 'id="login-form"' in body
    # The gateway was provisioned through the worker against the emulator.
    rows = demo.query("SELECT provisioning_status, api_id, target_base_endpoint FROM wsgateway_apigateway")
    assert rows == [("deployed", rows[0][1], f"{demo.url}/ws/")]
    assert rows[0][1]


@pytest.fixture
def browser_factory() -> Iterator[Callable[[], Browser]]:
    """Headless browser windows (separate processes, so separate cookies); all closed afterwards."""
    browsers: list[Browser] = []

    def make() -> Browser:
        browser = Browser(timeout=WAIT)
        browsers.append(browser)
        return browser

    yield make
    for browser in browsers:
        browser.close()


def log_in(page: Browser, demo: DemoProcess, username: str, room: str = "lobby", host: str = "") -> None:
    base = demo.url.replace("127.0.0.1", host) if host else demo.url
    page.get(f"{base}/accounts/login/?next=/rooms/{room}/")
    page.type_into("#id_username", username)
    page.type_into("#id_password", PASSWORD)
    page.click("#login-submit")
    page.wait_for("document.getElementById('status')?.textContent === 'open'", f"{username}'s socket open")
    assert page.text("#whoami") == username


def say(page: Browser, text: str) -> None:
    page.type_into("#message-input", text)
    page.click("#message-send")


def texts(page: Browser) -> list[str]:
    return page.texts("#messages li.message .text")


def wait_for_text(page: Browser, text: str) -> None:
    expression = (
        "Array.from(document.querySelectorAll('#messages li.message .text'))"
        f".some(e => e.textContent.trim() === {json.dumps(text)})"
    )
    page.wait_for(expression, f"{text!r} shown (shown: {texts(page)})")


def presence_is(names: list[str]) -> str:
    """A JavaScript condition: the presence list shows exactly ``names``."""
    return (
        "JSON.stringify(Array.from(document.querySelectorAll('#presence li'), e => e.textContent.trim()))"
        f" === {json.dumps(json.dumps(names, separators=(',', ':')))}"
    )


def live_sessions(demo: DemoProcess, username: str) -> list[tuple[str, int]]:
    return demo.query(
        "SELECT s.connection_id, s.request_count FROM wsgateway_websocketsession s "
        "JOIN auth_user u ON u.id = s.user_id WHERE u.username = ? AND s.connected ORDER BY s.id",
        username,
    )


def close_at_gateway(demo: DemoProcess, connection_id: str) -> None:
    """``DELETE @connections/{id}`` through the management API, as the fan-out worker does."""
    api_id, stage = demo.query("SELECT api_id, stage_name FROM wsgateway_apigateway")[0]
    client = boto3.client(
        "apigatewaymanagementapi",
        endpoint_url=f"{demo.emulator_url}/{api_id}/{stage}",
        region_name="us-east-1",
        aws_access_key_id="demo",
        aws_secret_access_key="demo",
    )
    client.delete_connection(ConnectionId=connection_id)


def save_artifacts(name: str, page: Browser) -> None:
    ARTIFACTS.mkdir(exist_ok=True)
    with contextlib.suppress(BrowserError):  # a window that is gone still leaves its console log
        page.screenshot(ARTIFACTS / f"{name}.png")
    (ARTIFACTS / f"{name}-console.json").write_text(json.dumps(page.console, indent=1))


def test_two_browsers_chat_and_a_closed_socket_reconnects(demo: DemoProcess, browser_factory) -> None:
    alice, bob = browser_factory(), browser_factory()
    try:
        log_in(alice, demo, "alice")
        log_in(bob, demo, "bob")
        alice.wait_for(presence_is(["alice", "bob"]), "presence list")

        say(alice, "hello from alice")
        wait_for_text(bob, "hello from alice")
        wait_for_text(alice, "hello from alice")  # fanned out to the sender's page too
        save_artifacts("demo-chat-bob", bob)

        # The server closes bob's socket; his page reconnects with a fresh token by itself.
        ((old_connection, _count),) = live_sessions(demo, "bob")
        close_at_gateway(demo, old_connection)
        bob.wait_for(
            "document.getElementById('status').dataset.connections === '2'"
            " && document.getElementById('status').textContent === 'open'",
            "bob's page reconnected",
        )

        # The new socket's $connect and the old one's $disconnect reach Django in either order:
        # wait until the old row is closed and the new one is open.
        def replaced() -> bool:
            live = [c for c, _ in live_sessions(demo, "bob")]
            return bool(live) and old_connection not in live

        wait_until(replaced, WAIT, "bob's old session closed and a new one open", interval=0.2)
        ((new_connection, _count),) = live_sessions(demo, "bob")
        assert new_connection != old_connection

        say(alice, "after the reconnect")
        wait_for_text(bob, "after the reconnect")
        assert texts(bob).count("hello from alice") == 1
        alice.wait_for(presence_is(["alice", "bob"]), "presence after rejoin")
        save_artifacts("demo-chat-bob-reconnected", bob)
        save_artifacts("demo-chat-alice", alice)
        # Four sockets opened with one-time tokens: none of them may show in any process's log.
        leaked = [line for line in demo.lines if "token=" in line]
        assert not leaked, f"connect tokens in the demo's logs: {leaked[:3]}"
        # The worker logs each broadcast once (not once per handler, in two formats).
        broadcasts = [line for line in demo.lines if "wsgateway.fanout broadcast message_id=" in line]
        per_message = collections.Counter(re.search(r"message_id=(\w+)", line)[1] for line in broadcasts)
        assert broadcasts and set(per_message.values()) == {1}, broadcasts[:4]
    except BaseException:
        save_artifacts("failure-alice", alice)
        save_artifacts("failure-bob", bob)
        raise


def test_js_client_dedupes_heartbeats_and_stays_closed(demo: DemoProcess, browser_factory) -> None:
    page = browser_factory()
    try:
        # Opened as localhost (not the printed 127.0.0.1): the socket follows, so the session
        # cookie the token is bound to reaches the emulator.
        log_in(page, demo, "alice", room="random", host="localhost")
        # A redelivered message (same message_id) is shown once.
        page.js(
            "var frame = JSON.stringify({type: 'message', user: 'x', text: 'dup', message_id: 'm-1'});"
            "demoSocket._receive(frame); demoSocket._receive(frame);"
        )
        assert texts(page).count("dup") == 1
        # Backoff: full jitter, never above the cap.
        delays = page.js(
            "(() => { var out = [];"
            " for (var i = 0; i < 200; i++) out.push(WsGateway.backoffDelay(i % 12, 1, 30));"
            " return out; })()"
        )
        assert all(0 <= d <= 30 for d in delays) and max(delays) > 1

        # A client with a 1 s heartbeat: each beat reaches Django as a message on the session.
        before = {c for c, _ in live_sessions(demo, "alice")}
        page.js(
            "var config = window.demoConfig;"
            "window.beating = WsGateway.fromConfig(config, {heartbeatSeconds: 1});"
            "window.beating.connect();"
        )
        page.wait_for("window.beating.status === 'open'", "the heartbeat client open")

        def beats() -> int:
            fresh = [n for c, n in live_sessions(demo, "alice") if c not in before]
            return fresh[0] if fresh else 0

        wait_until(lambda: beats() >= 3, WAIT, "three heartbeats at the server", interval=0.25)

        # close(): the socket closes and the client does not come back. A token refused with
        # 403 (here: no CSRF header) is not retried either.
        page.js(
            "window.beating.close(); demoSocket.close();"
            "var config = window.demoConfig;"
            "window.refused = WsGateway.fromConfig(config, {csrfCookieName: 'no-such-cookie'});"
            "window.refusedErrors = [];"
            "window.refused.addEventListener('error', function (e) { refusedErrors.push(e.detail.status); });"
            "window.refused.connect();"
        )
        page.wait_for("document.getElementById('status').textContent === 'closed'", "the demo socket closed")
        # The refused token request is a round trip to Django: wait for its answer (a loaded
        # machine can take seconds).
        page.wait_for("window.refusedErrors.length > 0", "token refusal")
        refused = page.js("[window.refused.status, window.refusedErrors]")
        assert refused == ["closed", [403]]
        # Nothing reconnects: each client says so itself (no timer pending), so no waiting is needed
        # to prove an absence.
        assert page.js(
            "[window.beating.status, window.beating.reconnectPending, demoSocket.reconnectPending]"
        ) == [
            "closed",
            False,
            False,
        ]
        assert page.text("#status") == "closed"
        wait_until(lambda: not live_sessions(demo, "alice"), WAIT, "alice's sessions to close")
    except BaseException:
        save_artifacts("failure-js-client", page)
        raise


def test_js_client_queues_early_sends_and_leaves_with_the_page(demo: DemoProcess, browser_factory) -> None:
    page = browser_factory()
    try:
        log_in(page, demo, "bob", room="random", host="localhost")
        # send() right after connect() (the README's snippet): queued, then sent once open.
        early = page.js(
            "window.early = WsGateway.fromConfig(window.demoConfig);"
            "window.early.connect();"
            "[window.early.send('send_message', {text: 'sent before open'}), window.early.queuedCount]"
        )
        assert early == [True, 1]
        wait_for_text(page, "sent before open")
        assert page.js("window.early.queuedCount") == 0
        assert texts(page).count("sent before open") == 1
        # The queue is bounded: past sendQueueSize a send is refused (false, an "error" event).
        bounded = page.js(
            "window.boundedErrors = [];"
            "window.bounded = WsGateway.fromConfig(window.demoConfig, {sendQueueSize: 2,"
            "  onError: function (e) { window.boundedErrors.push(e.stage); }});"
            "window.bounded.connect();"
            "var sent = [1, 2, 3].map(function (n) {"
            "  return window.bounded.send('send_message', {text: 'bounded ' + n}); });"
            "[sent, window.bounded.queuedCount, window.boundedErrors]"
        )
        assert bounded == [[True, True, False], 2, ["send"]]
        wait_for_text(page, "bounded 2")
        assert "bounded 3" not in texts(page)
        page.js("window.bounded.close()")
        wait_until(lambda: len(live_sessions(demo, "bob")) == 2, WAIT, "bob's two live sessions")

        # The page enters the back/forward cache: every client closes its socket cleanly (the
        # server sees the $disconnects), and comes back when the page is shown again.
        page.js("window.dispatchEvent(new PageTransitionEvent('pagehide', {persisted: true}))")
        assert page.js("[window.early.status, demoSocket.status, window.early.reconnectPending]") == [
            "closed",
            "closed",
            False,
        ]
        assert page.js("window.early.send('send_message', {text: 'while hidden'})") is False
        wait_until(lambda: not live_sessions(demo, "bob"), WAIT, "the hidden page's sockets to close")

        page.js("window.dispatchEvent(new PageTransitionEvent('pageshow', {persisted: true}))")
        page.wait_for(
            "window.early.status === 'open' && demoSocket.status === 'open'", "reconnected on pageshow"
        )
        wait_until(lambda: len(live_sessions(demo, "bob")) == 2, WAIT, "bob's two live sessions")
    except BaseException:
        save_artifacts("failure-js-lifecycle", page)
        raise


def test_ctrl_c_stops_every_process(demo: DemoProcess) -> None:
    groups = set(demo.groups.values())
    assert {"redis", "emulator", "web", "worker", "beat"} <= set(demo.groups)
    assert processes_in_groups(groups), "the demo's processes should be running before Ctrl-C"
    code = demo.interrupt(timeout=30)
    assert code == 0, "\n".join(demo.lines[-30:])
    assert demo.lines[-1].endswith("[demo] stopped")
    left = left_running(groups, timeout=5)
    assert left == [], f"processes left running after Ctrl-C: {left}"


@pytest.mark.parametrize("signum", [signal.SIGTERM, signal.SIGKILL], ids=["sigterm", "sigkill"])
def test_stopping_the_demo_while_it_starts_leaves_nothing(tmp_path, signum) -> None:
    """SIGTERM: the demo stops what it started. SIGKILL (or a wrapper killing it): each child
    was told by the kernel to stop when its parent dies, and does."""
    process = DemoProcess(tmp_path)
    try:
        for name in ("redis", "emulator"):
            pid = int(process.wait_for(rf"\[demo\] started {name} \(pid (\d+)\)", STEP).group(1))
            process.groups[name] = pid
        process.wait_for(r"\[emulator\] .*listening on", STEP)
        groups = set(process.groups.values())
        assert len(processes_in_groups(groups)) == 2
        process.process.send_signal(signum)
        assert process.process.wait(timeout=30) == (0 if signum == signal.SIGTERM else -signal.SIGKILL)
        assert left_running(groups, timeout=10) == []
    finally:
        process.kill_leftovers()
