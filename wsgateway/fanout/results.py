"""Per-broadcast summaries aggregated in Redis, and chunk idempotence (docs/architecture.md §5, §6).

A broadcast is split into chunk tasks that run on any worker; each adds its counts to one Redis
hash keyed by the message id. The counts of a chunk are added in the same atomic step that marks
the chunk done (``SET NX``), so a chunk redelivered after it finished is neither re-sent nor
counted twice. The broadcast is complete when the planner has recorded how many it targeted and
``delivered + gone + failed`` reached it; whichever step observes that first logs the summary line.
"""

from __future__ import annotations

import logging
from dataclasses import asdict, dataclass, field
from typing import Any, cast

from wsgateway.payloads import BroadcastSummary, CountsData
from wsgateway.redis_client import get_redis

logger = logging.getLogger("wsgateway.fanout")

#: How long summaries and chunk-done marks are kept (a day: far past any retry countdown).
TTL_SECONDS = 24 * 3600


def summary_key(message_id: str) -> str:
    return f"wsgateway:fanout:summary:{message_id}"


def done_key(message_id: str, chunk: str) -> str:
    return f"wsgateway:fanout:done:{message_id}:{chunk}"


@dataclass
class Counts:
    """Outcome counts of a chunk (or a whole broadcast)."""

    delivered: int = 0
    gone: int = 0
    retried: int = 0
    failed: int = 0
    #: failed connections by cause ("403", "413", "429", "500", "no_answer", "no_endpoint", ...)
    failed_by: dict[str, int] = field(default_factory=dict)

    def fail(self, cause: str, n: int = 1) -> None:
        self.failed += n
        self.failed_by[cause] = self.failed_by.get(cause, 0) + n

    def as_dict(self) -> CountsData:
        return cast("CountsData", asdict(self))  # the TypedDict names these fields one to one


# KEYS: done key (or "" to skip the idempotence mark), summary key.
# ARGV: ttl, number of HSET pairs, the HSET field/value pairs, then HINCRBY field/increment pairs.
# Returns {recorded, completed}.
_RECORD = """
local ttl = tonumber(ARGV[1])
if KEYS[1] ~= '' then
  if not redis.call('SET', KEYS[1], '1', 'NX', 'EX', ttl) then
    return {0, 0}
  end
end
local n_set = tonumber(ARGV[2])
local first_incr = 3 + 2 * n_set
for i = 3, first_incr - 1, 2 do
  redis.call('HSET', KEYS[2], ARGV[i], ARGV[i + 1])
end
for i = first_incr, #ARGV, 2 do
  redis.call('HINCRBY', KEYS[2], ARGV[i], tonumber(ARGV[i + 1]))
end
redis.call('EXPIRE', KEYS[2], ttl)
local s = redis.call('HMGET', KEYS[2], 'planned', 'targeted', 'delivered', 'gone', 'failed')
local planned = tonumber(s[1]) or 0
local total = (tonumber(s[3]) or 0) + (tonumber(s[4]) or 0) + (tonumber(s[5]) or 0)
if planned == 1 and total >= (tonumber(s[2]) or 0) then
  if redis.call('HSETNX', KEYS[2], 'completed', '1') == 1 then
    return {1, 1}
  end
end
return {1, 0}
"""


def _fields(counts: Counts) -> list[Any]:
    out: list[Any] = []
    for name in ("delivered", "gone", "retried", "failed"):
        value = getattr(counts, name)
        if value:
            out += [name, value]
    for cause, value in counts.failed_by.items():
        out += [f"failed:{cause}", value]
    return out


def _record(
    done: str, message_id: str, increments: list[Any], sets: list[Any] | None = None
) -> tuple[bool, bool]:
    script = get_redis().register_script(_RECORD)
    sets = sets or []
    args = [TTL_SECONDS, len(sets) // 2, *sets, *increments]
    recorded, completed = script(keys=[done, summary_key(message_id)], args=args)
    if completed:
        log_summary(message_id)
    return bool(recorded), bool(completed)


def chunk_is_done(message_id: str, chunk: str) -> bool:
    """Whether this chunk of this message already finished (a redelivered task skips it)."""
    return bool(get_redis().exists(done_key(message_id, chunk)))


def record_chunk(message_id: str, chunk: str, counts: Counts) -> tuple[bool, bool]:
    """Mark the chunk done and add its counts, atomically.

    Returns ``(recorded, completed)``: ``recorded`` is False when the chunk was already recorded,
    ``completed`` is True for the one call that completed the broadcast.
    """
    return _record(done_key(message_id, chunk), message_id, _fields(counts))


def record_plan(message_id: str, targeted: int, chunks: int, unreachable: Counts | None = None) -> bool:
    """Record what the planner targeted, and the recipients it could not reach.

    Once per message: a planner task that is redelivered or retried after it finished planning
    does not count again. May complete the broadcast if every chunk already ran; returns True
    for the call that did.
    """
    sets = ["targeted", targeted, "chunks", chunks, "planned", 1]
    increments = _fields(unreachable) if unreachable else []
    return _record(done_key(message_id, "plan"), message_id, increments, sets)[1]


def get_broadcast_summary(message_id: str) -> BroadcastSummary | None:
    """The summary of a broadcast: ``{message_id, targeted, delivered, gone, retried, failed,
    chunks, complete, failed_by}``; ``None`` when unknown (never sent, or older than a day)."""
    raw = get_redis().hgetall(summary_key(message_id))
    if not raw:
        return None
    values = {(k.decode() if isinstance(k, bytes) else k): int(v) for k, v in raw.items()}
    return BroadcastSummary(
        message_id=message_id,
        targeted=values.get("targeted", 0),
        delivered=values.get("delivered", 0),
        gone=values.get("gone", 0),
        retried=values.get("retried", 0),
        failed=values.get("failed", 0),
        chunks=values.get("chunks", 0),
        complete=bool(values.get("completed")),
        failed_by={k[7:]: v for k, v in values.items() if k.startswith("failed:")},
    )


def log_summary(message_id: str) -> None:
    """One structured log line with the broadcast's totals."""
    s = get_broadcast_summary(message_id)
    if s is None:
        return
    logger.info(
        "wsgateway.fanout broadcast message_id=%s targeted=%d delivered=%d gone=%d retried=%d "
        "failed=%d chunks=%d",
        message_id,
        s["targeted"],
        s["delivered"],
        s["gone"],
        s["retried"],
        s["failed"],
        s["chunks"],
    )
