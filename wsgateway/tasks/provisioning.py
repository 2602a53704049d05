"""Provisioning tasks (queue ``provisioning``): one thin task runs any step of a run.

A run is a Celery chain of ``wsgateway.provisioning_step`` signatures (see
:mod:`wsgateway.provisioning.chains`); the step logic is in :mod:`wsgateway.provisioning.runner`.
Retries follow the table of :mod:`wsgateway.provisioning.retrying` (the same one
:func:`~wsgateway.provisioning.runner.run_inline` follows): a quota wait is retried with exactly
its countdown (no sleeping worker), throttling / 5xx / connection errors with full-jitter
backoff, a busy lock of a route operation later; a busy lock of any other operation ends the run
with "locked by run X" and the rest of the chain is dropped; anything else is recorded as failed
on the row and the chain stops.
"""

from __future__ import annotations

from typing import Any

from celery import shared_task

from wsgateway.exceptions import AwsError
from wsgateway.payloads import StepResult
from wsgateway.provisioning import retrying, runner
from wsgateway.provisioning.errors import LockBusy, QuotaWait
from wsgateway.provisioning.retrying import STEP_RETRY
from wsgateway.tasks.queues import PROVISIONING


@shared_task(
    bind=True,
    name="wsgateway.provisioning_step",
    queue=PROVISIONING,
    ignore_result=False,
    acks_late=True,
    reject_on_worker_lost=True,
    max_retries=STEP_RETRY.max_retries,
)
def provisioning_step(
    self: Any, previous: StepResult | None, gateway_pk: int, run_id: str, step: str
) -> StepResult:
    """Run ``step`` of run ``run_id`` on gateway ``gateway_pk``; returns the step's result."""
    try:
        result = runner.run_step(previous, gateway_pk, run_id, step)
    except (QuotaWait, LockBusy, AwsError) as err:
        decision = retrying.decide(err, self.request.retries)
        if not decision.retry:
            if decision.record_failure:
                runner.fail(gateway_pk, run_id, step, err)
            raise
        # exc=err: Flower's task-retried event and Celery's "retry:" log line show the reason
        # (without it they read "Retry in Ns" and exception None). decide() never asks for a
        # retry past max_retries, so Celery never re-raises err in place of the Retry here.
        raise self.retry(countdown=decision.countdown, max_retries=decision.max_retries, exc=err) from err
    if result.get(runner.STOP):
        self.request.chain = None  # the run ends here (lock held by another run)
    return result
