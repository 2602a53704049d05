"""wsgateway.js's recovery rules, scenario by scenario, under node with an in-memory WebSocket
(tests/recovery/js/recovery_scenarios.js): the resume frame before queued ones, live messages
held during a replay and merged in id order without duplicates, parts in any order, stale
frames ignored, gaps and timeouts, a socket closed mid-recovery. The real browser and sockets
are in test_browser.py."""

from __future__ import annotations

import json
import shutil
import subprocess
from pathlib import Path
from typing import Any

import pytest

ROOT = Path(__file__).resolve().parents[2]
SCENARIOS = Path(__file__).with_name("js") / "recovery_scenarios.js"
CLIENT = ROOT / "wsgateway" / "static" / "wsgateway" / "wsgateway.js"


@pytest.fixture(scope="module")
def seen() -> dict[str, Any]:
    node = shutil.which("node")
    assert node, "node is needed to run the JS client's scenarios"
    done = subprocess.run(
        [node, str(SCENARIOS), str(CLIENT)], capture_output=True, text=True, timeout=60, check=False
    )
    assert done.returncode == 0, done.stderr
    return json.loads(done.stdout)  # type: ignore[no-any-return]


def test_a_reconnect_resumes_after_the_newest_id_and_merges_in_order(seen: dict[str, Any]) -> None:
    run = seen["reconnect"]
    assert run["first"]["action"] == "wsgateway.resume" and run["first"]["channels"] == {"room": None}
    assert run["resume"]["channels"] == {"room": "102-0"}
    assert run["afterResume"] == {"action": "post", "text": "while away"}  # the queue after the resume
    assert run["heldWhileWaiting"] == ["a", "b"]  # e (live) and part 2 wait for part 1
    assert run["messages"] == ["a", "b", "c", "d", "e", "f"]  # once each, in id order
    assert run["recovered"] == [{"channel": "room", "count": 0}, {"channel": "room", "count": 3}]
    assert run["lastIds"] == {"room": "106-0"} and run["recovering"] == []


def test_a_gap_is_reported_before_the_held_messages(seen: dict[str, Any]) -> None:
    run = seen["gap"]
    assert run["afterStale"] == ["a"]  # a frame of another request changes nothing
    assert run["messages"] == ["a", "z"]
    assert run["gaps"] == [{"channel": "room", "since": "2-0", "reason": "window", "latest": "89-0"}]
    assert run["lastIds"] == {"room": "90-0"}


def test_no_answer_in_time_is_a_timeout_gap(seen: dict[str, Any]) -> None:
    run = seen["timeout"]
    assert run["messages"] == ["x"] and run["recovering"] == []
    assert run["gaps"] == [{"channel": "room", "since": None, "reason": "timeout", "latest": ""}]


def test_a_socket_closed_mid_recovery_asks_again_after_the_same_id(seen: dict[str, Any]) -> None:
    run = seen["closed"]
    assert run["again"]["channels"] == {"room": "5-0"} and run["messages"] == []
    assert run["fields"]["since"] is None and run["fields"]["request"]
    assert run["recovering"] == ["news", "room"]


def test_recovery_off_sends_nothing_and_holds_nothing(seen: dict[str, Any]) -> None:
    assert seen["off"] == {"sent": [], "messages": ["plain"]}
    assert seen["compare"] == [1, 1, 0]
