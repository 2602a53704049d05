"""Planning a broadcast: stream recipients in id order, cut them into chunks per endpoint.

Recipients are read with keyset pagination (``id > last ORDER BY id LIMIT n``) over
``values_list`` tuples, so memory stays flat however many sessions match and each page is an
index range scan (the session indexes end in ``id``). Rows are grouped by gateway, because each
gateway has its own management endpoint (custom-domain mapping or ``api_endpoint/stage``), and
every ``FANOUT_CHUNK_SIZE`` rows of one endpoint become a chunk: plain data a task carries.
Once a plan has cut ``FANOUT_LARGE_CHUNK_SIZE`` recipients into such chunks, the rest are cut
into chunks of ``FANOUT_LARGE_CHUNK_SIZE`` (:func:`chunk_sizes`): a chunk task costs the worker a
fixed amount of CPU (the broker message, its acknowledgement, task events, the result, a few
Redis round trips), so a large broadcast needs fewer of them per recipient, while a broadcast of
up to ``FANOUT_LARGE_CHUNK_SIZE`` recipients is cut exactly as before (its first chunk is still
delivered by the planning task when the plan is small, see :mod:`wsgateway.fanout.broadcast`).

Each chunk carries the message body itself (at most 128 KiB) rather than a reference to a copy
stored once in Redis: the broker holds (chunks x body) bytes for the length of a broadcast, but a
chunk never depends on a second key that could expire or be evicted before a late retry runs.
"""

from __future__ import annotations

from collections.abc import Callable, Container, Iterator
from dataclasses import dataclass

from wsgateway.conf import wsgateway_settings
from wsgateway.fanout.recipients import KeysetStream, Recipients, Row, epoch_seconds
from wsgateway.fanout.results import Counts
from wsgateway.models import ApiGateway
from wsgateway.payloads import Chunk, Recipient
from wsgateway.querysets import WebSocketSessionQuerySet

POST = "post"
DELETE = "delete"

#: Rows read per query while streaming recipients.
PAGE_SIZE = 2000


def make_chunk(
    *,
    message_id: str,
    op: str,
    body: str | None,
    endpoint: str,
    chunk: str,
    connections: list[Recipient],
    attempt: int = 0,
) -> Chunk:
    """A chunk task's argument: ``connections`` is ``[[connection_id, created_on_epoch], ...]``."""
    return {
        "message_id": message_id,
        "op": op,
        "body": body,
        "endpoint": endpoint,
        "chunk": chunk,
        "attempt": attempt,
        "connections": connections,
    }


def chunk_sizes(chunk_size: int | None = None) -> tuple[int, int, int]:
    """``(small, large, after)``: chunks hold ``small`` recipients until ``after`` recipients were
    cut into chunks, then ``large``. From ``FANOUT_CHUNK_SIZE`` and ``FANOUT_LARGE_CHUNK_SIZE``;
    an explicit ``chunk_size`` means that one size for every chunk."""
    small = int(chunk_size or wsgateway_settings.FANOUT_CHUNK_SIZE)
    large = 0 if chunk_size else int(wsgateway_settings.FANOUT_LARGE_CHUNK_SIZE)
    if large <= small:
        return small, small, 0
    return small, large, large


@dataclass
class Plan:
    """What the planner did: recipients found, chunks emitted, recipients without an endpoint."""

    targeted: int = 0
    chunks: int = 0
    no_endpoint: int = 0


def stream_recipients(
    queryset: WebSocketSessionQuerySet | Recipients, page_size: int = PAGE_SIZE
) -> Iterator[Row]:
    """Yield ``(id, connection_id, api_gateway_id, created_on)`` of ``queryset`` in id order.

    ``queryset`` may also be :class:`~wsgateway.fanout.recipients.Recipients` (a channel: its
    sessions and its subscribers, merged; see :mod:`wsgateway.fanout.recipients`).
    """
    if isinstance(queryset, Recipients):
        return queryset.rows(page_size)
    return KeysetStream(queryset).rows(page_size)


class _Endpoints:
    """Management endpoint URL per gateway id, looked up once per plan."""

    def __init__(self) -> None:
        self._urls: dict[int | None, str] = {None: ""}

    def __getitem__(self, gateway_id: int | None) -> str:
        url = self._urls.get(gateway_id)
        if url is None and gateway_id is not None:
            gateway = ApiGateway.objects.filter(pk=gateway_id).first()
            url = self._urls[gateway_id] = gateway.management_endpoint_url if gateway else ""
        return url or ""


def plan_broadcast(
    queryset: WebSocketSessionQuerySet | Recipients,
    *,
    message_id: str,
    op: str,
    body: str | None,
    emit: Callable[[Chunk], object],
    chunk_size: int | None = None,
    page_size: int = PAGE_SIZE,
    skip: Container[str] = frozenset(),
    first_chunk: int = 0,
) -> tuple[Plan, Counts]:
    """Stream ``queryset``'s recipients and ``emit`` a chunk per ``chunk_size`` of one endpoint
    (default: :func:`chunk_sizes` from the settings, small chunks first).

    A plan that resumes an earlier one cut short passes the connection ids its chunks hold as
    ``skip`` and the number of its next chunk as ``first_chunk`` (chunks are named
    ``first_chunk``, ``first_chunk + 1``, ...); the returned plan counts only what it added.

    Returns the plan and the counts of recipients that cannot be reached (no gateway, or a
    gateway that was never provisioned): they are reported as failed, never silently dropped.
    """
    small, large, large_after = chunk_sizes(chunk_size)
    size = small
    cut = 0  # recipients in the chunks emitted so far
    endpoints = _Endpoints()
    pending: dict[str, list[Recipient]] = {}
    plan = Plan()
    unreachable = Counts()

    def flush(endpoint: str) -> None:
        nonlocal cut, size
        connections = pending.pop(endpoint)
        cut += len(connections)
        if cut >= large_after:
            size = large
        emit(
            make_chunk(
                message_id=message_id,
                op=op,
                body=body,
                endpoint=endpoint,
                chunk=str(first_chunk + plan.chunks),
                connections=connections,
            )
        )
        plan.chunks += 1

    for _id, connection_id, gateway_id, created_on in stream_recipients(queryset, page_size):
        if connection_id in skip:
            continue
        plan.targeted += 1
        endpoint = endpoints[gateway_id]
        if not endpoint:
            plan.no_endpoint += 1
            unreachable.fail("no_endpoint")
            continue
        bucket = pending.setdefault(endpoint, [])
        bucket.append([connection_id, epoch_seconds(created_on)])
        if len(bucket) >= size:
            flush(endpoint)
    for endpoint in list(pending):
        flush(endpoint)
    return plan, unreachable
