"""A broadcast from start to chunk tasks: plan the recipients, write the ledger, emit chunks,
record the plan.

Small broadcasts take one broker hop, not two: when the plan has at most
:data:`INLINE_MAX_CHUNKS` chunks and the caller passes ``deliver_inline`` (the planning task
does), the first chunk is delivered by the planning task itself, right after its ledger row is
written, and only the others are enqueued (docs/architecture.md §5). At-least-once holds as for
an enqueued chunk: the planning task is ``acks_late`` with ``reject_on_worker_lost``, so a worker
killed during the inline chunk has the planning task redelivered, which takes its claim over,
keeps the plan's rows (:mod:`wsgateway.fanout.plan_ledger`) and delivers the chunk again unless
its done-mark says it finished; a Redis that loses its data meanwhile leaves the chunk's row
``pending`` under the old epoch, and the ledger replays it.
"""

from __future__ import annotations

import contextlib
import logging
from collections.abc import Callable

from django.db import transaction

from wsgateway.fanout import ledger, plan_ledger, results
from wsgateway.fanout.planner import Chunk, plan_broadcast
from wsgateway.fanout.recipients import Recipients
from wsgateway.ledger_models import FanoutBroadcast
from wsgateway.payloads import PlanResult
from wsgateway.querysets import WebSocketSessionQuerySet

logger = logging.getLogger("wsgateway.fanout")

#: A plan of at most this many chunks has its first chunk delivered by the planning task.
INLINE_MAX_CHUNKS = 2


class _HoldSmallPlan:
    """The planner's ``emit`` (called after the ledger rows are written) that holds back the
    first ``limit`` chunks: once a chunk more arrives, the plan is not small and every chunk goes
    to ``emit`` as it comes; otherwise the held chunks are still here when planning ends."""

    def __init__(self, emit: Callable[[Chunk], object], limit: int, on_release: Callable[[], object]) -> None:
        self.emit = emit
        self.limit = limit
        self.on_release = on_release
        self.held: list[Chunk] = []
        self.released = False

    def __call__(self, chunk: Chunk) -> None:
        if self.released:
            self.emit(chunk)
            return
        self.held.append(chunk)
        if len(self.held) > self.limit:
            self.released = True
            self.on_release()
            held, self.held = self.held, []
            for one in held:
                self.emit(one)


def _not_planned(message_id: str, found: FanoutBroadcast | None) -> PlanResult:
    """The outcome of a planner that found nothing to plan (planned already, or planning elsewhere)."""
    if found is None:
        return {"status": "planning elsewhere", "message_id": message_id}
    return {
        "status": "planned",
        "message_id": message_id,
        "targeted": found.targeted,
        "chunks": found.chunks,
        "no_endpoint": int((found.unreachable or {}).get("failed_by", {}).get("no_endpoint", 0)),
        "already": True,
    }


def broadcast(
    queryset: WebSocketSessionQuerySet | Recipients,
    *,
    message_id: str,
    op: str,
    body: str | None,
    emit: Callable[[Chunk], object],
    deliver_inline: Callable[[Chunk, bool], object] | None = None,
    task_id: str = "",
) -> PlanResult:
    """Emit chunk tasks for ``queryset``'s live recipients; return the plan.

    Every chunk is written to the delivery ledger before its task is emitted (in batches, see
    :mod:`wsgateway.fanout.ledger`), so a Redis that loses its data does not lose it. With
    ``deliver_inline``, a plan of at most :data:`INLINE_MAX_CHUNKS` chunks has its first chunk
    passed to ``deliver_inline`` (after the others are emitted) instead of ``emit``, with whether
    the chunk is new (the claim was fresh: no earlier planner, so no done-mark can exist for it).

    Planning runs under a claim on the broadcast's ledger row (:mod:`wsgateway.fanout.plan_ledger`,
    ``task_id`` is the planning task's id): a broadcast planned already is not planned again, and
    one whose planner stopped half-way is resumed (its chunks are kept, the rest planned).

    The plan (``status: "planned"``, ``message_id``, ``targeted``, ``chunks``, ``no_endpoint``)
    carries no delivery totals: those arrive as the chunks run, under the message id (see
    :func:`~wsgateway.fanout.results.get_broadcast_summary`), and the step that completes the
    broadcast (usually a chunk task) logs the ``wsgateway.fanout broadcast ...`` line and returns
    the totals under ``"broadcast"``. Zero totals here would read as "nothing delivered".
    """
    try:
        return _broadcast(queryset, message_id, op, body, emit, deliver_inline, task_id)
    except plan_ledger.PlanTakenOver:
        logger.warning(
            "wsgateway.fanout broadcast message_id=%s: another planner took the plan over; this one stopped",
            message_id,
        )
        return {"status": "planning elsewhere", "message_id": message_id}


def _broadcast(
    queryset: WebSocketSessionQuerySet | Recipients,
    message_id: str,
    op: str,
    body: str | None,
    emit: Callable[[Chunk], object],
    deliver_inline: Callable[[Chunk, bool], object] | None,
    task_id: str,
) -> PlanResult:
    with contextlib.ExitStack() as small_plan:
        if deliver_inline is not None:
            # While the plan is small, its ledger rows (broadcast and chunks) are written in one
            # transaction: one commit (a WAL flush) before the first POST instead of two. A plan
            # that grows past the limit commits before its first chunk is enqueued.
            small_plan.enter_context(transaction.atomic())
        claimed = plan_ledger.claim(message_id, op, body, task_id)
        if not isinstance(claimed, plan_ledger.Claim):
            return _not_planned(message_id, claimed)
        hold = _HoldSmallPlan(emit, INLINE_MAX_CHUNKS if deliver_inline is not None else 0, small_plan.close)
        for row in claimed.unsent:  # an earlier planner's rows whose tasks may not be published
            hold(ledger.row_chunk(row, op, body))
        emitted = min((int(row.chunk) for row in claimed.unsent), default=claimed.first_chunk)
        # A small plan's first batch is written in the transaction that took the claim (its
        # release, which commits, comes after the batch's rows).
        writer = ledger.PlanWriter(claimed, hold, emitted, claimed_in_transaction=deliver_inline is not None)
        plan, unreachable = plan_broadcast(
            queryset,
            message_id=message_id,
            op=op,
            body=body,
            emit=writer,
            skip=claimed.covered,
            first_chunk=claimed.first_chunk,
        )
        writer.flush()
    # The held chunks' rows are committed: they may be sent now.
    if hold.held and deliver_inline is not None:
        first, *rest = hold.held
        for chunk in rest:
            emit(chunk)
        # Before the plan's bookkeeping: the first POST comes first. A fresh claim's chunk is new
        # (no done-mark to look for, one Redis round trip less before that POST).
        deliver_inline(first, claimed.fresh)
    targeted = len(claimed.covered) + plan.targeted
    chunks = claimed.first_chunk + plan.chunks
    writer.finish(targeted, chunks, unreachable)
    completed = results.record_plan(message_id, targeted, chunks, unreachable)
    outcome: PlanResult = {
        "status": "planned",
        "message_id": message_id,
        "targeted": targeted,
        "chunks": chunks,
        "no_endpoint": plan.no_endpoint,
    }
    if completed:  # nothing to send, or every chunk ran before the plan was recorded
        ledger.close(message_id)
        outcome["broadcast"] = results.get_broadcast_summary(message_id)
    return outcome
