"""Sending messages to WebSocket connections — the public API (docs/architecture.md §1, §5, §6).

Every function validates the message, then **enqueues** the work after the current database
transaction commits (``transaction.on_commit``; immediately outside a transaction) and returns a
:class:`SendHandle` at once; none calls AWS. A worker on the ``fanout`` queue streams the
recipients and sends through the management API.

On the wire the message is the JSON object ``{**data, "message_id": id}``. A string
``data["message_id"]`` is kept and used as the id. Delivery is at-least-once: clients drop
duplicates by ``message_id``.

``exclude`` is a connection id or an iterable of them to skip (typically the sender).

Querysets (:func:`send_to_queryset`): a queryset cannot travel through a JSON broker. Exact
filters on ``connection_id``, ``channel_name``, ``user``, ``api_gateway`` (and
``connected=True``) joined by AND compile to a declarative target the worker re-evaluates — the
caller does no database work. Any other filter (lookups like ``__in``/``__gt``, joins, ``Q``
with OR, slices) is streamed by the caller right after commit: recipient ids in keyset pages,
chunk tasks enqueued directly. That costs the caller one indexed query per 2,000 recipients,
in exchange for exact queryset semantics; the handle's ``task_id`` is then ``None``.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from celery import uuid as celery_uuid
from django.db import transaction

from wsgateway import recovery
from wsgateway.fanout.broadcast import broadcast
from wsgateway.fanout.messages import encode_message, new_message_id
from wsgateway.fanout.plan_ledger import record_request
from wsgateway.fanout.planner import POST
from wsgateway.fanout.results import get_broadcast_summary
from wsgateway.fanout.targets import Target, compile_queryset, normalize_exclude
from wsgateway.models import WebSocketSession
from wsgateway.payloads import BroadcastSummary
from wsgateway.tasks import fanout as fanout_tasks

if TYPE_CHECKING:
    from wsgateway.models import ApiGateway
    from wsgateway.querysets import WebSocketSessionQuerySet

__all__ = [
    "SendHandle",
    "disconnect_connection",
    "disconnect_user",
    "get_broadcast_summary",
    "send_to_channel",
    "send_to_connection",
    "send_to_gateway",
    "send_to_queryset",
    "send_to_user",
]

Exclude = str | Iterable[str] | None


@dataclass(frozen=True)
class SendHandle:
    """What a send returns: the message id (in the payload) and the Celery task id.

    ``task_id`` is reserved before enqueueing (the task is created on commit with that id);
    ``None`` when the caller streamed the chunks itself (a non-compilable queryset). The task's
    result (the plan) is not stored: :meth:`summary` (by message id) is how a send is followed.
    """

    message_id: str
    task_id: str | None

    def summary(self) -> BroadcastSummary | None:
        """The broadcast's summary so far (see :func:`get_broadcast_summary`)."""
        return get_broadcast_summary(self.message_id)


def _on_commit(action: Callable[[], object]) -> None:
    transaction.on_commit(action)


def _enqueue(
    task: fanout_tasks.PlannerTask, args: tuple[Any, ...], kwargs: dict[str, Any], message_id: str
) -> SendHandle:
    task_id = celery_uuid()
    # The send is in the delivery ledger from here, in the caller's transaction: once that
    # commits, a publish that fails or a task the broker loses is published again by the lease
    # keeper (wsgateway.fanout.plan_ledger).
    record_request(message_id, task.name, args, kwargs)
    # ignore_result: the caller follows a send by its message id (SendHandle.summary), never by
    # the planning task's result; storing it cost the caller a SUBSCRIBE to the result backend
    # before the publish (on a chat message's path) and an UNSUBSCRIBE, and the worker a SET
    # and a PUBLISH. send_message.delay (Celery's own API) still stores its plan.
    _on_commit(lambda: task.publish_recorded(args, kwargs, message_id, task_id=task_id, ignore_result=True))
    return SendHandle(message_id=message_id, task_id=task_id)


def _send(target: Target, data: dict[str, Any], message_id: str | None) -> SendHandle:
    chosen, body = encode_message(data, message_id)
    channel = recovery.kept_channel(target)
    if channel is not None:
        # The worker stamps a channel message with its recovery id (docs/recovery.md): refuse
        # here, not in the worker, one that would then exceed MAX_MESSAGE_BYTES.
        recovery.check_room(channel, body)
    return _enqueue(fanout_tasks.send_to_target, (target.to_dict(), chosen, body), {}, chosen)


