"""Runs one step of a provisioning run, and whole runs in-process.

A *run* is one operation (``create_gateway``, ``sync_to_aws`` …) on one gateway with its own run
id: ``lock:<operation>``, the operation's steps, ``finish:<operation>``. Each step is a string
``name[:arg]`` so it travels through the broker as plain data. The Celery tasks
(:mod:`wsgateway.tasks.provisioning`) and :func:`run_inline` both call :func:`run_step`; the
only difference is who retries.

Status on the row: ``queued`` when enqueued, ``creating`` once the lock is taken on an API not
yet complete (taking the lock clears the previous run's step and error), ``deployed`` /
``mapped`` (or ``pending`` / ``deleted``) at the end, ``failed`` with ``last_error`` = "step:
code: message" when a step gives up. While a step is being retried after a retryable AWS error,
``last_error`` says so and why ("retrying step …"), and a warning line with ``result=retrying``
and the reason is logged. ``provisioning_step`` is the last step of the current run that
completed. One log line per step: ``wsgateway.provisioning step=<name> gateway=<pk>
api_id=<id> result=<result> run=<id>``.
"""

from __future__ import annotations

import logging
import time
import uuid
from collections.abc import Callable
from typing import TYPE_CHECKING, Any, Final

from wsgateway.exceptions import AwsError
from wsgateway.models import ApiGateway, ProvisioningStatus
from wsgateway.payloads import StepResult
from wsgateway.provisioning import domain, lock, reconcile, secrets, steps
from wsgateway.provisioning.context import StepContext
from wsgateway.provisioning.delete import step_delete_from_aws, step_delete_row
from wsgateway.provisioning.errors import LockBusy, QuotaWait
from wsgateway.provisioning.retrying import QUOTA_WAITS_PER_RETRY, STEP_RETRY, decide, lock_policy
from wsgateway.provisioning.savepoints import step_savepoint
from wsgateway.retry import RetryPolicy

if TYPE_CHECKING:
    from wsgateway.aws.types import ApiGatewayV2Client

logger = logging.getLogger("wsgateway.provisioning")

StepFunction = Callable[[StepContext, str], StepResult]

STEPS: dict[str, StepFunction] = {
    "create_api": steps.step_create_api,
    "integrations": steps.step_integrations,
    "routes": steps.step_routes,
    "additional_routes": steps.step_additional_routes,
    "stage": steps.step_stage,
    "deploy": steps.step_deploy,
    "prune_routes": reconcile.step_prune_routes,
    "delete_route": reconcile.step_delete_route,
    "sync_from_aws": reconcile.step_sync_from_aws,
    "rotate_secret": secrets.step_rotate_secret,
    "domain_name": domain.step_domain_name,
    "api_mapping": domain.step_api_mapping,
    "dns_alias": domain.step_dns_alias,
    "delete_from_aws": step_delete_from_aws,
    "delete_row": step_delete_row,
}

_GATEWAY_STEPS = ["create_api", "integrations", "routes", "additional_routes", "stage", "deploy"]

#: Operation → its steps (between ``lock`` and ``finish``).
OPERATIONS: dict[str, list[str]] = {
    "create_gateway": _GATEWAY_STEPS,
    "create_custom_domain": ["domain_name", "api_mapping", "dns_alias"],
    "redeploy": ["deploy:force"],
    "sync_to_aws": [*_GATEWAY_STEPS[:4], "prune_routes", *_GATEWAY_STEPS[4:]],
    # A save() of a deployed gateway: bring AWS in line with the row, leaving routes that exist
    # only in AWS alone (no prune), and deploy if anything changed.
    "push_changes": _GATEWAY_STEPS,
    "sync_from_aws": ["sync_from_aws"],
    "rotate_secret": ["rotate_secret", "deploy"],
    "delete_from_aws": ["delete_from_aws"],
    "delete_gateway": ["delete_from_aws", "delete_row"],
    "sync_route": ["additional_routes", "deploy"],
    "delete_route": ["delete_route", "deploy"],
}

#: Operations that wait for a busy lock instead of giving up (a route edit must not be lost).
WAITING_OPERATIONS = frozenset({"sync_route", "delete_route"})
#: Operations whose last step removes the row: no ``finish``.
ROW_DELETING_OPERATIONS = frozenset({"delete_gateway"})

