"""The planning half of the delivery ledger (docs/architecture.md §5): a send outlives the loss
of its planning task.

A send (``send_message``, ``disconnect``, :mod:`wsgateway.sending`) is one *planning task* that
turns a target into chunk tasks. Chunks are in the ledger from the moment they exist
(:mod:`wsgateway.fanout.ledger`); the planning task itself is lost if Redis loses its data
after it was published and before a worker planned it, or if the broker drops it otherwise
(an ``appendfsync everysec`` Redis crashing, a failover to a replica that lagged). So:

1. **Before** the planning task is published, its request (task name, ``[args, kwargs]``) is
   written to the broadcast's ledger row (:func:`record_request`), stamped with the broker epoch:
   in the caller's transaction (the send commits with the caller's data, and is published on
   commit), or in autocommit outside one.
2. A planner **claims** the row before planning (:func:`claim`): a claim is random per planner,
   renewed at every batch of chunk rows (:meth:`Claim.renew`), and free once it was not renewed
   for :data:`CLAIM_STALE`; the redelivery of the same task (same task id) takes it over at once.
   A planner that finds the broadcast planned, or claimed by a live planner, plans nothing (it
   does not wait: if that planner stops, step 4 publishes the task again).
3. A re-plan (a redelivered or republished task finding a partial plan) skips the recipients the
   rows already hold, names its chunks after theirs, and publishes again only the rows whose
   tasks may not have been published (:attr:`Claim.unsent`): planning twice never duplicates a
   chunk.
4. The lease keeper publishes the task again (:func:`replay_plans`) when the row is not planned,
   not claimed by a live planner, and either Redis lost its data since it was published (the
   ledger's epoch check clears ``enqueued_on``), its publish failed, or it was published over
   :data:`REPUBLISH_AFTER` ago and the fan-out queue is empty (nothing ahead of it is waiting, so
   it is not waiting either). After :data:`MAX_REPUBLISHES` the send is given up, logged at ERROR.
"""

from __future__ import annotations

import contextlib
import logging
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import timedelta
from typing import Any

from django.db import IntegrityError, connection, transaction
from django.db.models import F, Q
from django.db.models.constants import OnConflict
from django.db.models.sql import InsertQuery
from django.utils import timezone
from kombu.utils import json as kombu_json
from redis.exceptions import RedisError

# ledger imports this module too: attribute access (ledger.X) resolves at call time.
from wsgateway.fanout import ledger
from wsgateway.ledger_models import FanoutBroadcast, FanoutChunk

logger = logging.getLogger("wsgateway.fanout")

#: A claim not renewed for this long is free for another planner.
CLAIM_STALE = timedelta(seconds=10)
#: A planning task published this long ago and not yet claimed is published again (queue empty).
REPUBLISH_AFTER = timedelta(seconds=60)
#: Publishes by the lease keeper before a send is given up.
MAX_REPUBLISHES = 5
#: Rows republished per round.
REPLAY_BATCH = 200


class PlanTakenOver(Exception):
    """Another planner claimed this broadcast: this one stops (it wrote nothing after the claim)."""


def _epoch_or_blank() -> str:
    """The broker epoch, or "" when Redis cannot be reached (the row then counts as stale)."""

    try:
        return ledger.current_epoch()
    except (RedisError, OSError):
        return ""


@contextlib.contextmanager
def _commit_without_waiting() -> Iterator[None]:
    """Outside the caller's transaction on PostgreSQL: one transaction whose commit does not wait
    for its WAL flush (``synchronous_commit = off``, for it alone).

    A send made outside a transaction would otherwise add a synchronous commit (a disk flush) to
    every send's latency. The row matters only if the broker also loses the task, and only until
    the planner has claimed it; a database crash within the WAL writer's delay (some 0.6 s) that
    loses the row loses nothing else (never corrupts), and a planner that finds no row writes
    one. Inside the caller's transaction the row commits with the caller's data, as it chose.
    """
    if connection.in_atomic_block or connection.vendor != "postgresql":
        yield
        return
    with transaction.atomic():
        with connection.cursor() as cursor:
            cursor.execute("SET LOCAL synchronous_commit TO OFF")
        yield


def record_request(message_id: str, task: str, args: Any, kwargs: Any) -> None:
    """Write the broadcast's ledger row with its planning request, before the task is published.

    Idempotent (a row already there is kept: a task's own retry publishes again)."""
    row = FanoutBroadcast(
        message_id=message_id,
        op="",  # set by the planner's claim, before any chunk exists
        epoch=_epoch_or_blank(),
        task=task,
        request=kombu_json.dumps([list(args or ()), dict(kwargs or {})]),
        enqueued_on=timezone.now(),
    )
    if _insert_in_one_round_trip(row):
        return
    with _commit_without_waiting():
        FanoutBroadcast.objects.bulk_create([row], ignore_conflicts=True)


