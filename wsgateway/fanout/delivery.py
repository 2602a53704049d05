"""Running one chunk: send, classify every answer by the retry table (docs/architecture.md §5), record.

| answer | what happens |
|---|---|
| 2xx | delivered (a kick's ``DELETE`` also marks the session disconnected) |
| 410, session younger than ``GONE_GRACE_SECONDS`` | retried later: its ``$connect`` may be in flight |
| 410, older session | gone: marked disconnected in bulk, no retry |
| 429, 5xx, no answer (timeout, refused, reset) | retried with backoff, at most ``FANOUT_MAX_RETRIES`` |
| 403, 413, other 4xx | failed, no retry; logged with the AWS error |

Inside a chunk, connections that got 429/5xx/no answer are re-sent once more right away after a
short jittered pause (≤ 200 ms): most throttling and transient errors clear within that, and it
saves a broker round-trip. Whatever still needs a retry goes into a new chunk task for just those
connections, with the same message id, the next attempt number and a countdown of full-jitter
exponential backoff (``FANOUT_RETRY_BACKOFF_SECONDS`` doubled per attempt, capped at
``FANOUT_RETRY_BACKOFF_MAX_SECONDS``, which must stay below the broker's visibility timeout).
"""

from __future__ import annotations

import logging
import random
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

from django.core.exceptions import ImproperlyConfigured

from wsgateway.aws.errors import error_from_status
from wsgateway.aws.management import NO_ANSWER, Answer, Endpoint, get_engine, signer_for
from wsgateway.conf import wsgateway_settings
from wsgateway.fanout import gone, ledger, results
from wsgateway.fanout.limiter import SharedTokenBucket
from wsgateway.fanout.planner import DELETE, Chunk, make_chunk
from wsgateway.fanout.results import Counts
from wsgateway.payloads import ChunkResult, Recipient
from wsgateway.retry import full_jitter

logger = logging.getLogger("wsgateway.fanout")

#: Young-410 retries stop after this many attempts even inside the grace period (a safety bound).
MAX_GONE_ATTEMPTS = 30
#: Upper bound of the in-chunk pause before the one immediate re-send.
QUICK_RETRY_PAUSE = 0.2
#: Smallest countdown of a re-enqueued chunk.
MIN_COUNTDOWN = 0.05
#: Tokens a chunk takes from the account budget per Redis round trip (at most ACCOUNT_BURST: the
#: bucket never holds more).
TOKEN_BATCH = 200

Requeue = Callable[[Chunk, float], None]


def is_retryable(status: int) -> bool:
    """429, 5xx and "no answer" are worth retrying; other statuses are final."""
    return status == NO_ANSWER or status == 429 or status >= 500


def backoff(attempt: int) -> float:
    """Full-jitter exponential backoff for ``attempt`` (0-based), in seconds."""
    base = float(wsgateway_settings.FANOUT_RETRY_BACKOFF_SECONDS)
    cap = float(wsgateway_settings.FANOUT_RETRY_BACKOFF_MAX_SECONDS)
    return full_jitter(attempt, base=base, cap=cap, floor=MIN_COUNTDOWN)


def send(chunk: Chunk, connection_ids: Sequence[str]) -> list[Answer]:
    """Send the chunk's request to ``connection_ids`` through the shared engine and limiter."""
    endpoint = Endpoint.from_url(chunk["endpoint"])
    engine = get_engine()
    client = engine.client(endpoint)
    body = (chunk["body"] or "").encode()
    method = "DELETE" if chunk["op"] == DELETE else "POST"
    limiter = SharedTokenBucket()
    return engine.run(
        client.call_many(
            method,
            connection_ids,
            signer_for(endpoint),
            body,
            concurrency=int(wsgateway_settings.FANOUT_CONCURRENCY),
            timeout=float(wsgateway_settings.FANOUT_REQUEST_TIMEOUT_SECONDS),
            acquire=limiter.atake,
            token_batch=max(1, min(TOKEN_BATCH, int(limiter.burst))),
        )
    )


def _send_with_quick_retry(chunk: Chunk, ids: list[str]) -> list[Answer]:
    answers = send(chunk, ids)
    again = [i for i, a in enumerate(answers) if is_retryable(a.status)]
    if again:
        time.sleep(random.uniform(0.02, QUICK_RETRY_PAUSE))  # noqa: S311
        second = send(chunk, [ids[i] for i in again])
        for i, answer in zip(again, second, strict=True):
            answers[i] = answer
    return answers


@dataclass
class Sorted:
    """A chunk's answers sorted by the retry table (the module's docstring)."""

    counts: Counts = field(default_factory=Counts)
    #: Sessions to mark disconnected: gone (410), or closed by a kick's ``DELETE``.
    to_mark: list[str] = field(default_factory=list)
    #: Recipients for the follow-up chunk.
    retry: list[Recipient] = field(default_factory=list)
    #: The first answer of each failing status, for the log.
    errors: dict[int, Answer] = field(default_factory=dict)