STOP: Final = "stop"


def new_run_id() -> str:
    """A fresh run id."""
    return uuid.uuid4().hex


def chain_steps(operation: str, arg: str = "") -> list[str]:
    """The step strings of one run of ``operation`` (``arg`` goes to the operation's first step)."""
    if operation not in OPERATIONS:
        raise ValueError(f"Unknown provisioning operation {operation!r}; choose one of {sorted(OPERATIONS)}.")
    body = list(OPERATIONS[operation])
    if arg:
        body[0] = f"{body[0]}:{arg}"
    tail = [] if operation in ROW_DELETING_OPERATIONS else [f"finish:{operation}"]
    return [f"lock:{operation}", *body, *tail]


def describe_error(step: str, err: BaseException) -> str:
    """The readable ``last_error``: step, AWS code, message."""
    code = getattr(err, "aws_code", None)
    message = getattr(err, "message", None) or str(err) or type(err).__name__
    return f"step {step}: {code}: {message}" if code else f"step {step}: {type(err).__name__}: {message}"


def fail(gateway_pk: int, run_id: str, step: str, err: BaseException) -> None:
    """Record a failed run (status, last error) and release its lock.

    Never raises, so it cannot hide ``err``: the caller re-raises ``err``, which carries a note
    naming the run and step, and another one if the failure could not be recorded (its cause
    is logged).
    """
    text = describe_error(step, err)[:4000]
    logger.warning(
        "wsgateway.provisioning step=%s gateway=%s result=failed run=%s error=%s",
        step,
        gateway_pk,
        run_id,
        text,
    )
    note = f"wsgateway: provisioning step {step!r} of run {run_id} on gateway {gateway_pk} failed"
    if note not in getattr(err, "__notes__", ()):  # a retry loop may record the same error twice
        err.add_note(note)
    try:
        lock.release(gateway_pk, run_id, provisioning_status=ProvisioningStatus.FAILED, last_error=text)
    except Exception as record_error:
        logger.exception(
            "wsgateway.provisioning gateway=%s run=%s: could not record the failure", gateway_pk, run_id
        )
        err.add_note(
            f"wsgateway: the failure could not be recorded: {type(record_error).__name__}: {record_error}"
        )


def note_retry(gateway_pk: int, run_id: str, step: str, err: BaseException) -> None:
    """Say on the row and in the log that ``step`` is being retried, and why."""
    text = f"retrying {describe_error(step, err)}"[:4000]
    logger.warning(
        "wsgateway.provisioning step=%s gateway=%s result=retrying run=%s reason=%s",
        step,
        gateway_pk,
        run_id,
        describe_error(step, err),
    )
    ApiGateway.objects.filter(pk=gateway_pk, provisioning_lock=run_id).update(last_error=text)


def _finish(gateway: ApiGateway, run_id: str, operation: str) -> StepResult:
    fields: dict[str, Any] = {"last_error": "", "provisioning_step": "finish"}
    if operation in ("delete_from_aws",):
        fields["provisioning_status"] = ProvisioningStatus.DELETED
    elif operation == "create_custom_domain":
        fields.update(provisioning_status=ProvisioningStatus.MAPPED, custom_domain_created=True)
    else:
        deployed = bool(gateway.deployment_id)
        fields.update(
            api_created=deployed,
            provisioning_status=(
                ProvisioningStatus.MAPPED if gateway.custom_domain_created else ProvisioningStatus.DEPLOYED
            )
            if deployed
            else ProvisioningStatus.PENDING,
        )
    lock.release(gateway.pk, run_id, **fields)
    return {"result": "finished", "status": str(fields["provisioning_status"])}


def _log(step: str, gateway_pk: int, api_id: str, result: str, run_id: str) -> None:
    logger.info(
        "wsgateway.provisioning step=%s gateway=%s api_id=%s result=%s run=%s",
        step,
        gateway_pk,
        api_id or "-",
        result,
        run_id,
    )


