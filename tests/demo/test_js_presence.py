"""The JS client's presence bookkeeping (wsgateway.js) under node: member events and presence
lists delivered out of order end in the state of the newest decision per user.

The fan-out gives no order between two messages, so the client orders presence by each
message's ``at`` (last writer wins per user). Driven through ``_receive``, the socket's entry
point, with no socket at all.
"""

from __future__ import annotations

import json
import shutil
import subprocess
from pathlib import Path

import pytest

CLIENT = Path(__file__).resolve().parents[2] / "wsgateway" / "static" / "wsgateway" / "wsgateway.js"

DRIVER = """
require(process.argv[1]);
const frames = JSON.parse(process.argv[2]);
const client = new globalThis.WsGateway({websocketUrl: "ws://127.0.0.1:9/x", closeOnPageHide: false});
const seen = [];
client.addEventListener("presence", (e) => seen.push(e.detail.members.map((m) => m.name)));
for (const frame of frames) client._receive(JSON.stringify(frame));
console.log(JSON.stringify({members: client.members("r").map((m) => m.name), events: seen.length}));
"""


def at(second: float) -> str:
    return f"2026-12-02T08:00:{second:09.6f}+00:00"


def member(kind: str, name: str, second: float, n: int) -> dict:
    user = {"id": {"alice": 1, "bob": 2, "carol": 3}[name], "name": name}
    return {"type": f"member_{kind}", "channel": "r", "user": user, "at": at(second), "message_id": f"m{n}"}


def listing(names: list[str], second: float) -> dict:
    members = [{"user_id": {"alice": 1, "bob": 2, "carol": 3}[n], "name": n, "connections": 1} for n in names]
    return {"type": "presence", "channel": "r", "members": members, "at": at(second), "message_id": "list"}


def run(frames: list[dict]) -> dict:
    node = shutil.which("node")
    assert node, "node is needed for the JavaScript client's checks"
    answer = subprocess.run(  # our own script and file
        [node, "-e", DRIVER, str(CLIENT), json.dumps(frames)],
        capture_output=True,
        text=True,
        timeout=30,
        check=True,
    )
    return json.loads(answer.stdout)  # type: ignore[no-any-return]


@pytest.mark.parametrize(
    ("frames", "expected"),
    [
        # In order.
        (
            [member("added", "alice", 1, 1), member("added", "bob", 2, 2), member("removed", "alice", 3, 3)],
            ["bob"],
        ),
        # alice's removal overtook her (older) arrival: she stays gone.
        ([member("removed", "alice", 3, 1), member("added", "alice", 1, 2)], []),
        # A list read at 5 s, then an event decided before it: the list already has it.
        ([listing(["alice", "bob"], 5), member("removed", "bob", 4, 1)], ["alice", "bob"]),
        # An event newer than the list arrives first: the (older) list does not undo it.
        (
            [member("added", "carol", 6, 1), listing(["alice"], 5), member("removed", "alice", 7, 2)],
            ["carol"],
        ),
    ],
)
def test_presence_is_the_newest_decision_per_user(frames: list[dict], expected: list[str]) -> None:
    assert run(frames)["members"] == expected


def test_a_redelivered_event_changes_nothing() -> None:
    added = member("added", "alice", 1, 1)
    result = run([added, added, {**added, "message_id": "other-copy"}])
    assert result == {"members": ["alice"], "events": 1}
