"""Fan-out tasks (queue ``fanout``): thin wrappers over :mod:`wsgateway.fanout`.

All run with ``acks_late`` and ``reject_on_worker_lost``: a worker killed mid-task gets its
message redelivered, not lost. Chunks are idempotent per (message id, chunk) through a done-mark
in Redis, so a redelivered chunk that had finished is skipped, while one that was interrupted
re-sends (clients drop duplicates by ``message_id``).
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Iterable
from typing import Any, TypeVar, cast

from celery import Task, shared_task
from celery.contrib.django.task import DjangoTask
from django.db import InterfaceError, OperationalError, close_old_connections
from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import TimeoutError as RedisTimeoutError

from wsgateway.fanout import delivery, ledger
from wsgateway.fanout.broadcast import broadcast
from wsgateway.fanout.limiter import RateLimitTimeout
from wsgateway.fanout.messages import encode_message, new_message_id
from wsgateway.fanout.planner import DELETE, POST, Chunk
from wsgateway.fanout.targets import Target, normalize_exclude
from wsgateway.payloads import ChunkResult, PlanResult, TargetData
from wsgateway.querysets import WebSocketSessionQuerySet
from wsgateway.tasks.queues import FANOUT

# Infrastructure hiccups (broker/DB restarts, an exhausted shared budget) are retried as a whole.
_TRANSIENT = (RedisConnectionError, RedisTimeoutError, OperationalError, InterfaceError, RateLimitTimeout)

#: How long a task keeps retrying in place through a Redis or database outage before it hands the
#: failure to Celery's autoretry (which needs the broker to publish the retry).
IN_PLACE_RETRY_SECONDS = 30.0

logger = logging.getLogger("wsgateway.fanout")
T = TypeVar("T")


def _through_outages(step: Callable[[], T], what: str) -> T:
    """Run ``step``, retrying it in this process while Redis or the database is unreachable.

    A task that raises is acknowledged; its autoretry must publish a new message, which fails
    while the broker is down: the work would be lost. Retrying in place keeps the message
    unacknowledged (the lease keeper redelivers it if this worker dies), and the chunk's re-send
    is safe (at-least-once; the done-mark stops a finished chunk from counting twice).
    """
    deadline = time.monotonic() + IN_PLACE_RETRY_SECONDS
    pause = 0.2
    while True:
        try:
            return step()
        except _TRANSIENT as err:
            if time.monotonic() + pause > deadline:
                raise
            logger.warning("wsgateway.fanout %s: %r; retrying in %.1fs", what, err, pause)
            time.sleep(pause)
            if isinstance(err, OperationalError | InterfaceError):
                close_old_connections()  # a broken connection is replaced, not reused
            pause = min(pause * 2, 5.0)


_FANOUT_OPTIONS: dict[str, Any] = {
    "queue": FANOUT,
    "acks_late": True,
    "reject_on_worker_lost": True,
    "ignore_result": False,
    "autoretry_for": _TRANSIENT,
    "retry_backoff": True,
    "retry_backoff_max": 60,
    "retry_jitter": True,
    "max_retries": 5,
}


class PlannerTask(DjangoTask[..., Any]):
    """A planning task that fails for good logs which broadcast it leaves incomplete: the chunks
    it had planned are delivered (they are in the delivery ledger), the rest of its recipients
    get nothing, and its summary never completes."""

    def on_failure(self, exc: Exception, task_id: str, args: Any, kwargs: Any, einfo: Any) -> None:
        kwargs = kwargs or {}
        message_id = kwargs.get("message_id")
        if message_id is None and len(args or ()) > 1:
            message_id = args[1]  # send_to_sessions(target, message_id, body)
        logger.error(
            "wsgateway.fanout broadcast message_id=%s failed while planning (%r): recipients not "
            "planned yet get nothing and its summary will not complete",
            message_id,
            exc,
        )
        super().on_failure(exc, task_id, args, kwargs, einfo)


class MessageTask(PlannerTask):
    """A task whose caller learns the message id at once.

    A ``DjangoTask`` (Celery's default task class in a Django project), so ``delay_on_commit`` and
    ``apply_async_on_commit`` work as on every other task.

    ``apply_async`` (and so ``delay``) fixes the id before enqueueing: the one in
    ``data["message_id"]`` when it is a string (it wins in :func:`encode_message`), else the
    ``message_id`` keyword, else a new one, which is then passed as the keyword. The id is on the
    returned ``AsyncResult`` as ``.message_id`` and in the task's kwargs (shown by Flower).
    """

    def apply_async(self, args: Any = None, kwargs: Any = None, *rest: Any, **options: Any) -> Any:
        kwargs = dict(kwargs or {})
        data = args[0] if args else kwargs.get("data")
        chosen = data.get("message_id") if isinstance(data, dict) else None
        if not (isinstance(chosen, str) and chosen):
            chosen = kwargs.get("message_id") or new_message_id()
            kwargs["message_id"] = chosen
        result = super().apply_async(args, kwargs, *rest, **options)
        result.message_id = chosen  # type: ignore[attr-defined]
        return result


def _emit(chunk: Chunk) -> None:
    deliver_chunk.apply_async((chunk,))


def _requeue(chunk: Chunk, countdown: float) -> None:
    # With Redis, a message not acked within the visibility timeout is delivered again; a
    # countdown task waits unacked in the worker, so keep it well below that timeout.
    options = deliver_chunk.app.conf.broker_transport_options or {}
    visibility = float(options.get("visibility_timeout", 3600))
    deliver_chunk.apply_async((chunk,), countdown=min(countdown, visibility / 2))


def _chunk_what(chunk: Chunk) -> str:
    return f"chunk message_id={chunk.get('message_id')} chunk={chunk.get('chunk')}"


def _deliver_inline(chunk: Chunk) -> None:
    """Deliver a small plan's first chunk in the planning task (one broker hop, not two).

    Its ledger row is written already. A failure hands the chunk to a chunk task, whose own
    failure handling (retries, :func:`~wsgateway.fanout.ledger.give_up`) then applies; a worker
    killed here has the planning task redelivered (see :mod:`wsgateway.fanout.broadcast`).
    """
    what = _chunk_what(chunk)
    try:
        _through_outages(lambda: delivery.run_chunk(chunk, _requeue), what)
    except Exception as err:
        logger.warning("wsgateway.fanout %s: inline delivery failed (%r); enqueued as a task", what, err)
        _emit(chunk)


def _broadcast(queryset: WebSocketSessionQuerySet, message_id: str, op: str, body: str | None) -> PlanResult:
    return _through_outages(
        lambda: broadcast(
            queryset, message_id=message_id, op=op, body=body, emit=_emit, deliver_inline=_deliver_inline
        ),
        f"broadcast message_id={message_id}",
    )


def _target(
    connection_id: str | None,
    channel_name: str | None,
    user_id: int | str | None,
    api_gateway_id: int | None,
    exclude: str | Iterable[str] | None,
) -> Target:
    named = [x for x in (connection_id, channel_name, user_id) if x is not None]
    if len(named) > 1:
        raise ValueError("Give at most one of connection_id, channel_name, user_id.")
    return Target(
        connection_id=connection_id,
        channel_name=channel_name,
        user_id=user_id,
        api_gateway_id=api_gateway_id,
        exclude=normalize_exclude(exclude),
    )


@shared_task(name="wsgateway.send_message", base=MessageTask, **_FANOUT_OPTIONS)
def send_message(
    data: dict[str, Any],
    *,
    connection_id: str | None = None,
    channel_name: str | None = None,
    user_id: int | str | None = None,
    api_gateway_id: int | None = None,
    exclude: str | list[str] | None = None,
    message_id: str | None = None,
) -> PlanResult:
    """Send ``data`` to one connection, a channel, a user's connections, a gateway, or (none
    given) every live session; ``api_gateway_id`` narrows a channel or user to one gateway.

    ``send_message.delay(...)`` returns at once with the id as ``result.message_id`` (see
    :class:`MessageTask`). The task's result is the plan (``status: "planned"``, ``targeted``,
    ``chunks``); the delivery totals follow under the message id (``get_broadcast_summary``), on
    the chunk task that completes the broadcast, and in the log.
    """
    target = _target(connection_id, channel_name, user_id, api_gateway_id, exclude)
    chosen, body = encode_message(data, message_id)
    return _broadcast(target.queryset(), chosen, POST, body)


@shared_task(name="wsgateway.disconnect", base=MessageTask, **_FANOUT_OPTIONS)
def disconnect(
    *,
    connection_id: str | None = None,
    user_id: int | str | None = None,
    exclude: str | list[str] | None = None,
    message_id: str | None = None,
) -> PlanResult:
    """Close one connection or all of a user's at API Gateway (``DELETE @connections/{id}``)."""
    if (connection_id is None) == (user_id is None):
        raise ValueError("Give exactly one of connection_id, user_id.")
    target = _target(connection_id, None, user_id, None, exclude)
    chosen = message_id or encode_message({})[0]
    # A named connection is closed whatever our row says; a user's kick closes their live ones.
    queryset = target.queryset(live_only=connection_id is None)
    return _broadcast(queryset, chosen, DELETE, None)


