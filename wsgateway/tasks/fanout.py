"""Fan-out tasks (queue ``fanout``): thin wrappers over :mod:`wsgateway.fanout`.

All run with ``acks_late`` and ``reject_on_worker_lost``: a worker killed mid-task gets its
message redelivered, not lost. Chunks are idempotent per (message id, chunk) through a done-mark
in Redis, so a redelivered chunk that had finished is skipped, while one that was interrupted
re-sends (clients drop duplicates by ``message_id``).
"""

from __future__ import annotations

import functools
import logging
import time
from collections.abc import Callable, Iterable
from typing import Any, TypeVar, cast

from celery import Task, current_task, shared_task
from celery.contrib.django.task import DjangoTask
from django.db import (
    DatabaseError,
    InterfaceError,
    OperationalError,
    close_old_connections,
    connection,
    transaction,
)
from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import TimeoutError as RedisTimeoutError

from wsgateway import recovery
from wsgateway.fanout import delivery, ledger, plan_ledger
from wsgateway.fanout.broadcast import broadcast
from wsgateway.fanout.limiter import RateLimitTimeout
from wsgateway.fanout.messages import encode_message, new_message_id
from wsgateway.fanout.planner import DELETE, POST, Chunk
from wsgateway.fanout.recipients import Recipients
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


#: ``apply_async`` option: False publishes without writing the ledger row (it is written).
LEDGER_OPTION = "wsgateway_ledger"


