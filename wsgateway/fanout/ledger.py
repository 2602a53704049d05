"""The delivery ledger (docs/architecture.md §5): chunks survive a Redis that loses its data.

Every chunk is written to the database (:class:`~wsgateway.ledger_models.FanoutChunk`, in bulk,
before its task is enqueued) stamped with the **broker epoch**: a random value Redis holds under
``wsgateway:broker:epoch``, written by whoever finds it missing. A Redis that restarts empty comes
back without it, so the next reader writes a new one. A chunk row still ``pending`` under an older
epoch therefore had its task (or its retry's countdown) in a dataset that is gone.

The lease keeper (:mod:`wsgateway.fanout.lease`) calls :func:`replay` every round:

1. broadcasts still open whose summary lived in an older epoch get their summary rebuilt in the
   new Redis from the ledger (the plan's totals, the counts of every finished chunk; each through
   the same done-marks as the chunks themselves, so nothing counts twice);
2. pending chunks of an older epoch are enqueued again.

Each row is claimed with a conditional ``UPDATE ... WHERE epoch = <old>`` inside a transaction
that also holds its row lock (``select_for_update(skip_locked=True)`` where the database has
one): of several workers replaying at once, one enqueues a chunk; a worker that dies before the
commit leaves the row to the next. A chunk already running elsewhere when its epoch vanished is
sent twice (at-least-once: clients drop duplicates by ``message_id``).

The epoch is read *before* a row is written and its task enqueued: a Redis that loses its data
after that leaves the row under the old epoch, never the reverse.

Done-marks are written in batches (:func:`mark_done`): a chunk that finished without a retry
chunk adds its mark to a buffer in its process, flushed in one transaction every
``FLUSH_CHUNKS`` marks, when the oldest is ``FLUSH_SECONDS`` old at the next mark, when a
broadcast of this process completes, and when the worker process exits. Closing a broadcast
(its summary completed) marks all its chunks done in one statement. A mark still in a buffer
when Redis loses its data only costs a re-send of its chunk (the row is still ``pending``), and
a flush never lands in an epoch other than the one it read (see :func:`flush_done_marks`).
"""

from __future__ import annotations

import json
import logging
import threading
import time
import uuid
from collections.abc import Callable
from datetime import timedelta
from typing import TYPE_CHECKING, Any, TypeVar

import redis
from celery.signals import worker_process_shutdown, worker_shutdown
from django.db import DatabaseError, close_old_connections, connection, transaction
from django.db.models import Model, QuerySet
from django.utils import timezone

from wsgateway.fanout import results
from wsgateway.fanout.lease import EPOCH_KEY
from wsgateway.fanout.planner import Chunk, make_chunk
from wsgateway.fanout.results import Counts
from wsgateway.ledger_models import FanoutBroadcast, FanoutChunk
from wsgateway.payloads import CountsData
from wsgateway.redis_client import get_redis

if TYPE_CHECKING:  # plan_ledger imports this module: for PlanWriter's annotation only
    from wsgateway.fanout import plan_ledger

logger = logging.getLogger("wsgateway.fanout")

M = TypeVar("M", bound=Model)

#: Chunk rows written (and tasks enqueued) per batch while planning ...
PLAN_BATCH = 20
#: ... or fewer, once the batch holds this many recipients (the planner's memory stays flat
#: whatever the chunk size, see FANOUT_LARGE_CHUNK_SIZE).
PLAN_BATCH_RECIPIENTS = 5000
#: Rows claimed per replay round (the next round takes the rest).
REPLAY_BATCH = 200
#: A process's buffered done-marks are flushed once this many wait ...
FLUSH_CHUNKS = 32
#: ... or when a mark arrives and the oldest waiting is this old (seconds).
FLUSH_SECONDS = 0.5
#: Broadcasts older than this are not replayed (their done-marks and summaries expired anyway).
MAX_AGE = timedelta(seconds=results.TTL_SECONDS)

PENDING = FanoutChunk.State.PENDING
DONE = FanoutChunk.State.DONE
FAILED = FanoutChunk.State.FAILED


