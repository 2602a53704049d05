"""The shapes of the plain data that crosses the broker between wsgateway's tasks.

Task arguments travel as JSON, so they are dicts and lists, never model instances or
dataclasses; these TypedDicts name their keys and types for the type checker (at run time they
are ordinary dicts, and a message enqueued by an older version still reads the same).
"""

from __future__ import annotations

from typing import Any, TypedDict


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
    #: ``[connection_id, created_on_epoch_seconds]`` per recipient (JSON has no tuples).
    connections: list[list[Any]]


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