def sort_answers(chunk: Chunk, answers: Sequence[Answer], *, now: float | None = None) -> Sorted:
    """Classify each recipient's answer: delivered, gone, retried later, or failed."""
    attempt = int(chunk.get("attempt", 0))
    grace = float(wsgateway_settings.GONE_GRACE_SECONDS)
    max_retries = int(wsgateway_settings.FANOUT_MAX_RETRIES)
    now = time.time() if now is None else now
    out = Sorted()
    for (raw_id, raw_created), answer in zip(chunk["connections"], answers, strict=True):
        connection_id, created = str(raw_id), float(raw_created)
        status = answer.status
        if 0 < status < 300:
            out.counts.delivered += 1
            if chunk["op"] == DELETE:
                out.to_mark.append(connection_id)
        elif status == 410:
            if now - created < grace and attempt < MAX_GONE_ATTEMPTS:
                out.retry.append([connection_id, created])
            else:
                out.counts.gone += 1
                out.to_mark.append(connection_id)
        elif is_retryable(status):
            if attempt < max_retries:
                out.retry.append([connection_id, created])
            else:
                out.counts.fail(str(status) if status else "no_answer")
                out.errors.setdefault(status, answer)
        else:
            out.counts.fail(str(status))
            out.errors.setdefault(status, answer)
    return out


def _log_failures(chunk: Chunk, counts: Counts, errors: dict[int, Answer]) -> None:
    for status, answer in errors.items():
        error = error_from_status(status, answer.error_type, answer.detail) if status else None
        logger.warning(
            "wsgateway.fanout chunk message_id=%s chunk=%s endpoint=%s failed=%d status=%s error=%s",
            chunk["message_id"],
            chunk["chunk"],
            chunk["endpoint"],
            counts.failed_by.get(str(status) if status else "no_answer", 0),
            status or "no_answer",
            error or answer.detail,
        )


def _enqueue_retry(chunk: Chunk, retry: list[Recipient], requeue: Requeue) -> tuple[Chunk, str]:
    """Enqueue the follow-up chunk of ``retry``; returns it and the broker epoch it was sent in."""
    attempt = int(chunk.get("attempt", 0))
    follow_up = make_chunk(
        message_id=chunk["message_id"],
        op=chunk["op"],
        body=chunk.get("body"),
        endpoint=chunk["endpoint"],
        chunk=f"{chunk['chunk']}.{attempt + 1}",
        connections=retry,
        attempt=attempt + 1,
    )
    # Enqueued before the chunk is marked done: a crash in between re-sends (duplicates are
    # allowed), never loses the retry. Its ledger row carries the epoch read before the
    # enqueue (docs/architecture.md §5).
    epoch = ledger.follow_up_epoch()
    requeue(follow_up, backoff(attempt))
    return follow_up, epoch


def _result(chunk: Chunk, counts: Counts) -> ChunkResult:
    return {
        "message_id": chunk["message_id"],
        "chunk": chunk["chunk"],
        "attempt": int(chunk.get("attempt", 0)),
        **counts.as_dict(),
    }


def _fail_unsendable(chunk: Chunk, err: Exception) -> ChunkResult:
    """A malformed endpoint, missing credentials or region: retrying cannot help. The chunk
    counts as failed so the broadcast still completes and says why."""
    message_id, name = chunk["message_id"], chunk["chunk"]
    cause = "bad_endpoint" if isinstance(err, ValueError) else "configuration"
    logger.error("wsgateway.fanout chunk message_id=%s chunk=%s %s: %s", message_id, name, cause, err)
    counts = Counts()
    counts.fail(cause, len(chunk["connections"]))
    ledger.chunk_finished(chunk, counts)
    if results.record_chunk(message_id, name, counts)[1]:
        ledger.close(message_id)
    return _result(chunk, counts)


def run_chunk(chunk: Chunk, requeue: Requeue, *, new: bool = False) -> ChunkResult:
    """Deliver one chunk and record its outcome; ``requeue(chunk, countdown)`` schedules retries.

    Idempotent per (message id, chunk): a chunk that already finished is skipped. The chunk's
    delivery-ledger row is marked finished (with its counts): at once, before its counts reach
    Redis, when it enqueued a retry chunk; otherwise in this process's next batch of done-marks
    (:func:`wsgateway.fanout.ledger.mark_done`).

    ``new``: the caller knows the chunk never ran (the first chunk of a fresh plan, delivered by
    its planner): its done-mark is not looked up.
    """
    message_id, name = chunk["message_id"], chunk["chunk"]
    if not new and results.chunk_is_done(message_id, name):
        return {"message_id": message_id, "chunk": name, "skipped": True}
    try:
        answers = _send_with_quick_retry(chunk, [str(c[0]) for c in chunk["connections"]])
    except (ValueError, ImproperlyConfigured) as err:
        return _fail_unsendable(chunk, err)
    sorted_ = sort_answers(chunk, answers)
    if sorted_.to_mark:
        gone.mark_disconnected(sorted_.to_mark)
    _log_failures(chunk, sorted_.counts, sorted_.errors)
    if sorted_.retry:
        sorted_.counts.retried = len(sorted_.retry)
        follow_up, epoch = _enqueue_retry(chunk, sorted_.retry, requeue)
        ledger.chunk_finished(chunk, sorted_.counts, follow_up, epoch)
    else:
        ledger.mark_done(chunk, sorted_.counts)  # batched: a lost mark costs a re-send after a wipe only
    _, completed = results.record_chunk(message_id, name, sorted_.counts)
    outcome = _result(chunk, sorted_.counts)
    if completed:  # this chunk finished the broadcast: its result (Flower) carries the summary
        ledger.close(message_id)
        outcome["broadcast"] = results.get_broadcast_summary(message_id)
    return outcome