def current_epoch(client: redis.Redis | None = None) -> str:
    """The broker epoch, writing a new one if Redis has none (first use, or it lost its data)."""
    client = client or get_redis()
    value = client.get(EPOCH_KEY)
    if value is None:
        client.set(EPOCH_KEY, uuid.uuid4().hex, nx=True)
        value = client.get(EPOCH_KEY)
    return value.decode() if isinstance(value, bytes) else str(value)


def _stored_epoch(client: redis.Redis | None = None) -> str | None:
    """The broker epoch as Redis holds it now, without writing one (None: Redis has none)."""
    value = (client or get_redis()).get(EPOCH_KEY)
    if value is None:
        return None
    return value.decode() if isinstance(value, bytes) else str(value)


def _counts_json(counts: Counts) -> CountsData:
    return counts.as_dict()


def _counts(data: dict[str, Any] | None) -> Counts:
    data = data or {}
    return Counts(
        delivered=int(data.get("delivered", 0)),
        gone=int(data.get("gone", 0)),
        retried=int(data.get("retried", 0)),
        failed=int(data.get("failed", 0)),
        failed_by={str(k): int(v) for k, v in (data.get("failed_by") or {}).items()},
    )


# ------------------------------------------------------------------------------------ planning


class PlanWriter:
    """Wraps the planner's ``emit``: rows are written in batches under the planner's claim (each
    batch renews it, see :mod:`wsgateway.fanout.plan_ledger`), then their tasks enqueued."""

    def __init__(
        self,
        claim: plan_ledger.Claim,
        emit: Callable[[Chunk], object],
        emitted: int = 0,
        *,
        claimed_in_transaction: bool = False,
    ) -> None:
        self.claim = claim
        #: The claim was taken, fresh, in the transaction the first batch is written in: the
        #: row is locked by that claim's UPDATE until the commit, and already says what a renew
        #: would write (``emitted`` 0), so the first batch does not renew it (a round trip less
        #: before a small plan's first POST).
        self.skip_renew = claimed_in_transaction and claim.fresh and emitted == 0
        self.message_id = claim.message_id
        self.emit = emit
        self.batch: list[Chunk] = []
        self.recipients = 0
        #: Top-level chunks below this number had their tasks published.
        self.emitted = emitted

    def __call__(self, chunk: Chunk) -> None:
        self.batch.append(chunk)
        self.recipients += len(chunk["connections"])
        if len(self.batch) >= PLAN_BATCH or self.recipients >= PLAN_BATCH_RECIPIENTS:
            self.flush()

    def flush(self) -> None:
        if not self.batch:
            return
        epoch = current_epoch()
        now = timezone.now()
        # The rows land only while the claim is ours. No savepoint inside the small plan's
        # transaction (two round trips before its first POST): an error leaves it whole.
        with transaction.atomic(savepoint=False):
            if self.skip_renew:
                self.skip_renew = False
            else:
                self.claim.renew(self.emitted)
            FanoutChunk.objects.bulk_create(
                [
                    FanoutChunk(
                        message_id=self.message_id,
                        chunk=c["chunk"],
                        endpoint=c["endpoint"],
                        connections=c["connections"],
                        attempt=int(c.get("attempt", 0)),
                        epoch=epoch,
                        updated_on=now,
                    )
                    for c in self.batch
                ],
                ignore_conflicts=True,
            )
        for chunk in self.batch:
            self.emit(chunk)
        self.emitted = max(self.emitted, int(self.batch[-1]["chunk"]) + 1)
        self.batch = []
        self.recipients = 0

    def finish(self, targeted: int, chunks: int, unreachable: Counts) -> None:
        """Flush the last batch and record the plan's totals (raises
        :class:`~wsgateway.fanout.plan_ledger.PlanTakenOver` if the claim was lost)."""
        self.flush()
        self.claim.renew(
            chunks, planned=True, targeted=targeted, chunks=chunks, unreachable=_counts_json(unreachable)
        )


# ------------------------------------------------------------------------------------- chunks


def follow_up_epoch() -> str:
    """The epoch to stamp on a retry chunk: read before its task is enqueued."""
    return current_epoch()


