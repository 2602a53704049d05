"""Recovery in a real browser on the one-command demo: two users, several tabs; the server closes
one of bob's sockets in the middle of alice's burst; the tab reconnects by itself, resumes the
room with the last id it saw, and every tab shows every message exactly once (docs/recovery.md).

Each window is its own headless Chromium process (its own cookies): two windows logged in as bob
are two tabs of one user. The demo's worker runs two processes, so live messages of separate
sends may arrive in either order: the check is "each exactly once", not their order.
"""

from __future__ import annotations

import json

import pytest

from tests.browser import Browser
from tests.demo.conftest import DemoProcess
from tests.demo.test_demo_stack import (  # noqa: F401  (browser_factory is a fixture)
    browser_factory,
    close_at_gateway,
    live_sessions,
    log_in,
    save_artifacts,
    say,
    texts,
    wait_for_text,
)

pytestmark = [pytest.mark.slow, pytest.mark.timeout(300)]


def recorder(*events: str) -> str:
    """JavaScript keeping the details of the client's ``events`` in ``window.seen[event]``."""
    parts = ["window.seen = {};"]
    for event in events:
        name = json.dumps(event)
        parts.append(
            f"seen[{name}] = []; demoSocket.addEventListener({name}, (e) => seen[{name}].push(e.detail));"
        )
    return "".join(parts)


BURST = [f"burst {i}" for i in range(16)]


def test_a_tab_closed_mid_burst_shows_every_message_once(demo: DemoProcess, browser_factory) -> None:  # noqa: F811
    pages: dict[str, Browser] = {}
    try:
        pages["alice"] = alice = browser_factory()
        log_in(alice, demo, "alice")
        pages["bob-1"] = bob1 = browser_factory()
        log_in(bob1, demo, "bob")
        pages["bob-2"] = bob2 = browser_factory()
        log_in(bob2, demo, "bob")
        for page in pages.values():
            page.js(recorder("recovered", "recoveryGap"))
            page.wait_for("demoSocket.recovering.length === 0", "the first resume answered")
        before = {id(p): p.js("seen.recovered.length") for p in (bob1, bob2)}

        for text in BURST[:6]:
            say(alice, text)
        wait_for_text(bob1, BURST[5])
        # Mid-burst: one of bob's sockets is closed by the server while alice goes on.
        first, _count = live_sessions(demo, "bob")[0]
        close_at_gateway(demo, first)
        for text in BURST[6:]:
            say(alice, text)

        for name, page in pages.items():
            for text in BURST:
                wait_for_text(page, text)
            shown = texts(page)
            assert all(shown.count(text) == 1 for text in BURST), (name, shown)
        reconnected = [
            p for p in (bob1, bob2) if p.js("document.getElementById('status').dataset.connections") == "2"
        ]
        assert len(reconnected) == 1
        # Its reconnect resumed the room (how many came by replay depends on when it came back).
        tab = reconnected[0]
        recoveries = tab.js("seen.recovered")
        assert len(recoveries) == before[id(tab)] + 1 and recoveries[-1]["channel"] == "room-lobby"
        assert all(page.js("seen.recoveryGap.length") == 0 for page in pages.values())
        save_artifacts("demo-recovery-bob", reconnected[0])
    except BaseException:
        for name, page in pages.items():
            save_artifacts(f"failure-recovery-{name}", page)
        raise