def _insert_in_one_round_trip(row: FanoutBroadcast) -> bool:
    """On PostgreSQL in autocommit with client-side binding (Django's default): the row's
    ``INSERT ... ON CONFLICT DO NOTHING`` and a ``SET LOCAL synchronous_commit TO OFF`` in one
    query string, which PostgreSQL runs as one implicit transaction (the setting holds for it
    alone, as in :func:`_commit_without_waiting`): one round trip on the send's path instead of
    four (``BEGIN``, ``SET LOCAL``, ``INSERT``, ``COMMIT``). False: not applicable, nothing done."""
    if (
        connection.vendor != "postgresql"
        or connection.in_atomic_block
        or connection.settings_dict.get("OPTIONS", {}).get("server_side_binding")
    ):
        return False
    connection.ensure_connection()
    if not connection.get_autocommit():
        return False
    fields = [f for f in FanoutBroadcast._meta.concrete_fields if not f.primary_key and not f.generated]
    query = InsertQuery(FanoutBroadcast, on_conflict=OnConflict.IGNORE)
    query.insert_values(fields, [row])
    ((sql, params),) = query.get_compiler(connection=connection).as_sql()
    with connection.cursor() as cursor:
        cursor.execute("SET LOCAL synchronous_commit TO OFF; " + sql, params)
    return True


def publish_failed(message_id: str, error: BaseException) -> None:
    """The planning task could not be published: the next replay round publishes it."""
    logger.warning(
        "wsgateway.fanout broadcast message_id=%s: planning task not published (%r); the lease "
        "keeper publishes it from the delivery ledger",
        message_id,
        error,
    )
    FanoutBroadcast.objects.filter(message_id=message_id, planned=False).update(enqueued_on=None)


def forget_request(message_id: str) -> None:
    """The caller learned that its send failed (publish error outside a transaction): drop it."""
    FanoutBroadcast.objects.filter(message_id=message_id, planned=False, planner="").delete()


# ------------------------------------------------------------------------------------ claiming


@dataclass
class Claim:
    """A planner's hold on a broadcast, and what an earlier partial plan left."""

    message_id: str
    token: str
    #: Connection ids the existing top-level chunk rows hold (a re-plan skips them).
    covered: set[str] = field(default_factory=set)
    #: The number of the next top-level chunk.
    first_chunk: int = 0
    #: Pending rows of the current epoch whose tasks may not have been published.
    unsent: list[FanoutChunk] = field(default_factory=list)
    #: No planner held this broadcast before: none of its chunks exists, so none has a
    #: done-mark (its first chunk, delivered inline, need not look for one).
    fresh: bool = False

    def renew(self, emitted: int, **plan: Any) -> None:
        """Renew the claim (inside the caller's transaction), recording that top-level chunks
        below ``emitted`` were published, and ``plan``'s fields; raise :class:`PlanTakenOver` if
        another planner holds it now."""
        updated = FanoutBroadcast.objects.filter(message_id=self.message_id, planner=self.token).update(
            planner_seen=timezone.now(), emitted=emitted, **plan
        )
        if not updated:
            raise PlanTakenOver(self.message_id)


def _top_level(name: str) -> int | None:
    return int(name) if name.isdigit() else None


def _take(message_id: str, op: str, body: str | None, task_id: str) -> tuple[str, FanoutBroadcast | None]:
    """One attempt: ``("claimed", previous state)``, ``("planned", row)`` or ``("busy", None)``."""

    now = timezone.now()
    token = uuid.uuid4().hex
    mine = {"planner": token, "planner_task": task_id, "planner_seen": now}
    # The usual case, a recorded request no planner has held yet, in one statement: the claim
    # is then fresh (the state ``_resume`` would read is "never planned"), with no SELECT first.
    never_held = FanoutBroadcast.objects.filter(message_id=message_id, planned=False, planner="", emitted=0)
    if never_held.update(op=op, body=body, **mine):
        return token, None
    row = FanoutBroadcast.objects.filter(message_id=message_id).first()
    if row is None:  # planned without a recorded request (a test, a caller-streamed queryset)
        try:
            with transaction.atomic():
                FanoutBroadcast.objects.create(
                    message_id=message_id, op=op, body=body, epoch=ledger.current_epoch(), **mine
                )
            return token, None
        except IntegrityError:  # created meanwhile
            row = FanoutBroadcast.objects.get(message_id=message_id)
    if row.planned:
        return "planned", row
    free = Q(planner="") | Q(planner_seen__lt=now - CLAIM_STALE) | Q(planner_task=task_id)
    if FanoutBroadcast.objects.filter(Q(pk=row.pk, planned=False) & free).update(op=op, body=body, **mine):
        return token, row
    return "busy", FanoutBroadcast.objects.filter(pk=row.pk).first()


