"""Provisioning tasks (queue ``provisioning``): one thin task runs any step of a run.

A run is a Celery chain of ``wsgateway.provisioning_step`` signatures (see
:mod:`wsgateway.provisioning.chains`); the step logic is in :mod:`wsgateway.provisioning.runner`.
Retry policy:

- a control-plane quota not free yet → retry with exactly that countdown (no sleeping worker);
- throttled / 5xx / connection errors → retry with exponential backoff and jitter, bounded;
- a busy lock of a route operation → retry later; of any other operation → the run ends with
  "locked by run X" and the rest of the chain is dropped;
- anything else → the step is recorded as failed on the row and the chain stops.
"""

from __future__ import annotations

from typing import Any

from celery import shared_task

from wsgateway.conf import wsgateway_settings
from wsgateway.exceptions import AwsError
from wsgateway.provisioning import runner
from wsgateway.provisioning.errors import LockBusy, QuotaWait
from wsgateway.tasks.queues import PROVISIONING

MAX_RETRIES = 12
LOCK_RETRY_SECONDS = 10.0


@shared_task(
    bind=True,
    name="wsgateway.provisioning_step",
    queue=PROVISIONING,
    ignore_result=False,
    acks_late=True,
    reject_on_worker_lost=True,
    max_retries=MAX_RETRIES,
)
def provisioning_step(
    self: Any, previous: dict[str, Any] | None, gateway_pk: int, run_id: str, step: str
) -> dict[str, Any]:
    """Run ``step`` of run ``run_id`` on gateway ``gateway_pk``; returns the step's result."""
    try:
        result = runner.run_step(previous, gateway_pk, run_id, step)
    except QuotaWait as wait:
        # Quota waits are expected, not failures: they do not count against max_retries' budget
        # of genuine errors as long as the chain keeps moving.
        raise self.retry(countdown=wait.seconds, max_retries=MAX_RETRIES * 4) from None
    except LockBusy:
        # Short first waits (a route edit right after another), capped; bounded by the lock's life.
        waits = int(float(wsgateway_settings.PROVISIONING_LOCK_SECONDS) / (LOCK_RETRY_SECONDS / 2)) + 10
        countdown = runner.backoff_seconds(self.request.retries, base=0.5, cap=LOCK_RETRY_SECONDS)
        raise self.retry(countdown=countdown, max_retries=waits) from None
    except AwsError as err:
        if not err.retryable:
            raise
        if self.request.retries >= MAX_RETRIES:
            runner.fail(gateway_pk, run_id, step, err)
            raise
        raise self.retry(countdown=runner.backoff_seconds(self.request.retries)) from err
    if result.get(runner.STOP):
        self.request.chain = None  # the run ends here (lock held by another run)
    return result