def chunk_finished(
    chunk: Chunk, counts: Counts, follow_up: Chunk | None = None, epoch: str | None = None
) -> None:
    """Record a finished chunk (and the retry chunk it enqueued, stamped ``epoch``).

    A chunk without a ledger row (run outside a planned broadcast) records nothing. A database
    error is logged, not raised: the chunk's row then stays ``pending``, which costs at most a
    re-send if Redis later loses its data (the row is replayed and re-creates its retry chunk),
    while raising would re-send the whole chunk now and stall fan-out for as long as the
    database is away.
    """
    try:
        _chunk_finished(chunk, counts, follow_up, epoch)
    except DatabaseError as err:
        logger.warning(
            "wsgateway.fanout chunk message_id=%s chunk=%s: delivery ledger not updated: %r",
            chunk.get("message_id"),
            chunk.get("chunk"),
            err,
        )
        close_old_connections()


def _state(counts: Counts) -> str:
    return DONE if not counts.failed or counts.delivered or counts.gone else FAILED


def _chunk_finished(chunk: Chunk, counts: Counts, follow_up: Chunk | None, epoch: str | None) -> None:
    state = _state(counts)
    now = timezone.now()
    with transaction.atomic():
        updated = FanoutChunk.objects.filter(message_id=chunk["message_id"], chunk=chunk["chunk"]).update(
            state=state, counts=_counts_json(counts), updated_on=now
        )
        if updated and follow_up is not None:
            FanoutChunk.objects.bulk_create(
                [
                    FanoutChunk(
                        message_id=follow_up["message_id"],
                        chunk=follow_up["chunk"],
                        endpoint=follow_up["endpoint"],
                        connections=follow_up["connections"],
                        attempt=int(follow_up.get("attempt", 0)),
                        epoch=epoch or current_epoch(),
                        updated_on=now,
                    )
                ],
                ignore_conflicts=True,
            )


class _DoneMarks:
    """This process's done-marks not written yet: ``(message_id, chunk) -> (state, counts)``."""

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.marks: dict[tuple[str, str], tuple[str, CountsData]] = {}
        self.oldest = 0.0

    def add(self, message_id: str, name: str, state: str, counts: CountsData) -> bool:
        """Buffer a mark; True when the buffer is due for a flush."""
        now = time.monotonic()
        with self.lock:
            if not self.marks:
                self.oldest = now
            self.marks[(message_id, name)] = (state, counts)
            return len(self.marks) >= FLUSH_CHUNKS or now - self.oldest >= FLUSH_SECONDS

    def take(self) -> dict[tuple[str, str], tuple[str, CountsData]]:
        with self.lock:
            marks, self.marks = self.marks, {}
            return marks


_done_marks = _DoneMarks()


def mark_done(chunk: Chunk, counts: Counts) -> None:
    """Record a finished chunk that enqueued no retry chunk, in this process's next batch.

    Until its batch is flushed the chunk's row stays ``pending``: if Redis loses its data in
    between, the chunk is sent again (at-least-once), nothing is lost. Never raises."""
    if _done_marks.add(chunk["message_id"], chunk["chunk"], _state(counts), _counts_json(counts)):
        flush_done_marks()


def flush_done_marks() -> int:
    """Write this process's buffered done-marks in one transaction; returns rows marked.

    Only rows stamped with the broker epoch Redis holds now are marked (the chunks' counts are
    in that Redis), and the transaction rolls back if the epoch changed before it commits: a
    mark never hides a chunk whose counts Redis lost from the replay that rebuilds its summary.
    The broadcast rows are locked first (where the database has row locks; SQLite serialises
    writers), so a replay cannot rebuild a summary between this flush's epoch check and its
    commit. A mark not written (Redis or the database away) is dropped: its row stays
    ``pending``, which costs a re-send only if Redis loses its data. Never raises.
    """
    marks = _done_marks.take()
    if not marks:
        return 0
    try:
        return _write_marks(marks)
    except Exception as err:  # Redis or the database away: a re-send after a wipe, at worst
        logger.warning("wsgateway.fanout %d done-mark(s) not written to the ledger: %r", len(marks), err)
        close_old_connections()
        return 0


