"""The retry policy of a provisioning step, shared by the Celery task and :func:`run_inline`.

A step that raised is retried or given up by :func:`decide`; the worker turns a retry into
``self.retry(countdown=…)``, the in-process runner into a bounded sleep. One table for both:

| error | retried after | at most |
|---|---|---|
| :class:`QuotaWait` (quota not free yet) | exactly its ``seconds`` | ``4 x max_retries`` |
| :class:`LockBusy` (a route operation waits) | ``LOCK_RETRY`` backoff | the lock's life in waits, + 10 |
| retryable :class:`AwsError` (429, 5xx, no answer) | ``STEP_RETRY`` backoff | ``max_retries`` |
| anything else | not retried | |

(``max_retries`` is ``STEP_RETRY``'s, or the ``policy`` given to :func:`decide`.)

Giving up on a quota wait or a retryable AWS error records the step as failed on the row; a
lock that stays busy does not (the row belongs to the other run).
"""

from __future__ import annotations

from dataclasses import dataclass, replace

from wsgateway.conf import wsgateway_settings
from wsgateway.exceptions import AwsError
from wsgateway.provisioning.errors import LockBusy, QuotaWait
from wsgateway.retry import RetryPolicy

#: Throttling, 5xx and connection errors of the control plane.
STEP_RETRY = RetryPolicy(max_retries=12, base=1.0, cap=60.0)
#: A busy lock of a route operation (a route edit right after another): short first waits, capped.
LOCK_RETRY = RetryPolicy(max_retries=10, base=0.5, cap=10.0)
#: Quota waits are expected, not failures: they have their own, larger budget.
QUOTA_WAITS_PER_RETRY = 4


def lock_policy() -> RetryPolicy:
    """:data:`LOCK_RETRY` with enough waits to outlast a held lock (``PROVISIONING_LOCK_SECONDS``)."""
    waits = int(float(wsgateway_settings.PROVISIONING_LOCK_SECONDS) / (LOCK_RETRY.cap / 2))
    return replace(LOCK_RETRY, max_retries=LOCK_RETRY.max_retries + waits)


@dataclass(frozen=True)
class Decision:
    """What to do with a step that raised: retry after ``countdown`` seconds (within a budget of
    ``max_retries``), or give up (``retry`` false). ``record_failure``: whoever gives up on this
    error (out of budget here, or out of time in :func:`run_inline`) marks the row failed."""

    retry: bool
    countdown: float = 0.0
    max_retries: int = 0
    record_failure: bool = False


GIVE_UP = Decision(retry=False)


def decide(err: BaseException, retries_done: int, policy: RetryPolicy = STEP_RETRY) -> Decision:
    """Retry or give up on ``err`` after ``retries_done`` retries of the step (see the module table)."""
    if isinstance(err, QuotaWait):
        budget = policy.max_retries * QUOTA_WAITS_PER_RETRY
        if retries_done >= budget:
            return Decision(retry=False, record_failure=True)
        return Decision(retry=True, countdown=err.seconds, max_retries=budget, record_failure=True)
    if isinstance(err, LockBusy):
        locks = lock_policy()
        if locks.exhausted(retries_done):
            return GIVE_UP
        return Decision(retry=True, countdown=locks.delay(retries_done), max_retries=locks.max_retries)
    if isinstance(err, AwsError) and err.retryable:
        if policy.exhausted(retries_done):
            return Decision(retry=False, record_failure=True)
        delay = policy.delay(retries_done)
        return Decision(retry=True, countdown=delay, max_retries=policy.max_retries, record_failure=True)
    return GIVE_UP
