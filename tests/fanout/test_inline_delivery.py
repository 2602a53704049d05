"""Small broadcasts in one broker hop: the planning task delivers the first chunk of a plan of at
most two chunks itself, after its delivery-ledger row is written (wsgateway/fanout/broadcast.py).

Real database, real Redis, the emulator over real sockets; the last test kills (SIGKILL) a real
prefork worker's process in the middle of the inline chunk and checks that everyone still gets
the message (at-least-once)."""

from __future__ import annotations

import os
import re
import signal
from collections.abc import Iterator
from typing import Any
from unittest import mock

import pytest
import redis.connection
from celery.contrib.testing.worker import start_worker
from django.db import connection, transaction
from django.test.utils import CaptureQueriesContext

from tests.celery_app import app
from tests.fanout.conftest import (
    admin,
    make_gateway,
    make_sessions,
    received,
    virtual_connections,
    wait_complete,
    wait_until,
    wsgateway_overrides,
)
from tests.fanout.worker_subprocess import fanout_worker, pool_children
from wsgateway import recovery
from wsgateway.fanout import delivery as fanout_delivery
from wsgateway.fanout import ledger
from wsgateway.fanout.broadcast import INLINE_MAX_CHUNKS, broadcast
from wsgateway.fanout.delivery import run_chunk
from wsgateway.fanout.messages import encode_message
from wsgateway.fanout.plan_ledger import record_request
from wsgateway.fanout.planner import POST, Chunk
from wsgateway.fanout.results import get_broadcast_summary
from wsgateway.ledger_models import FanoutChunk
from wsgateway.models import WebSocketSession
from wsgateway.tasks.fanout import send_message, send_to_target

pytestmark = [
    pytest.mark.django_db(transaction=True),
    pytest.mark.timeout(120),
]


@pytest.fixture
def emulator_scheme() -> str:
    """Plain HTTP only: the client and TLS are covered by the other fan-out tests; these are
    about the broker hops."""
    return "http"


def _room(emulator: Any, n: int, channel: str = "room") -> list[str]:
    info = virtual_connections(emulator, n)
    ids: list[str] = info["connectionIds"]
    make_sessions(make_gateway(emulator, info["apiId"]), ids, channel=channel)
    return ids


class Recorder:
    """``emit`` and ``deliver_inline`` of :func:`broadcast`: records the order of calls and the
    state of the chunk's ledger row when it was handed over; inline chunks really run."""

    def __init__(self) -> None:
        self.calls: list[tuple[str, str, str | None]] = []

    def _row_state(self, chunk: Chunk) -> str | None:
        row = FanoutChunk.objects.filter(message_id=chunk["message_id"], chunk=chunk["chunk"]).first()
        return row.state if row else None

    def emit(self, chunk: Chunk) -> None:
        # Rows are committed before their chunk leaves: a chunk task never finds its row missing.
        assert not transaction.get_connection().in_atomic_block
        self.calls.append(("emit", chunk["chunk"], self._row_state(chunk)))

    def inline(self, chunk: Chunk, new: bool = False) -> None:
        assert not transaction.get_connection().in_atomic_block
        self.calls.append(("inline", chunk["chunk"], self._row_state(chunk)))
        run_chunk(chunk, lambda c, countdown: pytest.fail(f"unexpected retry {c}"))

    def send(self, channel: str) -> tuple[str, dict[str, Any]]:
        message_id, body = encode_message({"text": "hi"})
        outcome = broadcast(
            WebSocketSession.objects.filter(channel_name=channel, connected=True),
            message_id=message_id,
            op=POST,
            body=body,
            emit=self.emit,
            deliver_inline=self.inline,
        )
        return message_id, outcome


def _state(message_id: str, chunk: str) -> str:
    # A finished chunk's done-mark waits in its process's buffer until the next flush (at most
    # ledger.FLUSH_SECONDS in a worker, or the broadcast's close): flush it, as the worker would.
    ledger.flush_done_marks()
    return str(FanoutChunk.objects.get(message_id=message_id, chunk=chunk).state)


def test_a_one_chunk_plan_is_delivered_by_the_planner_after_its_ledger_row(emulator, clean_redis):
    ids = _room(emulator, 3)
    recorder = Recorder()
    message_id, outcome = recorder.send("room")

    # Nothing enqueued; the chunk's row existed (pending) when it was sent.
    assert recorder.calls == [("inline", "0", FanoutChunk.State.PENDING)]
    assert all(received(emulator, c) == [{"text": "hi", "message_id": message_id}] for c in ids)
    assert _state(message_id, "0") == FanoutChunk.State.DONE
    # The chunk finished before the plan was recorded: the planner completes the broadcast.
    assert outcome["chunks"] == 1
    assert outcome["broadcast"]["complete"] is True
    assert outcome["broadcast"]["delivered"] == 3


