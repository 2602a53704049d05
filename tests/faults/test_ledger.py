"""The delivery ledger (wsgateway.fanout.ledger): chunks and summaries outlive a Redis that loses
its data, replay is claimed once across workers, and a chunk that exhausts its retries still
completes its broadcast's summary.

Redis "losing its data" here is ``FLUSHDB`` of the test Redis between planning and running (the
queued tasks are the test's list, dropped with it); tests/faults/test_inflight.py restarts a real
Redis empty while chunks run.
"""

from __future__ import annotations

import logging
import threading
import time
import uuid
from collections.abc import Iterator
from datetime import timedelta
from typing import Any

import pytest
import redis
from django.db import connection
from django.utils import timezone

from tests.faults.conftest import count_delivery, virtual_room
from tests.maintenance.emulated import wsgateway_overrides
from wsgateway.fanout import ledger
from wsgateway.fanout.broadcast import broadcast
from wsgateway.fanout.delivery import run_chunk
from wsgateway.fanout.limiter import BUCKET_KEY
from wsgateway.fanout.messages import encode_message
from wsgateway.fanout.planner import POST, Chunk
from wsgateway.fanout.results import get_broadcast_summary
from wsgateway.ledger_models import FanoutBroadcast, FanoutChunk
from wsgateway.models import WebSocketSession
from wsgateway.tasks import fanout as fanout_tasks

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.timeout(120)]

N = 120
CHUNK = 25  # 5 chunks: 25 x 4 + 20


@pytest.fixture
def small_chunks(clean_redis: redis.Redis) -> Iterator[None]:
    fast = {"FANOUT_RETRY_BACKOFF_SECONDS": 0.01, "FANOUT_RETRY_BACKOFF_MAX_SECONDS": 0.02}
    ledger._done_marks.take()  # no done-mark of an earlier test
    with wsgateway_overrides(FANOUT_CHUNK_SIZE=CHUNK, FANOUT_CONCURRENCY=4, **fast):
        yield
    ledger._done_marks.take()


def plan(queued: list[Chunk]) -> str:
    """Plan a broadcast to the room; its chunk tasks go to ``queued`` (our stand-in broker)."""
    message_id, body = encode_message({"text": "ledger"}, uuid.uuid4().hex)
    broadcast(
        WebSocketSession.objects.filter(connected=True, channel_name="room"),
        message_id=message_id,
        op=POST,
        body=body,
        emit=queued.append,
    )
    return message_id


def run(chunks: list[Chunk]) -> list[Chunk]:
    """Run chunks one after another as a worker would; return the retry chunks they enqueued.

    Their done-marks are then flushed, as a worker does within ``ledger.FLUSH_SECONDS``."""
    retries: list[Chunk] = []
    for chunk in chunks:
        run_chunk(chunk, lambda c, countdown: retries.append(c))
    ledger.flush_done_marks()
    return retries


def rows(message_id: str) -> list[FanoutChunk]:
    return list(FanoutChunk.objects.filter(message_id=message_id).order_by("pk"))


def test_planning_writes_a_pending_row_per_chunk_and_finishing_marks_it_done(emulator, small_chunks):
    ids = virtual_room(emulator, N)
    queued: list[Chunk] = []
    message_id = plan(queued)

    epoch = ledger.current_epoch()
    planned = rows(message_id)
    assert [r.chunk for r in planned] == [c["chunk"] for c in queued] == ["0", "1", "2", "3", "4"]
    assert {r.state for r in planned} == {"pending"} and {r.epoch for r in planned} == {epoch}
    assert sorted(c[0] for r in planned for c in r.connections) == sorted(ids)
    row = FanoutBroadcast.objects.get(message_id=message_id)
    assert (row.planned, row.open, row.targeted, row.chunks, row.epoch) == (True, True, N, 5, epoch)

    assert run(queued) == []
    finished = rows(message_id)
    assert {r.state for r in finished} == {"done"}
    assert sum(r.counts["delivered"] for r in finished) == N
    assert FanoutBroadcast.objects.get(message_id=message_id).open is False
    summary = get_broadcast_summary(message_id)
    assert summary is not None and summary["complete"] and summary["delivered"] == N
    assert ledger.replay(queued.append) == (0, 0)  # nothing of a live epoch is replayed


