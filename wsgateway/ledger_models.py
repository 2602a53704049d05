"""The delivery ledger: what a broadcast still owes, kept in the database (docs/architecture.md §5).

Redis holds the queued chunk tasks, the retries waiting for their countdown and the broadcast
summaries. A Redis that loses its data (restarted without persistence, failed over to an empty
replica) loses all three. The ledger keeps, per broadcast, what is needed to finish it anyway:
the message (op, body), the plan's totals, and one row per chunk (its recipients, its state,
its counts once it finished) stamped with the broker epoch (a random key in Redis, see
:mod:`wsgateway.fanout.ledger`) that held its task. The lease keeper replays the pending chunks of
an epoch that is gone and rebuilds the summaries.
"""

from __future__ import annotations

from typing import Any

from django.db import models
from django.utils import timezone


class RowJSONField(models.JSONField):
    """A ``JSONField`` that PostgreSQL bulk-inserts as ``VALUES`` rows, not through ``UNNEST``.

    Django 5.2 bulk-inserts on PostgreSQL through ``UNNEST`` of one array per column, and the
    driver quotes every JSON value into that array's text with a regular expression: for a
    chunk's recipient list, most of the planner's ledger CPU. A field with a ``get_placeholder``
    opts the insert out of ``UNNEST``; the placeholder is the usual one. The column, and what
    migrations see (``deconstruct``), are a plain ``JSONField``'s.
    """

    def get_placeholder(self, value: object, compiler: object, connection: object) -> str:
        return "%s"

    def deconstruct(self) -> Any:
        name, _path, args, kwargs = super().deconstruct()
        return name, "django.db.models.JSONField", args, kwargs


class FanoutBroadcast(models.Model):
    """One broadcast (one message id): its planning request, its message, its plan, whether its
    summary completed."""

    message_id = models.CharField(max_length=255, unique=True)
    op = models.CharField(max_length=16)
    body = models.TextField(null=True, blank=True)  # noqa: DJ001 (None: a DELETE has no body)
    #: The broker epoch whose Redis holds this broadcast's summary.
    epoch = models.CharField(max_length=64)
    #: Set once the planner has recorded targeted / chunks / unreachable below.
    planned = models.BooleanField(default=False)
    #: False once the summary completed (delivered + gone + failed reached targeted).
    open = models.BooleanField(default=True)
    targeted = models.PositiveIntegerField(default=0)
    chunks = models.PositiveIntegerField(default=0)
    #: The recipients the planner could not reach, by cause (``{"no_endpoint": 3}``).
    unreachable = models.JSONField(default=dict, blank=True)
    created_on = models.DateTimeField(default=timezone.now, db_index=True)

    # The planning request (see wsgateway.fanout.plan_ledger): written by the caller, in its
    # transaction, before the planning task is published, so a lost task is published again.
    #: The planning task's name ("" for a broadcast planned outside a task: not republishable).
    task = models.CharField(max_length=255, blank=True, default="")
    #: ``[args, kwargs]`` of the planning task, as kombu's JSON (the broker's own encoding).
    request = models.TextField(null=True, blank=True)  # noqa: DJ001 (None: no request recorded)
    #: When the planning task was last published; None: publish it at the next replay round.
    enqueued_on = models.DateTimeField(null=True, blank=True)
    #: How often the lease keeper published the planning task again.
    republished = models.PositiveIntegerField(default=0)
    #: The claim of the planner running the plan: random per claim, renewed at each batch.
    planner = models.CharField(max_length=32, blank=True, default="")
    #: The Celery task id holding the claim (its redelivery takes the claim over at once).
    planner_task = models.CharField(max_length=255, blank=True, default="")
    planner_seen = models.DateTimeField(null=True, blank=True)
    #: Top-level chunks ``"0"`` .. ``emitted - 1`` had their tasks published (a re-plan skips them).
    emitted = models.PositiveIntegerField(default=0)

    class Meta:
        app_label = "wsgateway"
        indexes = [models.Index(fields=["open", "epoch"], name="wsgateway_fanout_open_epoch")]

    def __str__(self) -> str:
        return f"broadcast {self.message_id}"


class FanoutChunk(models.Model):
    """One chunk of a broadcast: its recipients, its state, the broker epoch that holds its task."""

    class State(models.TextChoices):
        PENDING = "pending"
        DONE = "done"
        FAILED = "failed"

    message_id = models.CharField(max_length=255)
    #: The chunk's name: ``"3"`` for the planner's fourth chunk, ``"3.1"`` for its first retry.
    chunk = models.CharField(max_length=64)
    endpoint = models.TextField()
    #: ``[[connection_id, created_on_epoch], ...]``, as the chunk task carries them.
    connections = RowJSONField()
    attempt = models.PositiveIntegerField(default=0)
    #: How often the lease keeper re-enqueued it after the broker lost its data.
    replays = models.PositiveIntegerField(default=0)
    state = models.CharField(max_length=8, choices=State.choices, default=State.PENDING)
    epoch = models.CharField(max_length=64)
    #: The chunk's outcome counts (delivered, gone, retried, failed, failed_by) once finished.
    counts = models.JSONField(null=True, blank=True)
    updated_on = models.DateTimeField(default=timezone.now)

    class Meta:
        app_label = "wsgateway"
        constraints = [
            models.UniqueConstraint(fields=["message_id", "chunk"], name="wsgateway_fanout_chunk_unique")
        ]
        indexes = [models.Index(fields=["state", "epoch"], name="wsgateway_fanout_state_epoch")]

    def __str__(self) -> str:
        return f"chunk {self.chunk} of {self.message_id} ({self.state})"