class PlannerTask(DjangoTask[..., Any]):
    """A planning task: its send is recorded in the delivery ledger before it is published.

    ``apply_async`` (and so ``delay``) writes the broadcast's ledger row with the task's name and
    arguments, then publishes (:func:`wsgateway.fanout.plan_ledger.record_request`): inside the
    caller's transaction when there is one. ``delay_on_commit`` / ``apply_async_on_commit`` write
    the row at once, in the transaction, and publish on commit; a publish that fails then is
    logged and left to the lease keeper, which publishes it from the ledger. The lease keeper also
    publishes again a task lost with the broker's data (see :mod:`wsgateway.fanout.plan_ledger`).

    A planning task that fails for good logs which broadcast it leaves incomplete: the chunks it
    had planned are delivered (they are in the delivery ledger), the rest of its recipients get
    nothing, and its summary never completes."""

    def prepared(self, args: Any, kwargs: Any) -> tuple[Any, dict[str, Any], str | None]:
        """``(args, kwargs, message_id)`` as published (``send_to_sessions(target, message_id, body)``)."""
        kwargs = dict(kwargs or {})
        message_id = kwargs.get("message_id")
        if message_id is None and len(args or ()) > 1:
            message_id = args[1]
        return args, kwargs, message_id if isinstance(message_id, str) and message_id else None

    def apply_async(self, args: Any = None, kwargs: Any = None, *rest: Any, **options: Any) -> Any:
        args, kwargs, message_id = self.prepared(args, kwargs)
        if options.pop(LEDGER_OPTION, True) and message_id is not None:
            plan_ledger.record_request(message_id, self.name, args, kwargs)
            try:
                result = super().apply_async(args, kwargs, *rest, **options)
            except Exception as err:
                if connection.in_atomic_block:  # the caller may still commit: publish it then
                    plan_ledger.publish_failed(message_id, err)
                else:  # the caller learns the send failed: nothing is sent later
                    plan_ledger.forget_request(message_id)
                raise
        else:
            result = super().apply_async(args, kwargs, *rest, **options)
        result.message_id = message_id  # type: ignore[attr-defined]
        return result

    # The stubs say these return a result; Celery's own return None, as these do.
    def apply_async_on_commit(  # type: ignore[override]
        self, args: Any = None, kwargs: Any = None, **options: Any
    ) -> None:
        """Record the send in the ledger now, in the transaction; publish it on commit."""
        args, kwargs, message_id = self.prepared(args, kwargs)
        if message_id is not None:
            plan_ledger.record_request(message_id, self.name, args, kwargs)
        transaction.on_commit(functools.partial(self.publish_recorded, args, kwargs, message_id, **options))

    def delay_on_commit(self, *args: Any, **kwargs: Any) -> None:  # type: ignore[override]
        """``delay`` on commit, the send recorded in the ledger now (see :meth:`apply_async_on_commit`)."""
        self.apply_async_on_commit(args, kwargs)

    def publish_recorded(self, args: Any, kwargs: Any, message_id: str | None, **options: Any) -> Any:
        """Publish a send whose ledger row is written; a failure is left to the lease keeper."""
        try:
            return self.apply_async(args, kwargs, **{LEDGER_OPTION: message_id is None}, **options)
        except Exception as err:
            if message_id is None:
                raise
            plan_ledger.publish_failed(message_id, err)
            return None

    def on_failure(self, exc: Exception, task_id: str, args: Any, kwargs: Any, einfo: Any) -> None:
        _, _, message_id = self.prepared(args, kwargs)
        logger.error(
            "wsgateway.fanout broadcast message_id=%s failed while planning (%r): recipients not "
            "planned yet get nothing and its summary will not complete",
            message_id,
            exc,
        )
        try:
            plan_ledger.give_up_planning(message_id)  # not published again by the lease keeper
        except DatabaseError as err:
            logger.warning(
                "wsgateway.fanout broadcast message_id=%s: ledger not updated: %r", message_id, err
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

    def prepared(self, args: Any, kwargs: Any) -> tuple[Any, dict[str, Any], str | None]:
        kwargs = dict(kwargs or {})
        data = args[0] if args else kwargs.get("data")
        chosen = data.get("message_id") if isinstance(data, dict) else None
        if not (isinstance(chosen, str) and chosen):
            chosen = kwargs.get("message_id") or new_message_id()
            kwargs["message_id"] = chosen
        return args, kwargs, chosen


def _chunk_repr(chunk: Chunk) -> str:
    """What logs and task events (Flower) show for a chunk task's arguments.

    Celery would otherwise ``saferepr`` the whole chunk (hundreds of connection ids) on publish
    and again in the worker, for a truncated list nobody reads.
    """
    return (
        f"({{message_id={chunk.get('message_id')} chunk={chunk.get('chunk')} "
        f"attempt={chunk.get('attempt', 0)} connections={len(chunk.get('connections') or ())}}},)"
    )


def _emit(chunk: Chunk) -> None:
    deliver_chunk.apply_async((chunk,), argsrepr=_chunk_repr(chunk))


def _requeue(chunk: Chunk, countdown: float) -> None:
    # With Redis, a message not acked within the visibility timeout is delivered again; a
    # countdown task waits unacked in the worker, so keep it well below that timeout.
    options = deliver_chunk.app.conf.broker_transport_options or {}
    visibility = float(options.get("visibility_timeout", 3600))
    deliver_chunk.apply_async((chunk,), countdown=min(countdown, visibility / 2), argsrepr=_chunk_repr(chunk))


def _chunk_what(chunk: Chunk) -> str:
    return f"chunk message_id={chunk.get('message_id')} chunk={chunk.get('chunk')}"


def _deliver_inline(chunk: Chunk, new: bool = False) -> None:
    """Deliver a small plan's first chunk in the planning task (one broker hop, not two).

    Its ledger row is written already. A failure hands the chunk to a chunk task, whose own
    failure handling (retries, :func:`~wsgateway.fanout.ledger.give_up`) then applies; a worker
    killed here has the planning task redelivered (see :mod:`wsgateway.fanout.broadcast`).
    ``new`` (a fresh plan's chunk) skips the done-mark lookup on the first attempt only: an
    attempt retried after an outage may have finished before it.
    """
    what = _chunk_what(chunk)
    attempts = iter([new])

    def attempt() -> ChunkResult:
        return delivery.run_chunk(chunk, _requeue, new=next(attempts, False))

    try:
        _through_outages(attempt, what)
    except Exception as err:
        logger.warning("wsgateway.fanout %s: inline delivery failed (%r); enqueued as a task", what, err)
        _emit(chunk)


def _broadcast(
    queryset: WebSocketSessionQuerySet | Recipients, message_id: str, op: str, body: str | None
) -> PlanResult:
    # The task id names this planner's claim on the broadcast: its redelivery takes it over.
    task_id = str(getattr(getattr(current_task, "request", None), "id", None) or "")
    return _through_outages(
        lambda: broadcast(
            queryset,
            message_id=message_id,
            op=op,
            body=body,
            emit=_emit,
            deliver_inline=_deliver_inline,
            task_id=task_id,
        ),
        f"broadcast message_id={message_id}",
    )


def _kept_for_recovery(target: Target, message_id: str, body: str) -> str:
    """A channel message appended to the channel's recovery window, its body stamped with the
    entry id (docs/recovery.md); any other message unchanged.

    Before the recipients are read: a client that resumes on the channel later either finds the
    message in the window or was on the channel when the planner read it. Only a message for the
    whole channel is kept (:func:`~wsgateway.recovery.kept_channel`).
    """
    channel = recovery.kept_channel(target)
    if channel is None:
        return body
    return _through_outages(
        lambda: recovery.record(
            channel,
            message_id,
            body,
            api_gateway_id=target.api_gateway_id,
            own_channel_only=not target.subscribers,
        ),
        f"recovery record message_id={message_id}",
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
        subscribers=True,  # on the channel: its sessions and its subscribers
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
    body = _kept_for_recovery(target, chosen, body)
    return _broadcast(target.recipients(), chosen, POST, body)


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
    chosen = Target.from_dict(target)
    body = _kept_for_recovery(chosen, message_id, body)
    return _broadcast(chosen.recipients(), message_id, POST, body)


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


def republish_lost(channel: Any) -> None:
    """What the lease keeper (:mod:`wsgateway.fanout.lease`) runs each round: enqueue again the
    delivery ledger's chunks of a lost broker epoch, and publish again the planning tasks the
    broker lost while the ``fanout`` queue of ``channel`` (a worker's broker channel) is idle."""

    def publish(name: str, args: list[Any], kwargs: dict[str, Any]) -> None:
        deliver_chunk.app.tasks[name].apply_async(args, kwargs, **{LEDGER_OPTION: False})

    def queue_idle() -> bool:
        return channel is not None and int(channel._size(FANOUT)) == 0

    ledger.replay(lambda chunk: deliver_chunk.apply_async((chunk,)))
    plan_ledger.replay_plans(publish, queue_idle)