def _required_pk(obj: Any, what: str) -> Any:
    """The primary key of ``obj`` (an instance or a key), refusing "nobody".

    ``None``, an ``AnonymousUser`` or an unsaved instance would leave the target without a
    filter, i.e. every live session: a logged-out ``send_to_user(request.user, ...)`` must fail
    here, not message everyone.
    """
    pk = getattr(obj, "pk", obj)
    if pk is None or pk == "" or isinstance(pk, bool):
        raise ValueError(f"{what} is required (got {obj!r}); it would otherwise select every session.")
    return pk


def send_to_connection(
    session_or_connection_id: WebSocketSession | str, data: dict[str, Any], *, message_id: str | None = None
) -> SendHandle:
    """Send ``data`` to one connection (a session or its connection id).

    A welcome message sent from the ``$connect`` handler arrives: API Gateway answers 410 until
    ``$connect`` returns, and 410s for sessions younger than ``GONE_GRACE_SECONDS`` are retried.
    """
    connection_id = getattr(session_or_connection_id, "connection_id", session_or_connection_id)
    if not isinstance(connection_id, str) or not connection_id:
        raise TypeError("send_to_connection needs a WebSocketSession or a connection id string.")
    return _send(Target(connection_id=connection_id), data, message_id)


def send_to_queryset(
    queryset: WebSocketSessionQuerySet,
    data: dict[str, Any],
    *,
    exclude: Exclude = None,
    message_id: str | None = None,
) -> SendHandle:
    """Send ``data`` to every connected session of ``queryset`` (see the module docstring)."""
    excluded = normalize_exclude(exclude)
    target = compile_queryset(queryset, excluded)
    if target is not None:
        return _send(target, data, message_id)
    chosen, body = encode_message(data, message_id)
    qs = queryset
    if qs.query.is_sliced:
        # Neither filtering nor keyset pagination applies on top of a slice: take its ids once
        # (a slice is bounded by the caller).
        qs = WebSocketSession.objects.filter(pk__in=list(qs.values_list("pk", flat=True)))
    qs = qs.filter(connected=True)
    if excluded:
        qs = qs.exclude(connection_id__in=excluded)

    def stream() -> None:
        emit = fanout_tasks.deliver_chunk.apply_async
        broadcast(qs, message_id=chosen, op=POST, body=body, emit=lambda c: emit((c,)))

    _on_commit(stream)
    return SendHandle(message_id=chosen, task_id=None)


def send_to_user(
    user_or_id: Any, data: dict[str, Any], *, exclude: Exclude = None, message_id: str | None = None
) -> SendHandle:
    """Send ``data`` to every live connection of a user (instance or primary key)."""
    user_id = _required_pk(user_or_id, "A saved user or user id")
    return _send(Target(user_id=user_id, exclude=normalize_exclude(exclude)), data, message_id)


def send_to_channel(
    channel_name: str,
    data: dict[str, Any],
    *,
    exclude: Exclude = None,
    api_gateway: ApiGateway | int | None = None,
    message_id: str | None = None,
) -> SendHandle:
    """Send ``data`` to every live connection on ``channel_name`` (optionally of one gateway):
    those whose own channel it is and those subscribed to it, each once (wsgateway.subscriptions)."""
    if not isinstance(channel_name, str):
        raise TypeError("channel_name must be a string.")
    gateway_id = _required_pk(api_gateway, "api_gateway") if api_gateway is not None else None
    target = Target(
        channel_name=channel_name,
        subscribers=True,
        api_gateway_id=gateway_id,
        exclude=normalize_exclude(exclude),
    )
    return _send(target, data, message_id)


def send_to_gateway(
    api_gateway_or_id: ApiGateway | int,
    data: dict[str, Any],
    *,
    exclude: Exclude = None,
    message_id: str | None = None,
) -> SendHandle:
    """Send ``data`` to every live connection of one gateway."""
    gateway_id = _required_pk(api_gateway_or_id, "A saved ApiGateway or its id")
    target = Target(api_gateway_id=gateway_id, exclude=normalize_exclude(exclude))
    return _send(target, data, message_id)


def disconnect_connection(connection_id: str) -> SendHandle:
    """Close one connection at API Gateway (``DELETE @connections/{id}``)."""
    if not isinstance(connection_id, str) or not connection_id:
        raise TypeError("disconnect_connection needs a connection id string.")
    message_id = new_message_id()
    return _enqueue(
        fanout_tasks.disconnect, (), {"connection_id": connection_id, "message_id": message_id}, message_id
    )


def disconnect_user(user_or_id: Any, *, exclude: Exclude = None) -> SendHandle:
    """Close every connection of a user (logout, deactivation, password change)."""
    user_id = _required_pk(user_or_id, "A saved user or user id")
    message_id = new_message_id()
    kwargs = {
        "user_id": user_id,
        "exclude": list(normalize_exclude(exclude)),
        "message_id": message_id,
    }
    return _enqueue(fanout_tasks.disconnect, (), kwargs, message_id)
