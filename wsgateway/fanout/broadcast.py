"""A broadcast from start to chunk tasks: plan the recipients, emit chunks, record the plan."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from wsgateway.fanout import results
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
    """Emit chunk tasks for ``queryset``'s live recipients; return the planning summary.

    The delivery counts arrive as the chunks run (see
    :func:`~wsgateway.fanout.results.get_broadcast_summary`); the chunk that completes the
    broadcast logs the final ``wsgateway.fanout broadcast ...`` line and returns the summary.
    """
    plan, unreachable = plan_broadcast(queryset, message_id=message_id, op=op, body=body, emit=emit)
    results.record_plan(message_id, plan.targeted, plan.chunks, unreachable)
    summary = results.get_broadcast_summary(message_id) or {"message_id": message_id}
    summary.update(targeted=plan.targeted, chunks=plan.chunks, no_endpoint=plan.no_endpoint)
    return summary
