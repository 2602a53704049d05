"""The one-command demo, end to end in a real browser.

``python -m worker.demo`` starts the embedded Redis, the emulator, Django (gunicorn), a Celery
worker and beat, provisions the demo gateway through the real provisioning chain, and prints the
URL. Then headless Chromium (Debian's, driven through the system chromedriver: Selenium Manager
never downloads anything) logs alice and bob into the same room: alice's message shows on bob's
page; bob's socket, closed by the server, reconnects by itself and still receives messages.
Finally Ctrl-C must leave no process behind. Screenshots go to ``test-artifacts/``.
"""

from __future__ import annotations

import json
import signal
import tempfile
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import boto3
import pytest
from selenium import webdriver
from selenium.webdriver.chrome.options import Options
from selenium.webdriver.chrome.service import Service
from selenium.webdriver.common.by import By
from selenium.webdriver.remote.webdriver import WebDriver
from selenium.webdriver.support.ui import WebDriverWait

from tests.demo.conftest import ARTIFACTS, PASSWORD, DemoProcess, processes_in_groups

pytestmark = [pytest.mark.slow, pytest.mark.timeout(300)]

WAIT = 20.0
#: One start-up step of the demo (a Python interpreter starting) on a loaded CI machine.
STEP = 60.0
CHROMIUM = "/usr/bin/chromium"
CHROMEDRIVER = "/usr/bin/chromedriver"


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
def browser_factory() -> Iterator[list[WebDriver]]:
    """Headless Chromium sessions (separate profiles, so separate cookies); all quit afterwards."""
    drivers: list[WebDriver] = []
    profiles: list[tempfile.TemporaryDirectory[str]] = []

    def make() -> WebDriver:
        assert Path(CHROMIUM).exists() and Path(CHROMEDRIVER).exists(), (
            "Chromium and chromedriver must be installed (.ci/run installs Debian's chromium and "
            "chromium-driver)"
        )
        profile = tempfile.TemporaryDirectory(prefix="wsgateway-chromium-")
        profiles.append(profile)
        options = Options()
        options.binary_location = CHROMIUM
        for flag in (
            "--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage",
            "--disable-quic", "--no-first-run", "--disable-background-networking",
            "--disable-component-update", "--disable-sync", "--window-size=1100,800",
            f"--user-data-dir={profile.name}",
        ):  # fmt: skip
            options.add_argument(flag)
        options.set_capability("goog:loggingPrefs", {"browser": "ALL"})
        driver = webdriver.Chrome(service=Service(CHROMEDRIVER), options=options)
        driver.set_page_load_timeout(WAIT)
        drivers.append(driver)
        return driver

    yield make  # type: ignore[misc]
    for driver in drivers:
        driver.quit()
    for profile in profiles:
        profile.cleanup()


def log_in(driver: WebDriver, demo: DemoProcess, username: str, room: str = "lobby", host: str = "") -> None:
    base = demo.url.replace("127.0.0.1", host) if host else demo.url
    driver.get(f"{base}/accounts/login/?next=/rooms/{room}/")
    driver.find_element(By.ID, "id_username").send_keys(username)
    driver.find_element(By.ID, "id_password").send_keys(PASSWORD)
    driver.find_element(By.ID, "login-submit").click()
    WebDriverWait(driver, WAIT).until(lambda d: d.find_element(By.ID, "status").text == "open")
    assert driver.find_element(By.ID, "whoami").text == username


def say(driver: WebDriver, text: str) -> None:
    field = driver.find_element(By.ID, "message-input")
    field.send_keys(text)
    driver.find_element(By.ID, "message-send").click()


def texts(driver: WebDriver) -> list[str]:
    return [e.text for e in driver.find_elements(By.CSS_SELECTOR, "#messages li.message .text")]


def wait_for_text(driver: WebDriver, text: str) -> None:
    WebDriverWait(driver, WAIT).until(lambda d: text in texts(d), f"{text!r} never shown: {texts(driver)}")


def presence(driver: WebDriver) -> list[str]:
    return [e.text for e in driver.find_elements(By.CSS_SELECTOR, "#presence li")]


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


def save_artifacts(name: str, driver: WebDriver) -> None:
    ARTIFACTS.mkdir(exist_ok=True)
    driver.save_screenshot(str(ARTIFACTS / f"{name}.png"))
    try:
        logs = driver.get_log("browser")
    except Exception:
        logs = []
    (ARTIFACTS / f"{name}-console.json").write_text(json.dumps(logs, indent=1))