def claim(message_id: str, op: str, body: str | None, task_id: str = "") -> Claim | FanoutBroadcast | None:
    """Claim the broadcast for planning.

    Returns a :class:`Claim`; or the row when it is planned already; or ``None`` when a live
    planner holds it (it finishes the plan; if it stops, the lease keeper publishes the task
    again once the claim is stale). ``task_id``: the planning task's id (its redelivery takes
    its own claim over at once). Never waits: it may run inside the small plan's transaction.
    """
    # Inside the small plan's transaction no savepoint (two round trips before the first POST):
    # an error here leaves that transaction anyway, which rolls it back whole.
    with transaction.atomic(savepoint=False):
        outcome, previous = _take(message_id, op, body, task_id or uuid.uuid4().hex)
    if outcome == "planned":
        return previous
    if outcome == "busy":
        return previous if previous is not None and previous.planned else None
    return _resume(message_id, outcome, previous)


def _resume(message_id: str, token: str, previous: FanoutBroadcast | None) -> Claim:
    """The claim, with what an earlier planner of this broadcast left (nothing if none ran)."""

    found = Claim(message_id=message_id, token=token)
    if previous is None or not (previous.planner or previous.emitted):
        found.fresh = True
        return found  # never planned before: no chunk row can exist
    epoch = ledger.current_epoch()
    rows = FanoutChunk.objects.filter(message_id=message_id).order_by("pk")
    for row in rows.only("chunk", "connections", "state", "epoch", "endpoint", "attempt"):
        number = _top_level(row.chunk)
        if number is None:
            continue  # a retry chunk: its recipients are in its top-level chunk
        found.covered.update(c[0] for c in row.connections)
        found.first_chunk = max(found.first_chunk, number + 1)
        # A pending row of an older epoch is the ledger's replay's to publish.
        if number >= previous.emitted and row.state == ledger.PENDING and row.epoch == epoch:
            found.unsent.append(row)
    if found.covered:
        logger.warning(
            "wsgateway.fanout broadcast message_id=%s: resuming a plan cut short (%d chunk(s), %d "
            "recipient(s) planned; %d chunk(s) published again)",
            message_id,
            found.first_chunk,
            len(found.covered),
            len(found.unsent),
        )
    return found


def give_up_planning(message_id: str | None) -> None:
    """A planning task failed for good: no replay publishes it again (its failure is logged)."""
    if message_id:
        FanoutBroadcast.objects.filter(message_id=message_id, planned=False).update(open=False)


# ------------------------------------------------------------------------------------- replay


Publish = Callable[[str, list[Any], dict[str, Any]], object]


def replay_plans(publish: Publish, queue_idle: Callable[[], bool]) -> int:
    """Publish again the planning tasks that were lost (see the module docstring, step 4).

    ``publish(task_name, args, kwargs)`` publishes without writing the row again;
    ``queue_idle()`` says whether the fan-out queue is empty. Returns tasks published. Safe to
    run from several workers: each row is claimed by a conditional ``UPDATE``.
    """

    now = timezone.now()
    waiting = FanoutBroadcast.objects.filter(
        open=True, planned=False, created_on__gte=now - ledger.MAX_AGE
    ).exclude(task="")
    waiting = waiting.filter(Q(planner="") | Q(planner_seen__lt=now - CLAIM_STALE))
    lost = waiting.filter(enqueued_on__isnull=True)
    late = waiting.filter(enqueued_on__lt=now - REPUBLISH_AFTER)
    due = list(lost.order_by("pk")[:REPLAY_BATCH])
    if not due and late.exists() and queue_idle():
        due = list(late.order_by("pk")[:REPLAY_BATCH])
    published = 0
    for row in due:
        if not FanoutBroadcast.objects.filter(pk=row.pk, enqueued_on=row.enqueued_on, planned=False).update(
            enqueued_on=now, republished=F("republished") + 1
        ):
            continue  # another worker took it
        if row.republished >= MAX_REPUBLISHES:
            FanoutBroadcast.objects.filter(pk=row.pk).update(open=False)
            logger.error(
                "wsgateway.fanout broadcast message_id=%s: its planning task was published %d times "
                "and never planned; given up, its recipients get nothing",
                row.message_id,
                row.republished + 1,
            )
            continue
        args, kwargs = kombu_json.loads(row.request or "[[], {}]")
        try:
            publish(row.task, args, kwargs)
        except Exception as err:
            publish_failed(row.message_id, err)
            continue
        published += 1
        logger.warning(
            "wsgateway.fanout broadcast message_id=%s: planning task %s published again from the "
            "delivery ledger (%s)",
            row.message_id,
            row.task,
            "lost with the broker's data" if row.enqueued_on is None else "not started in time",
        )
    return published
