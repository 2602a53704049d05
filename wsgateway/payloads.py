"""The shapes of the plain data that crosses the broker between wsgateway's tasks.

Task arguments travel as JSON, so they are dicts and lists, never model instances or
dataclasses; these TypedDicts name their keys and types for the type checker (at run time they
are ordinary dicts, and a message enqueued by an older version still reads the same).
"""

from __future__ import annotations

from typing import NotRequired, Required, TypedDict

#: One recipient of a chunk: ``[connection_id, created_on_epoch_seconds]`` (JSON has no tuples).
Recipient = list[str | float]


class Chunk(TypedDict):
    """One ``wsgateway.deliver_chunk`` task's argument (docs/architecture.md §5): a slice of one
    broadcast's recipients on one management endpoint."""

    #: The broadcast's id: results, done-marks and the log are keyed by it.
    message_id: str
    #: ``"post"`` (send ``body``) or ``"delete"`` (close the connections).
    op: str
    #: The encoded message (at most 128 KiB); None for a ``delete``.
    body: str | None
    #: The management endpoint URL (``https://{api}.execute-api.{region}.amazonaws.com/{stage}``).
    endpoint: str
    #: The chunk's name within the broadcast (its index; retries keep it).
    chunk: str
    #: 0 for the first send; a re-enqueued retry carries the next number.
    attempt: int
    #: ``[connection_id, created_on_epoch_seconds]`` per recipient.
    connections: list[Recipient]


class TargetData(TypedDict, total=False):
    """A :class:`wsgateway.fanout.targets.Target` as a ``wsgateway.send_to_sessions`` argument;
    an absent key means "any"."""

    connection_id: str
    channel_name: str
    #: With ``channel_name``: also the channel's subscribers (wsgateway.subscriptions).
    subscribers: bool
    user_id: int | str
    api_gateway_id: int
    exclude: list[str]


# --- fan-out results (task results, read by Flower, tests and ``wsgateway.sending``) ---


class CountsData(TypedDict):
    """A chunk's (or a broadcast's) outcome counts as plain data
    (:class:`wsgateway.fanout.results.Counts`; also stored on the chunk's ledger row)."""

    delivered: int
    gone: int
    retried: int
    failed: int
    #: Failed recipients by cause (``"403"``, ``"429"``, ``"no_answer"``, ``"no_endpoint"`` …).
    failed_by: dict[str, int]


class BroadcastSummary(TypedDict):
    """A broadcast's totals so far (:func:`wsgateway.fanout.results.get_broadcast_summary`)."""

    message_id: str
    targeted: int
    delivered: int
    gone: int
    retried: int
    failed: int
    chunks: int
    #: Every targeted recipient is accounted for.
    complete: bool
    failed_by: dict[str, int]


class PlanResult(TypedDict):
    """A planning task's result (``send_message``, ``disconnect``, ``send_to_sessions``): what was
    planned, no delivery totals (docs/architecture.md §5)."""

    #: "planned"; or "planning elsewhere" (another planner holds the broadcast's claim: no counts).
    status: str
    message_id: str
    targeted: NotRequired[int]
    chunks: NotRequired[int]
    no_endpoint: NotRequired[int]
    #: True when an earlier planner had planned it already (a redelivered planning task).
    already: NotRequired[bool]
    #: The totals, when planning completed the broadcast (nothing to send, or every chunk ran).
    broadcast: NotRequired[BroadcastSummary | None]


class ChunkResult(TypedDict, total=False):
    """A ``wsgateway.deliver_chunk`` task's result: the chunk's counts, or ``skipped``."""

    message_id: Required[str]
    chunk: Required[str]
    #: The chunk had already finished (a redelivered task): nothing was sent.
    skipped: bool
    attempt: int
    delivered: int
    gone: int
    retried: int
    failed: int
    failed_by: dict[str, int]
    #: The totals, when this chunk completed the broadcast.
    broadcast: BroadcastSummary | None


# --- maintenance task results (docs/architecture.md §6) ---


class Removed(TypedDict):
    """``cleanup_tokens`` / ``cleanup_rate_limits`` / ``purge_disconnected_sessions``: rows deleted."""

    removed: int


class SweepReport(TypedDict):
    """``sweep_stale_sessions``'s result (:class:`wsgateway.maintenance.SweepResult`)."""

    expired: int
    probed: int
    gone: int
    alive: int
    errors: int
    #: ``errors`` by cause: HTTP status, ``no_answer`` or ``budget``.
    errors_by: dict[str, int]


# --- provisioning (the ``wsgateway.provisioning_step`` chain, docs/architecture.md §7) ---

#: A row's or AWS's value of one compared field.
FieldValue = str | bool | int | None


class Difference(TypedDict):
    """One field where the row and AWS differ (Sync from AWS, ``checkApiGateway``)."""

    #: The row's field, or ``route[<key>]`` / ``route[<key>].<field>`` for a route.
    field: str
    row: FieldValue
    aws: FieldValue


class StepResult(TypedDict, total=False):
    """One provisioning step's result: the task's return value, and the ``previous`` argument
    of the chain's next step. ``result`` is always there; the other keys depend on the step."""

    result: Required[str]
    #: Added by the runner to every step's result.
    run_id: str
    gateway: int
    step: str
    #: Differences found so far in the run (carried from step to step).
    differences: list[Difference]
    #: The run ends here (the lock is another run's); ``message`` says why.
    stop: bool
    message: str
    holder: str
    reason: str
    #: ``finish``: the row's provisioning status.
    status: str
    #: ``create_api``
    api_id: str
    changed: list[str]
    #: ``integrations`` / ``routes`` / ``additional_routes``: the result per route key.
    integrations: dict[str, str]
    routes: dict[str, str]
    #: ``stage`` / ``deploy``
    stage: str
    deployment_id: str
    #: ``prune_routes`` / ``delete_route``
    deleted_routes: list[str]
    route_id: str
    #: ``rotate_secret``
    updated_integrations: int
    integration_ids: list[str]
    #: ``domain_name`` / ``api_mapping`` / ``dns_alias``
    api_gateway_domain_name: str
    api_mapping_id: str
    dns_change_id: str
    #: ``delete_from_aws`` / ``delete_row``
    deleted: dict[str, str]
    row: int


class RouteResult(TypedDict):
    """``ApiGatewayAdditionalRoute.create_route(client, deploy)``'s answer: the route's result and,
    when it deployed, the deployment's."""

    result: str
    deployment: NotRequired[StepResult]