def test_two_browsers_chat_and_a_closed_socket_reconnects(demo: DemoProcess, browser_factory) -> None:
    alice, bob = browser_factory(), browser_factory()
    try:
        log_in(alice, demo, "alice")
        log_in(bob, demo, "bob")
        WebDriverWait(alice, WAIT).until(lambda d: presence(d) == ["alice", "bob"], "presence list")

        say(alice, "hello from alice")
        wait_for_text(bob, "hello from alice")
        wait_for_text(alice, "hello from alice")  # fanned out to the sender's page too
        save_artifacts("demo-chat-bob", bob)

        # The server closes bob's socket; his page reconnects with a fresh token by itself.
        ((old_connection, _count),) = live_sessions(demo, "bob")
        close_at_gateway(demo, old_connection)
        WebDriverWait(bob, WAIT).until(
            lambda d: (
                d.find_element(By.ID, "status").get_attribute("data-connections") == "2"
                and d.find_element(By.ID, "status").text == "open"
            ),
            "bob's page did not reconnect",
        )
        # The new socket's $connect and the old one's $disconnect reach Django in either order:
        # wait until the old row is closed and the new one is open.
        deadline = time.monotonic() + WAIT
        while time.monotonic() < deadline:
            live = [c for c, _ in live_sessions(demo, "bob")]
            if live and old_connection not in live:
                break
            time.sleep(0.2)
        ((new_connection, _count),) = live_sessions(demo, "bob")
        assert new_connection != old_connection

        say(alice, "after the reconnect")
        wait_for_text(bob, "after the reconnect")
        assert texts(bob).count("hello from alice") == 1
        WebDriverWait(alice, WAIT).until(lambda d: presence(d) == ["alice", "bob"], "presence after rejoin")
        save_artifacts("demo-chat-bob-reconnected", bob)
        save_artifacts("demo-chat-alice", alice)
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
        page.execute_script(
            "var frame = JSON.stringify({type: 'message', user: 'x', text: 'dup', message_id: 'm-1'});"
            "demoSocket._receive(frame); demoSocket._receive(frame);"
        )
        assert texts(page).count("dup") == 1
        # Backoff: full jitter, never above the cap.
        delays = page.execute_script(
            "var out = []; for (var i = 0; i < 200; i++) out.push(WsGateway.backoffDelay(i % 12, 1, 30));"
            "return out;"
        )
        assert all(0 <= d <= 30 for d in delays) and max(delays) > 1

        # A client with a 1 s heartbeat: each beat reaches Django as a message on the session.
        before = {c for c, _ in live_sessions(demo, "alice")}
        page.execute_script(
            "var config = window.demoConfig;"
            "window.beating = WsGateway.fromConfig(config, {heartbeatSeconds: 1});"
            "window.beating.connect();"
        )
        WebDriverWait(page, WAIT).until(lambda d: d.execute_script("return window.beating.status") == "open")
        deadline = time.monotonic() + WAIT
        beats = 0
        while time.monotonic() < deadline and beats < 3:
            fresh = [n for c, n in live_sessions(demo, "alice") if c not in before]
            beats = fresh[0] if fresh else 0
            time.sleep(0.25)
        assert beats >= 3, "heartbeats did not reach the server"

        # close(): the socket closes and the client does not come back. A token refused with
        # 403 (here: no CSRF header) is not retried either.
        page.execute_script(
            "window.beating.close(); demoSocket.close();"
            "var config = window.demoConfig;"
            "window.refused = WsGateway.fromConfig(config, {csrfCookieName: 'no-such-cookie'});"
            "window.refusedErrors = [];"
            "window.refused.addEventListener('error', function (e) { refusedErrors.push(e.detail.status); });"
            "window.refused.connect();"
        )
        WebDriverWait(page, WAIT).until(lambda d: d.find_element(By.ID, "status").text == "closed")
        # The refused token request is a round trip to Django: wait for its answer (a loaded
        # machine can take seconds), then watch that nothing reconnects.
        WebDriverWait(page, WAIT).until(
            lambda d: d.execute_script("return window.refusedErrors.length") > 0, "token refusal"
        )
        time.sleep(2.5)  # longer than the first reconnect delay could be
        assert page.find_element(By.ID, "status").text == "closed"
        assert page.execute_script("return window.beating.status") == "closed"
        refused = page.execute_script("return [window.refused.status, window.refusedErrors]")
        assert refused == ["closed", [403]]
        WebDriverWait(page, WAIT).until(lambda d: not live_sessions(demo, "alice"), "sessions not closed")
    except BaseException:
        save_artifacts("failure-js-client", page)
        raise


def test_ctrl_c_stops_every_process(demo: DemoProcess) -> None:
    groups = set(demo.groups.values())
    assert {"redis", "emulator", "web", "worker", "beat"} <= set(demo.groups)
    assert processes_in_groups(groups), "the demo's processes should be running before Ctrl-C"
    code = demo.interrupt(timeout=30)
    assert code == 0, "\n".join(demo.lines[-30:])
    assert demo.lines[-1].endswith("[demo] stopped")
    deadline = time.monotonic() + 5
    while (left := processes_in_groups(groups)) and time.monotonic() < deadline:
        time.sleep(0.1)
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
        deadline = time.monotonic() + 10
        while (left := processes_in_groups(groups)) and time.monotonic() < deadline:
            time.sleep(0.1)
        assert left == []
    finally:
        process.kill_leftovers()