def _write_marks(marks: dict[tuple[str, str], tuple[str, CountsData]]) -> int:
    client = get_redis()
    epoch = _stored_epoch(client)
    if epoch is None:  # Redis lost its data: these chunks are replayed
        return 0
    groups: dict[tuple[str, str, str], list[str]] = {}
    for (message_id, name), (state, counts) in marks.items():
        key = (message_id, state, json.dumps(counts, sort_keys=True))
        groups.setdefault(key, []).append(name)
    now = timezone.now()
    marked = 0
    with transaction.atomic():
        if connection.features.has_select_for_update:
            locked = FanoutBroadcast.objects.select_for_update(
                no_key=connection.features.has_select_for_no_key_update
            )
            list(locked.filter(message_id__in={m for m, _ in marks}).order_by("pk").values_list("pk"))
        for (message_id, state, counts_json), names in groups.items():
            marked += FanoutChunk.objects.filter(message_id=message_id, chunk__in=names, epoch=epoch).update(
                state=state, counts=json.loads(counts_json), updated_on=now
            )
        if _stored_epoch(client) != epoch:  # Redis lost its data meanwhile: replayed instead
            transaction.set_rollback(True)
            return 0
    return marked


def _flush_on_exit(**_: Any) -> None:
    flush_done_marks()


# A prefork child flushes as it exits, a solo or threads worker as it shuts down.
worker_process_shutdown.connect(_flush_on_exit, weak=False)
worker_shutdown.connect(_flush_on_exit, weak=False)


def close(message_id: str) -> None:
    """The broadcast's summary completed: nothing of it is replayed any more.

    This process's buffered done-marks are written first (their counts stay in the ledger);
    every chunk row of the broadcast still ``pending`` is then marked done in one statement (its
    counts are in the completed summary). A database error is logged, not raised (an open
    broadcast only has its summary rebuilt, to the same totals, and its pending chunks re-sent,
    if Redis loses its data)."""
    flush_done_marks()
    try:
        with transaction.atomic():
            FanoutBroadcast.objects.filter(message_id=message_id, open=True).update(open=False)
            FanoutChunk.objects.filter(message_id=message_id, state=PENDING).update(
                state=DONE, updated_on=timezone.now()
            )
    except DatabaseError as err:
        logger.warning("wsgateway.fanout broadcast message_id=%s: ledger not closed: %r", message_id, err)
        close_old_connections()


def give_up(chunk: Chunk, cause: str, error: BaseException | None = None) -> None:
    """A chunk task that will not run again: its recipients count as failed (``cause``) so the
    broadcast's summary completes, and an error is logged. Never raises."""
    message_id = chunk.get("message_id", "?")
    name = chunk.get("chunk", "?")
    n = len(chunk.get("connections") or [])
    counts = Counts()
    counts.fail(cause, n)
    logger.error(
        "wsgateway.fanout chunk message_id=%s chunk=%s gave up: %d recipient(s) counted as failed (%s): %r",
        message_id,
        name,
        n,
        cause,
        error,
    )
    try:
        chunk_finished(chunk, counts)  # logs a database error itself
    except Exception as err:
        logger.error(
            "wsgateway.fanout chunk message_id=%s chunk=%s: ledger not updated: %r", message_id, name, err
        )
    try:
        _, completed = results.record_chunk(message_id, name, counts)
        if completed:
            close(message_id)
    except Exception as err:
        logger.error(
            "wsgateway.fanout chunk message_id=%s chunk=%s: summary not updated: %r", message_id, name, err
        )


# ------------------------------------------------------------------------------------- replay


def row_chunk(row: FanoutChunk, op: str, body: str | None) -> Chunk:
    """The chunk task's argument for a ledger row."""
    return make_chunk(
        message_id=row.message_id,
        op=op,
        body=body,
        endpoint=row.endpoint,
        chunk=row.chunk,
        connections=row.connections,
        attempt=row.attempt,
    )


def _locked(queryset: QuerySet[M]) -> QuerySet[M]:
    if connection.features.has_select_for_update_skip_locked:
        return queryset.select_for_update(skip_locked=True)
    return queryset  # SQLite: one writer at a time; the conditional UPDATE is the claim