@shared_task(name="wsgateway.send_to_sessions", base=PlannerTask, **_FANOUT_OPTIONS)
def send_to_target(target: TargetData, message_id: str, body: str) -> PlanResult:
    """Send an already encoded ``body`` to a :class:`Target` given as plain data."""
    queryset = Target.from_dict(target).queryset()
    return _broadcast(queryset, message_id, POST, body)


class ChunkTask(Task[..., Any]):
    """A chunk task that fails for good (its retries exhausted, or an unexpected error) counts
    its recipients as failed, so the broadcast's summary still completes, and logs an error
    (:func:`wsgateway.fanout.ledger.give_up`). A worker lost mid-chunk is not a failure: the
    message is redelivered."""

    def on_failure(self, exc: Exception, task_id: str, args: Any, kwargs: Any, einfo: Any) -> None:
        chunk = args[0] if args else (kwargs or {}).get("chunk")
        if isinstance(chunk, dict):
            cause = "retries_exhausted" if isinstance(exc, _TRANSIENT) else "error"
            ledger.give_up(cast(Chunk, chunk), cause, exc)
        super().on_failure(exc, task_id, args, kwargs, einfo)


@shared_task(name="wsgateway.deliver_chunk", base=ChunkTask, **_FANOUT_OPTIONS)
def deliver_chunk(chunk: Chunk) -> ChunkResult:
    """Deliver one chunk with the retry policy; returns its counts (and the broadcast summary
    when this chunk completed it)."""
    return _through_outages(lambda: delivery.run_chunk(chunk, _requeue), _chunk_what(chunk))