def test_redis_losing_its_data_replays_pending_chunks_and_rebuilds_the_summary(
    emulator, small_chunks, clean_redis, caplog
):
    ids = virtual_room(emulator, N)
    queued: list[Chunk] = []
    message_id = plan(queued)
    run(queued[:2])  # two chunks ran; three were still queued when Redis lost everything
    old = ledger.current_epoch()
    clean_redis.flushdb()
    assert get_broadcast_summary(message_id) is None

    replayed: list[Chunk] = []
    with caplog.at_level(logging.WARNING, logger="wsgateway.fanout"):
        assert ledger.replay(replayed.append) == (1, 3)
    assert "replayed from the delivery ledger" in caplog.text
    assert [c["chunk"] for c in replayed] == ["2", "3", "4"]
    assert ledger.current_epoch() != old
    assert {r.epoch for r in rows(message_id)} >= {ledger.current_epoch()}
    assert ledger.replay(replayed.append) == (0, 0)  # claimed: a second round does nothing

    run(replayed)
    delivery = count_delivery(emulator, ids, message_id)
    assert (delivery.delivered, delivery.duplicates, delivery.lost) == (N, 0, 0)
    summary = get_broadcast_summary(message_id)
    assert summary is not None and summary["complete"]
    assert (summary["targeted"], summary["delivered"], summary["failed"]) == (N, N, 0)
    assert FanoutBroadcast.objects.get(message_id=message_id).open is False
    assert [r.replays for r in rows(message_id)] == [0, 0, 1, 1, 1]


def test_done_marks_are_written_in_batches(emulator, small_chunks, monkeypatch):
    """A chunk without a retry chunk marks its row done in its process's next batch: one
    transaction per ``FLUSH_CHUNKS`` marks, not one per chunk."""
    virtual_room(emulator, N)
    queued: list[Chunk] = []
    message_id = plan(queued)
    monkeypatch.setattr(ledger, "FLUSH_CHUNKS", 2)
    monkeypatch.setattr(ledger, "FLUSH_SECONDS", 3600.0)
    run_chunk(queued[0], lambda c, countdown: None)
    assert [r.state for r in rows(message_id)] == ["pending"] * 5  # waiting in the buffer
    run_chunk(queued[1], lambda c, countdown: None)  # the second mark fills the batch
    assert [r.state for r in rows(message_id)] == ["done", "done", "pending", "pending", "pending"]
    assert [r.counts["delivered"] for r in rows(message_id)[:2]] == [CHUNK, CHUNK]
    run_chunk(queued[2], lambda c, countdown: None)
    assert ledger.flush_done_marks() == 1
    assert ledger.flush_done_marks() == 0  # nothing left


def test_closing_a_broadcast_marks_its_chunks_done_in_one_statement(emulator, small_chunks, monkeypatch):
    """Marks buffered in another process (dropped here) do not matter once the summary
    completed: closing the broadcast marks every chunk row still pending done."""
    virtual_room(emulator, N)
    queued: list[Chunk] = []
    message_id = plan(queued)
    monkeypatch.setattr(ledger, "FLUSH_SECONDS", 3600.0)
    for chunk in queued[:4]:
        run_chunk(chunk, lambda c, countdown: None)
    ledger._done_marks.take()  # "another worker's" buffer, never flushed
    run_chunk(queued[4], lambda c, countdown: None)  # completes the summary: closes
    assert [r.state for r in rows(message_id)] == ["done"] * 5
    assert FanoutBroadcast.objects.get(message_id=message_id).open is False
    assert ledger.replay([].append) == (0, 0)


def test_marks_not_flushed_when_redis_lost_its_data_cost_a_resend_not_a_loss(
    emulator, small_chunks, clean_redis, monkeypatch
):
    """Two chunks ran but their marks were still buffered when Redis lost everything: the flush
    writes nothing (their counts went with that Redis), so they are replayed with the three
    others: duplicates for their recipients, nothing lost, and the summary completes once."""
    ids = virtual_room(emulator, N)
    queued: list[Chunk] = []
    message_id = plan(queued)
    monkeypatch.setattr(ledger, "FLUSH_SECONDS", 3600.0)
    for chunk in queued[:2]:
        run_chunk(chunk, lambda c, countdown: None)
    clean_redis.flushdb()
    ledger.current_epoch()  # a new epoch, written by whoever reads it first
    assert ledger.flush_done_marks() == 0
    assert [r.state for r in rows(message_id)] == ["pending"] * 5

    replayed: list[Chunk] = []
    assert ledger.replay(replayed.append) == (1, 5)
    run(replayed)
    delivery = count_delivery(emulator, ids, message_id)
    assert (delivery.delivered, delivery.duplicates, delivery.lost) == (N, 2 * CHUNK, 0)
    summary = get_broadcast_summary(message_id)
    assert summary is not None and summary["complete"]
    assert (summary["targeted"], summary["delivered"], summary["failed"]) == (N, N, 0)