def _rebuild(broadcast: FanoutBroadcast) -> None:
    """Put the broadcast's summary back into Redis from the ledger (idempotent: done-marks)."""
    message_id = broadcast.message_id
    completed = False
    if broadcast.planned:
        completed |= results.record_plan(
            message_id, broadcast.targeted, broadcast.chunks, _counts(broadcast.unreachable)
        )
    finished = FanoutChunk.objects.filter(message_id=message_id, state__in=(DONE, FAILED))
    for name, counts in finished.values_list("chunk", "counts"):
        completed |= results.record_chunk(message_id, name, _counts(counts))[1]
    if completed:
        broadcast.open = False
        FanoutBroadcast.objects.filter(pk=broadcast.pk).update(open=False)
    elif not broadcast.planned and broadcast.task:
        # Its planning task may have gone with the data: plan_ledger.replay_plans publishes it
        # again at once unless a live planner holds the claim (a re-plan resumes, never repeats).
        FanoutBroadcast.objects.filter(pk=broadcast.pk, planned=False).update(enqueued_on=None)
    elif not broadcast.planned:
        logger.warning(
            "wsgateway.fanout broadcast message_id=%s was being planned outside a task when the broker "
            "lost its data; recipients it had not reached yet get nothing if that planner stopped",
            message_id,
        )


def replay(emit: Callable[[Chunk], object], epoch: str | None = None) -> tuple[int, int]:
    """Rebuild the summaries and re-enqueue the pending chunks of broker epochs that are gone.

    Returns ``(broadcasts rebuilt, chunks re-enqueued)``; safe to run from several workers.
    """
    epoch = epoch or current_epoch()
    since = timezone.now() - MAX_AGE
    rebuilt = replayed = 0
    stale_broadcasts = FanoutBroadcast.objects.filter(open=True, created_on__gte=since).exclude(epoch=epoch)
    stale_chunks = FanoutChunk.objects.filter(state=PENDING, updated_on__gte=since).exclude(epoch=epoch)
    if not stale_broadcasts.exists() and not stale_chunks.exists():  # the usual round: reads only
        return 0, 0
    with transaction.atomic():
        for broadcast in _locked(stale_broadcasts).order_by("pk")[:REPLAY_BATCH]:
            if FanoutBroadcast.objects.filter(pk=broadcast.pk, epoch=broadcast.epoch).update(epoch=epoch):
                _rebuild(broadcast)
                rebuilt += 1
    with transaction.atomic():
        orphans = _locked(stale_chunks).order_by("pk")[:REPLAY_BATCH]
        bodies: dict[str, tuple[str, str | None]] = {}
        for row in orphans:
            claimed = FanoutChunk.objects.filter(pk=row.pk, epoch=row.epoch, state=PENDING).update(
                epoch=epoch, replays=row.replays + 1, updated_on=timezone.now()
            )
            if not claimed:
                continue
            if row.message_id not in bodies:
                message = (
                    FanoutBroadcast.objects.filter(message_id=row.message_id)
                    .values_list("op", "body")
                    .first()
                )
                if message is None:
                    logger.error(
                        "wsgateway.fanout chunk message_id=%s chunk=%s has no broadcast row: not replayed",
                        row.message_id,
                        row.chunk,
                    )
                    continue
                bodies[row.message_id] = message
            op, body = bodies[row.message_id]
            emit(row_chunk(row, op, body))
            replayed += 1
    if rebuilt or replayed:
        logger.warning(
            "wsgateway.fanout replayed from the delivery ledger after the broker lost its data "
            "(epoch now %s): %d summar%s rebuilt, %d chunk(s) re-enqueued",
            epoch,
            rebuilt,
            "y" if rebuilt == 1 else "ies",
            replayed,
        )
    return rebuilt, replayed


def prune(older_than: timedelta = MAX_AGE) -> int:
    """Delete the ledger of broadcasts older than ``older_than``; returns broadcasts deleted."""
    cutoff = timezone.now() - older_than
    old = list(
        FanoutBroadcast.objects.filter(created_on__lt=cutoff).values_list("message_id", flat=True)[:1000]
    )
    if not old:
        return 0
    FanoutChunk.objects.filter(message_id__in=old).delete()
    return int(FanoutBroadcast.objects.filter(message_id__in=old).delete()[0])