def test_a_small_plan_takes_no_savepoint_before_its_first_post(emulator, clean_redis):
    """The small plan's rows are written in one transaction; the claim and the row batch inside
    it take no savepoint of their own (two round trips each, before the first POST)."""
    _room(emulator, 2)
    message_id, body = encode_message({"text": "hi"})
    record_request(message_id, "wsgateway.send_to_sessions", [], {})  # as a send does first
    before_post: list[str] = []

    def inline(chunk: Chunk, new: bool = False) -> None:
        before_post.extend(q["sql"] for q in queries.captured_queries)
        run_chunk(chunk, lambda c, countdown: pytest.fail(f"unexpected retry {c}"))

    with CaptureQueriesContext(connection) as queries:
        outcome = broadcast(
            WebSocketSession.objects.filter(channel_name="room", connected=True),
            message_id=message_id,
            op=POST,
            body=body,
            emit=lambda chunk: pytest.fail("a one-chunk plan enqueues nothing"),
            deliver_inline=inline,
        )
    assert outcome["broadcast"]["delivered"] == 2
    assert before_post and not [sql for sql in before_post if "SAVEPOINT" in sql.upper()]
    # One transaction: at most its BEGIN and its COMMIT.
    assert sum(1 for sql in before_post if sql.upper().startswith(("COMMIT", "BEGIN"))) <= 2


def test_a_two_chunk_plan_enqueues_the_second_before_delivering_the_first(emulator, clean_redis):
    _room(emulator, 4)
    recorder = Recorder()
    with wsgateway_overrides(FANOUT_CHUNK_SIZE=2):
        message_id, outcome = recorder.send("room")
    pending = FanoutChunk.State.PENDING
    assert recorder.calls == [("emit", "1", pending), ("inline", "0", pending)]
    assert _state(message_id, "0") == FanoutChunk.State.DONE
    assert _state(message_id, "1") == pending  # its task would run it
    summary = get_broadcast_summary(message_id) or {}
    assert outcome["chunks"] == 2 and summary["delivered"] == 2 and not summary["complete"]


def test_a_larger_plan_enqueues_every_chunk(emulator, clean_redis):
    _room(emulator, 2 * INLINE_MAX_CHUNKS + 1)
    recorder = Recorder()
    with wsgateway_overrides(FANOUT_CHUNK_SIZE=2), mock.patch.object(ledger, "PLAN_BATCH", 2):
        # Rows are written two chunks at a time: the plan turns "large" in its second batch.
        _message_id, outcome = recorder.send("room")
    assert outcome["chunks"] == INLINE_MAX_CHUNKS + 1
    assert [call[0] for call in recorder.calls] == ["emit"] * (INLINE_MAX_CHUNKS + 1)
    assert sorted(call[1] for call in recorder.calls) == [str(i) for i in range(INLINE_MAX_CHUNKS + 1)]


def test_a_plan_without_recipients_sends_nothing(clean_redis):
    recorder = Recorder()
    _message_id, outcome = recorder.send("nobody")
    assert recorder.calls == []
    assert outcome["chunks"] == 0 and outcome["broadcast"]["complete"] is True


@pytest.fixture
def worker(clean_redis, fast_retries) -> Iterator[None]:
    """A Celery worker on the ``fanout`` queue in this process (pool solo), real Redis broker."""
    with start_worker(
        app, pool="solo", concurrency=1, perform_ping_check=False, queues=["fanout"], shutdown_timeout=10
    ):
        yield


def test_the_send_task_delivers_a_small_channel_in_one_hop(emulator, worker):
    ids = _room(emulator, 5)
    result = send_message.delay({"text": "one hop"}, channel_name="room").get(timeout=30)
    message_id = result["message_id"]
    # The planning task's own result carries the completed summary: it sent the chunk itself.
    assert result["broadcast"]["complete"] is True and result["broadcast"]["delivered"] == 5
    # A channel message carries its recovery window position too (docs/recovery.md).
    (first,) = received(emulator, ids[0])
    envelope = {"text": "one hop", "message_id": message_id, "recovery_channel": "room"}
    assert first == {**envelope, "recovery_id": first["recovery_id"]}
    assert all(received(emulator, c) == [first] for c in ids)
    assert _state(message_id, "0") == FanoutChunk.State.DONE


def test_an_inline_chunk_that_fails_is_handed_to_a_chunk_task(emulator, worker, monkeypatch):
    ids = _room(emulator, 2)
    calls: list[str] = []
    real = run_chunk

    def fail_once(chunk: Chunk, requeue: Any, new: bool = False) -> dict[str, Any]:
        calls.append(chunk["chunk"])
        if len(calls) == 1:
            raise RuntimeError("inline chunk broke")
        return real(chunk, requeue, new=new)

    monkeypatch.setattr("wsgateway.fanout.delivery.run_chunk", fail_once)
    result = send_message.delay({"text": "handed over"}, channel_name="room").get(timeout=30)
    message_id = result["message_id"]
    summary: dict[str, Any] = {}

    def complete() -> bool:
        summary.update(get_broadcast_summary(message_id) or {})
        return bool(summary.get("complete"))

    wait_until(complete, 30, f"the broadcast to complete: {summary}")
    assert calls == ["0", "0"]  # inline (failed), then the chunk task
    assert summary["delivered"] == 2 and summary["failed"] == 0
    assert all(len(received(emulator, c)) == 1 for c in ids)
    # The summary completes in Redis just before the chunk task closes the ledger (one UPDATE).
    wait_until(lambda: _state(message_id, "0") == FanoutChunk.State.DONE, 10, "the ledger row marked done")


