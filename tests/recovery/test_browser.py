"""wsgateway.js recovers by itself, in a real browser engine (Qt WebEngine's Chromium, see
tests/browser): two tabs on one channel, the server closes one tab's socket mid-burst, the
client reconnects, resumes with its last id and delivers every message exactly once, in order,
like the tab that was never closed (docs/recovery.md)."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.browser import Browser
from tests.fanout.conftest import wsgateway_overrides
from tests.recovery.conftest import Stack
from tests.recovery.test_reconnect import send, wait_sent
from tests.waiting import wait_until
from wsgateway import sending
from wsgateway.models import WebSocketSession

pytestmark = [pytest.mark.slow, pytest.mark.django_db(transaction=True), pytest.mark.timeout(180)]

CLIENT_JS = Path(__file__).resolve().parents[2] / "wsgateway" / "static" / "wsgateway" / "wsgateway.js"

# Two clients ("tabs") on the page; each records what it delivers and its recovery events.
TABS = """
window.tabs = {};
for (const name of ["a", "b"]) {
  const tab = {texts: [], recovered: [], gaps: [], opens: 0};
  tab.client = new WsGateway({
    websocketUrl: %(url)s, channel: "room", backoffBaseSeconds: 0.2, backoffMaxSeconds: 1,
    onMessage: (data) => { if (data.text) tab.texts.push(data.text); },
    onRecovered: (detail) => tab.recovered.push(detail),
    onRecoveryGap: (detail) => tab.gaps.push(detail),
    onOpen: () => { tab.opens += 1; },
  });
  tab.client.connect();
  window.tabs[name] = tab;
}
true
"""


@pytest.fixture
def page(stack: Stack, live_server: Any) -> Iterator[Browser]:
    browser = Browser(timeout=30)
    try:
        with wsgateway_overrides(REQUIRE_TOKEN=False, ALLOWED_ORIGINS=[live_server.url]):
            browser.get(f"{live_server.url}/admin/login/")  # any page of the site: its origin
            browser.js(CLIENT_JS.read_text())
            browser.js(TABS % {"url": json.dumps(stack.url("room"))})
            # Both open, and their first resume (the channel's starting point) answered.
            browser.wait_for(
                "['a', 'b'].every(n => tabs[n].client.status === 'open' && tabs[n].recovered.length === 1)",
                "both tabs open and recovered",
            )
            yield browser
    finally:
        browser.close()


def state(page: Browser) -> Any:
    """What both tabs delivered and know, for a failure's message."""
    return page.js(
        "Object.fromEntries(['a', 'b'].map(n => [n, {texts: tabs[n].texts, gaps: tabs[n].gaps,"
        " recovered: tabs[n].recovered, opens: tabs[n].opens, lastIds: tabs[n].client.lastIds,"
        " recovering: tabs[n].client.recovering}]))"
    )


def tab_texts(page: Browser, name: str) -> list[str]:
    return list(page.js(f"tabs.{name}.texts"))


def test_the_js_client_recovers_a_socket_closed_mid_burst(page: Browser) -> None:
    expected = [f"m{i}" for i in range(40)]
    wait_sent(send(range(0, 10)))
    page.wait_for("tabs.a.texts.length === 10 && tabs.b.texts.length === 10", "the first ten")
    # One tab's socket is closed by the server while the burst goes on.
    sessions = list(WebSocketSession.objects.filter(connected=True).values_list("connection_id", flat=True))
    assert len(sessions) == 2
    sent = send(range(10, 20))
    sending.disconnect_connection(sessions[0])
    sent += send(range(20, 30))
    wait_sent(sent)
    wait_until(lambda: page.js("tabs.a.opens + tabs.b.opens") == 3, 30, "the closed tab to reconnect")
    wait_sent(send(range(30, 40)))

    page.wait_for(
        "tabs.a.texts.length === 40 && tabs.b.texts.length === 40", "every message in both tabs", timeout=60
    )
    a, b = tab_texts(page, "a"), tab_texts(page, "b")
    reopened = "a" if page.js("tabs.a.opens") == 2 else "b"
    # Exactly once and in order, in the tab that was closed as in the one that was not.
    assert a == expected and b == expected
    recovered = page.js(f"tabs.{reopened}.recovered")
    # Its reconnect resumed the channel; how many came by replay depends on when it came back
    # (the burst goes on meanwhile): the exact lists above say none was lost or doubled.
    assert len(recovered) == 2 and recovered[1]["channel"] == "room"
    assert page.js("tabs.a.gaps.length + tabs.b.gaps.length") == 0
    assert page.js(f"tabs.{reopened}.client.recovering.length") == 0


def test_the_js_client_reports_a_gap_when_the_window_has_passed(page: Browser) -> None:
    with wsgateway_overrides(RECOVERY_MAX_MESSAGES=5):
        wait_sent(send(range(0, 3)))
        page.wait_for("tabs.a.texts.length === 3 && tabs.b.texts.length === 3", "the first three")
        sessions = list(
            WebSocketSession.objects.filter(connected=True).values_list("connection_id", flat=True)
        )
        # The closed tab stays away until the burst is over (no automatic reconnect meanwhile).
        page.js("tabs.a.client.options.reconnect = false; tabs.b.client.options.reconnect = false")
        sending.disconnect_connection(sessions[0])
        page.wait_for(
            "tabs.a.client.status === 'closed' || tabs.b.client.status === 'closed'", "a tab closed"
        )
        wait_sent(send(range(3, 15)))  # more than the window keeps
        page.js(
            "for (const n of ['a', 'b']) { tabs[n].client.options.reconnect = true;"
            " if (tabs[n].client.status === 'closed') tabs[n].client.connect(); }"
        )
        wait_until(lambda: page.js("tabs.a.opens + tabs.b.opens") == 3, 30, "the closed tab to reconnect")
        try:
            page.wait_for("tabs.a.gaps.length + tabs.b.gaps.length === 1", "the gap event")
        except AssertionError as err:
            raise AssertionError(f"{err}; tabs: {state(page)}") from err
        wait_sent(send(range(15, 17)))
        page.wait_for("tabs.a.texts.includes('m16') && tabs.b.texts.includes('m16')", "live messages again")
    reopened = "a" if page.js("tabs.a.opens") == 2 else "b"
    other = "b" if reopened == "a" else "a"
    (gap,) = page.js(f"tabs.{reopened}.gaps")
    assert (gap["channel"], gap["reason"]) == ("room", "window") and gap["since"] and gap["latest"]
    assert tab_texts(page, other) == [f"m{i}" for i in range(17)]
    # The reopened tab: what it had, then the live ones; the burst it missed is the gap.
    assert tab_texts(page, reopened) == ["m0", "m1", "m2", "m15", "m16"]