def run_step(
    previous: StepResult | None,
    gateway_pk: int,
    run_id: str,
    step: str,
    *,
    client: ApiGatewayV2Client | None = None,
) -> StepResult:
    """Run one step of run ``run_id``; returns plain data (with ``stop`` set when the run ends here).

    Raises :class:`QuotaWait`, :class:`LockBusy` and retryable :class:`AwsError` for the caller
    to retry; any other error is raised after :func:`fail` recorded it.
    """
    name, _, arg = step.partition(":")
    carried = list(previous.get("differences", [])) if previous else []

    def stamped(outcome: StepResult) -> StepResult:
        return {"run_id": run_id, "gateway": gateway_pk, "step": step, **outcome}

    if name == "lock":
        holder = lock.acquire(gateway_pk, run_id)
        if holder is not None:
            if arg in WAITING_OPERATIONS:
                raise LockBusy(holder)
            _log(step, gateway_pk, "", "locked", run_id)
            return stamped(
                {"result": "locked", "holder": holder, "message": f"locked by run {holder}", STOP: True}
            )
        _log(step, gateway_pk, "", "acquired", run_id)
        return stamped({"result": "acquired"})
    if not lock.holds(gateway_pk, run_id):
        holder = lock.holder(gateway_pk)
        message = f"locked by run {holder}" if holder else "the run no longer holds the lock"
        _log(step, gateway_pk, "", "skipped", run_id)
        return stamped({"result": "skipped", "message": message, STOP: True})
    gateway = ApiGateway.objects.get(pk=gateway_pk)
    if name == "finish":
        outcome = _finish(gateway, run_id, arg)
        _log(step, gateway_pk, gateway.api_id, outcome["result"], run_id)
        return stamped({**outcome, "differences": carried})
    function = STEPS.get(name)
    if function is None:
        raise ValueError(f"Unknown provisioning step {step!r}.")
    try:
        with step_savepoint():
            outcome = function(StepContext(gateway=gateway, run_id=run_id, client=client), arg)
    except (QuotaWait, LockBusy):
        raise
    except AwsError as err:
        if err.retryable:
            note_retry(gateway_pk, run_id, step, err)
        else:
            fail(gateway_pk, run_id, step, err)
        raise
    except Exception as err:
        fail(gateway_pk, run_id, step, err)
        raise
    if name != "delete_row":
        ApiGateway.objects.filter(pk=gateway_pk).update(provisioning_step=name)
    _log(step, gateway_pk, gateway.api_id, outcome["result"], run_id)
    outcome = stamped(outcome)
    outcome["differences"] = carried + outcome.get("differences", [])
    return outcome


def run_inline(
    operation: str,
    gateway_pk: int,
    *,
    arg: str = "",
    client: ApiGatewayV2Client | None = None,
    run_id: str | None = None,
    on_step: Callable[[StepResult], None] | None = None,
    policy: RetryPolicy = STEP_RETRY,
    max_wait: float = 120.0,
) -> list[StepResult]:
    """Run a whole operation in this process (management commands' ``--here``, tests).

    Errors are retried by the same table as in the worker (:mod:`wsgateway.provisioning.retrying`,
    ``policy`` for retryable AWS errors), sleeping here instead of re-enqueuing; everything is
    bounded by each error's budget and by ``max_wait`` seconds overall.
    """
    run_id = run_id or new_run_id()
    deadline = time.monotonic() + max_wait
    results: list[StepResult] = []
    previous: StepResult | None = None
    # The largest budget of the table; each error's own budget and the deadline end it sooner.
    most_attempts = max(policy.max_retries * QUOTA_WAITS_PER_RETRY, lock_policy().max_retries) + 1
    for step in chain_steps(operation, arg):
        for attempt in range(most_attempts):
            try:
                previous = run_step(previous, gateway_pk, run_id, step, client=client)
                break
            except (QuotaWait, LockBusy, AwsError) as err:
                decision = decide(err, attempt, policy)
                if not decision.retry or time.monotonic() + decision.countdown > deadline:
                    if decision.record_failure:
                        fail(gateway_pk, run_id, step, err)
                    raise
                time.sleep(decision.countdown)
        assert previous is not None
        results.append(previous)
        if on_step is not None:
            on_step(previous)
        if previous.get(STOP):
            break
    return results