CONNECTIONS = 250  # one chunk (FANOUT_CHUNK_SIZE), so the planner delivers all of it inline


@pytest.mark.slow
def test_killing_the_worker_during_the_inline_chunk_still_delivers_everyone(
    emulator, clean_redis, tmp_path, settings
):
    # 64 requests in flight (FANOUT_CONCURRENCY), 500 ms each: the chunk takes four rounds, ~2 s.
    emulator.configure(latency_ms=500)
    ids = _room(emulator, CONNECTIONS, channel="everyone")
    log = tmp_path / "worker.log"

    def delivered() -> int:
        return int(emulator.stats().get("management.POST.200", 0))

    with fanout_worker(log, settings.REDIS_URL, name="inline-kill", concurrency=1) as worker:
        result = send_message.delay({"text": "to everyone"}, channel_name="everyone")
        wait_until(lambda: 1 <= delivered() < CONNECTIONS - 64, 60, "the inline chunk to be under way")
        victims = pool_children(worker.pid)
        assert len(victims) == 1, victims
        os.kill(victims[0], signal.SIGKILL)
        killed_at = delivered()

        message_id = result.get(timeout=60)["message_id"]
        wait_complete(message_id, 60)

    counts = {c["connectionId"]: c["messagesReceived"] for c in admin(emulator, "connections")["items"]}
    lost = [c for c in ids if counts.get(c, 0) == 0]
    duplicates = sum(counts[c] - 1 for c in ids if counts.get(c, 0) > 1)
    summary = get_broadcast_summary(message_id) or {}
    text = log.read_text()
    print(f"\ninline kill: killed_after={killed_at} posts={delivered()} duplicates={duplicates} lost={lost}")
    assert lost == []
    assert killed_at < CONNECTIONS and duplicates >= killed_at > 0  # the killed part was sent again
    assert summary["delivered"] == CONNECTIONS and summary["failed"] == 0
    assert _state(message_id, "0") == FanoutChunk.State.DONE
    assert "WorkerLostError" in text, text[-3000:]
    # The planning task ran twice (killed, redelivered) and no chunk task ever did: inline both times.
    assert "Task wsgateway.deliver_chunk[" not in text, text[-3000:]


def test_a_fresh_small_plan_reaches_its_first_post_in_few_round_trips(emulator, clean_redis, monkeypatch):
    """From the planning task's start to its first POST, a channel send whose request is recorded
    (as every send's is) and that no planner held before: the claim is one UPDATE (no SELECT of
    the row first), the first batch does not renew the claim it took in the same transaction, and
    the inline chunk does not look for a done-mark that cannot exist."""
    _room(emulator, 2)
    message_id, body = encode_message({"text": "hi"})
    target = {"channel_name": "room", "subscribers": True}
    record_request(message_id, "wsgateway.send_to_sessions", [target, message_id, body], {})
    trips: list[str] = []
    real_send = redis.connection.AbstractConnection.send_packed_command

    def send_packed(self: Any, command: Any, check_health: bool = True) -> None:
        packed = command if isinstance(command, bytes | bytearray) else b"".join(command)
        trips.append("redis " + bytes(packed).split(b"\r\n")[2].decode())
        real_send(self, command, check_health)

    def on_sql(execute: Any, sql: str, params: Any, many: bool, context: Any) -> Any:
        table = re.search(r'"(wsgateway_\w+)"', sql)
        if table:  # not SQLite's BEGIN / COMMIT (PostgreSQL's are not seen here at all)
            trips.append(f"sql {sql.split()[0]} {table.group(1)}")
        return execute(sql, params, many, context)

    real_post = fanout_delivery.send

    def post(chunk: Chunk, ids: Any) -> Any:
        trips.append("POST")
        return real_post(chunk, ids)

    recovery.record("room", encode_message({})[0], "{}")  # the script loaded, as in a warm worker
    monkeypatch.setattr(redis.connection.AbstractConnection, "send_packed_command", send_packed)
    monkeypatch.setattr(fanout_delivery, "send", post)
    with connection.execute_wrapper(on_sql):
        send_to_target(target, message_id, body)
    before_post = trips[: trips.index("POST")]
    assert before_post == [
        "redis EVALSHA",  # the recovery window
        "sql UPDATE wsgateway_fanoutbroadcast",  # the claim
        "sql SELECT wsgateway_websocketsession",  # the recipients
        "sql SELECT wsgateway_channelsubscription",
        "sql SELECT wsgateway_apigateway",  # the endpoint
        "redis GET",  # the epoch of the chunk's row
        "sql INSERT wsgateway_fanoutchunk",
    ], before_post
    ledger.flush_done_marks()
    assert get_broadcast_summary(message_id)["delivered"] == 2
