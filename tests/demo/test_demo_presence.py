"""Subscriptions and presence in a real browser: two users, several tabs, the one-command demo.

Each window is its own headless Chromium process (its own cookies), so two windows logged in as
alice are two tabs of one user with two sockets. The demo's rooms are presence channels
(worker/settings.py); the pages render the member list the JS client keeps (``onPresence``).
"""

from __future__ import annotations

import pytest

from tests.browser import Browser
from tests.demo.conftest import DemoProcess
from tests.demo.test_demo_stack import (  # noqa: F401  (browser_factory is a fixture)
    browser_factory,
    log_in,
    presence_is,
    save_artifacts,
    say,
    texts,
    wait_for_text,
)

pytestmark = [pytest.mark.slow, pytest.mark.timeout(300)]

RECORD = (
    "window.memberEvents = [];"
    "demoSocket.addEventListener('message', function (e) {"
    "  var d = e.detail;"
    "  if (d.type === 'member_added' || d.type === 'member_removed')"
    "    memberEvents.push([d.type, d.channel, d.user.name]);"
    "});"
)


def member_events(page: Browser) -> list[list[str]]:
    return page.js("window.memberEvents")  # type: ignore[no-any-return]


def test_two_users_several_tabs(demo: DemoProcess, browser_factory) -> None:  # noqa: F811
    pages: dict[str, Browser] = {}
    try:
        pages["bob-lobby"] = bob = browser_factory()
        log_in(bob, demo, "bob")
        bob.js(RECORD)
        pages["alice-1"] = alice1 = browser_factory()
        log_in(alice1, demo, "alice")
        bob.wait_for(presence_is(["alice", "bob"]), "alice in bob's list")
        alice1.wait_for(presence_is(["alice", "bob"]), "the list on alice's first tab")
        assert member_events(bob) == [["member_added", "room-lobby", "alice"]]

        # A second tab of alice: nobody is told again.
        pages["alice-2"] = alice2 = browser_factory()
        log_in(alice2, demo, "alice")
        alice2.wait_for(presence_is(["alice", "bob"]), "the list on alice's second tab")
        say(alice2, "sync one")
        wait_for_text(bob, "sync one")
        assert member_events(bob) == [["member_added", "room-lobby", "alice"]]

        # Alice's first tab (in the lobby) subscribes to room-random as well: it gets that
        # room's messages, and alice is present there.
        alice1.js(
            "window.subscribed = [];"
            "demoSocket.addEventListener('subscribed', function (e) { subscribed.push(e.detail.channel); });"
            "demoSocket.subscribe('room-random');"
        )
        alice1.wait_for("window.subscribed.indexOf('room-random') >= 0", "the subscription answer")
        assert alice1.js("demoSocket.subscriptions") == ["room-random"]
        pages["bob-random"] = bob_random = browser_factory()
        log_in(bob_random, demo, "bob", room="random")
        bob_random.wait_for(presence_is(["alice", "bob"]), "alice on random through her subscription")
        say(bob_random, "hello random")
        wait_for_text(alice1, "hello random")
        wait_for_text(bob_random, "hello random")

        # Alice's first tab closes: still here through the second tab; gone from random.
        alice1.js("demoSocket.close()")
        bob_random.wait_for(presence_is(["bob"]), "alice gone from random")
        say(alice2, "sync two")
        wait_for_text(bob, "sync two")
        members = bob.js("JSON.stringify(demoSocket.members('room-lobby').map(m => m.name))")
        assert members == '["alice","bob"]'
        assert member_events(bob) == [["member_added", "room-lobby", "alice"]]

        # Her last tab closes: removed, once.
        alice2.js("demoSocket.close()")
        bob.wait_for(presence_is(["bob"]), "alice gone from the lobby")
        assert member_events(bob) == [
            ["member_added", "room-lobby", "alice"],
            ["member_removed", "room-lobby", "alice"],
        ]
        assert texts(bob).count("sync one") == 1
        save_artifacts("demo-presence-bob", bob)
    except BaseException:
        for name, page in pages.items():
            save_artifacts(f"failure-presence-{name}", page)
        raise
