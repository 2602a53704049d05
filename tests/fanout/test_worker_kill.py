"""Worker processes killed in the middle of a broadcast lose nothing (acks_late +
reject_on_worker_lost): their chunks are redelivered to the replacement pool processes and
re-sent; the parts sent before the kill arrive twice and are counted as duplicates."""

from __future__ import annotations

import os
import signal

import pytest

from tests.fanout.conftest import (
    admin,
    make_gateway,
    make_sessions,
    virtual_connections,
    wait_complete,
    wait_until,
)
from tests.fanout.worker_subprocess import fanout_worker, pool_children
from wsgateway.fanout.results import get_broadcast_summary
from wsgateway.tasks.fanout import send_message

pytestmark = [
    pytest.mark.slow,
    pytest.mark.django_db(transaction=True),
    pytest.mark.timeout(120),
    # Over HTTPS only, the production path: 2,000 sends take ~20 s, and the plain-HTTP client is
    # covered by every other fan-out test (tests/faults kills workers over both).
    pytest.mark.parametrize("emulator_scheme", ["https"]),
]

CONNECTIONS = 2000


def test_killing_a_worker_process_mid_broadcast_loses_no_message(emulator, clean_redis, tmp_path, settings):
    emulator.configure(latency_ms=300)  # every chunk of 250 is in flight for over a second
    info = virtual_connections(emulator, CONNECTIONS)
    ids = info["connectionIds"]
    make_sessions(make_gateway(emulator, info["apiId"]), ids, channel="everyone")

    log = tmp_path / "worker.log"

    def delivered() -> int:
        return emulator.stats().get("management.POST.200", 0)

    with fanout_worker(log, settings.REDIS_URL, name="kill-test", concurrency=2) as worker:
        result = send_message.delay({"text": "to everyone"}, channel_name="everyone")
        # Both pool processes are inside a chunk of 250 once a few hundred posts were answered
        # (a chunk takes four 300 ms rounds); kill them all there, mid-send.
        wait_until(lambda: 300 <= delivered() <= 1500, 60, "the broadcast to be half way")
        victims = pool_children(worker.pid)
        assert len(victims) == 2, victims
        for victim in victims:
            os.kill(victim, signal.SIGKILL)
        killed_at = delivered()

        message_id = result.get(timeout=30)["message_id"]
        wait_complete(message_id, 90)
        replaced = pool_children(worker.pid)
        assert len(replaced) == 2 and not set(replaced) & set(victims)  # the pool replaced them

    counts = {c["connectionId"]: c["messagesReceived"] for c in admin(emulator, "connections")["items"]}
    sent = delivered()
    lost = [c for c in ids if counts.get(c, 0) == 0]
    duplicates = sum(counts[c] - 1 for c in ids if counts.get(c, 0) > 1)
    summary = get_broadcast_summary(message_id)
    print(
        f"\nworker kill: connections={CONNECTIONS} killed_after={killed_at} posts_delivered={sent} "
        f"duplicates={duplicates} lost={len(lost)} summary={summary}"
    )
    assert lost == []
    assert duplicates > 0  # the killed process's chunk really was sent again
    assert sent == CONNECTIONS + duplicates
    assert summary["delivered"] == CONNECTIONS and summary["failed"] == 0
    assert "WorkerLostError" in log.read_text(), log.read_text()[-3000:]
