"""A broadcast from start to chunk tasks: plan the recipients, write the ledger, emit chunks,
record the plan."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from wsgateway.fanout import ledger, results
from wsgateway.fanout.planner import Chunk, plan_broadcast
from wsgateway.querysets import WebSocketSessionQuerySet


def broadcast(
    queryset: WebSocketSessionQuerySet,
    *,
    message_id: str,
    op: str,
    body: str | None,
    emit: Callable[[Chunk], object],
) -> dict[str, Any]:
    """Emit chunk tasks for ``queryset``'s live recipients; return the plan.

    Every chunk is written to the delivery ledger before its task is emitted (in batches, see
    :mod:`wsgateway.fanout.ledger`), so a Redis that loses its data does not lose it.

    The plan (``status: "planned"``, ``message_id``, ``targeted``, ``chunks``, ``no_endpoint``)
    carries no delivery totals: those arrive as the chunks run, under the message id (see
    :func:`~wsgateway.fanout.results.get_broadcast_summary`), and the step that completes the
    broadcast (usually a chunk task) logs the ``wsgateway.fanout broadcast ...`` line and returns
    the totals under ``"broadcast"``. Zero totals here would read as "nothing delivered".
    """
    writer = ledger.PlanWriter(message_id, op, body, emit)
    plan, unreachable = plan_broadcast(queryset, message_id=message_id, op=op, body=body, emit=writer)
    writer.finish(plan.targeted, plan.chunks, unreachable)
    completed = results.record_plan(message_id, plan.targeted, plan.chunks, unreachable)
    outcome: dict[str, Any] = {
        "status": "planned",
        "message_id": message_id,
        "targeted": plan.targeted,
        "chunks": plan.chunks,
        "no_endpoint": plan.no_endpoint,
    }
    if completed:  # nothing to send, or every chunk ran before the plan was recorded
        ledger.close(message_id)
        outcome["broadcast"] = results.get_broadcast_summary(message_id)
    return outcome