def test_a_flush_that_sees_the_epoch_change_before_its_commit_rolls_back(
    emulator, small_chunks, clean_redis, monkeypatch
):
    """Redis loses its data between the flush's UPDATE and its commit: nothing is marked."""
    virtual_room(emulator, N)
    queued: list[Chunk] = []
    message_id = plan(queued)
    monkeypatch.setattr(ledger, "FLUSH_SECONDS", 3600.0)
    run_chunk(queued[0], lambda c, countdown: None)
    real = FanoutChunk.objects.filter

    def filter_then_wipe(*args: Any, **kwargs: Any) -> Any:
        clean_redis.flushdb()  # after the epoch was read, before the epoch is checked again
        return real(*args, **kwargs)

    monkeypatch.setattr(FanoutChunk.objects, "filter", filter_then_wipe)
    assert ledger.flush_done_marks() == 0
    monkeypatch.undo()
    assert [r.state for r in rows(message_id)] == ["pending"] * 5


def test_retry_chunks_waiting_in_redis_are_in_the_ledger_too(emulator, small_chunks, clean_redis):
    ids = virtual_room(emulator, N)
    emulator.configure(fail_500=0.6, seed=7)
    queued: list[Chunk] = []
    message_id = plan(queued)
    retries = run(queued)  # retry chunks wait for their countdown in Redis ...
    assert retries
    assert {r.chunk for r in rows(message_id) if r.state == "pending"} == {c["chunk"] for c in retries}
    clean_redis.flushdb()  # ... and are lost with it

    emulator.configure(fail_500=0.0)
    replayed: list[Chunk] = []
    ledger.replay(replayed.append)
    assert sorted(c["chunk"] for c in replayed) == sorted(c["chunk"] for c in retries)
    assert run(replayed) == []
    delivery = count_delivery(emulator, ids, message_id)
    assert delivery.lost == 0
    summary = get_broadcast_summary(message_id)
    assert summary is not None and summary["complete"]
    assert (summary["delivered"], summary["failed"]) == (N, 0)


def test_replay_from_several_workers_at_once_enqueues_each_chunk_once(emulator, small_chunks, clean_redis):
    virtual_room(emulator, N)
    message_id = plan([])  # every task lost
    clean_redis.flushdb()
    epoch = ledger.current_epoch()

    emitted: list[str] = []
    lock = threading.Lock()
    start = threading.Barrier(4)
    errors: list[BaseException] = []

    def worker() -> None:
        def emit(chunk: Chunk) -> None:
            with lock:
                emitted.append(chunk["chunk"])

        try:
            start.wait(10)
            ledger.replay(emit, epoch)
        except BaseException as err:  # reported below
            errors.append(err)
        finally:
            connection.close()

    threads = [threading.Thread(target=worker) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    assert not errors
    assert sorted(emitted) == ["0", "1", "2", "3", "4"]
    assert {r.epoch for r in rows(message_id)} == {epoch}


def test_a_chunk_that_exhausts_its_retries_counts_as_failed_and_completes_the_summary(
    emulator, small_chunks, clean_redis, monkeypatch, caplog
):
    """A real fault: the account's shared request budget (the Redis token bucket every worker
    takes from) is overdrawn far past the chunk's 60 s wait, so the chunk raises
    RateLimitTimeout on every try; its last retry gives up."""
    virtual_room(emulator, N)
    queued: list[Chunk] = []
    message_id = plan(queued)
    run(queued[1:])
    monkeypatch.setattr(fanout_tasks, "IN_PLACE_RETRY_SECONDS", 0.0)
    # The budget's theoretical arrival time (wsgateway/gcra.py, in µs) an hour ahead: a 1 h wait.
    clean_redis.set(BUCKET_KEY, f"{(time.time() + 3600) * 1_000_000:.0f}")
    with caplog.at_level(logging.ERROR, logger="wsgateway.fanout"):
        result: Any = fanout_tasks.deliver_chunk.apply(
            args=(queued[0],), retries=fanout_tasks.deliver_chunk.max_retries
        )
    assert result.failed()
    assert f"message_id={message_id} chunk=0 gave up: {CHUNK} recipient(s) counted as failed" in caplog.text

    summary = get_broadcast_summary(message_id)
    assert summary is not None and summary["complete"]
    assert (summary["targeted"], summary["delivered"], summary["failed"]) == (N, N - CHUNK, CHUNK)
    assert summary["failed_by"] == {"retries_exhausted": CHUNK}
    assert rows(message_id)[0].state == "failed"
    assert FanoutBroadcast.objects.get(message_id=message_id).open is False


def test_prune_deletes_the_ledger_of_day_old_broadcasts(emulator, small_chunks):
    virtual_room(emulator, N)
    old, fresh = plan([]), plan([])
    FanoutBroadcast.objects.filter(message_id=old).update(created_on=timezone.now() - timedelta(days=2))
    assert ledger.prune() == 1
    assert not FanoutChunk.objects.filter(message_id=old).exists()
    assert not FanoutBroadcast.objects.filter(message_id=old).exists()
    assert len(rows(fresh)) == 5
