"""Enqueueing runs as Celery chains on the ``provisioning`` queue.

The row is marked ``queued`` at once; the chain is sent after the current transaction commits
(so the worker reads committed rows). The returned :class:`ProvisioningHandle` knows the run id
and the id of the chain's last task, whose result is the run's result.

The task each step runs is :func:`wsgateway.tasks.provisioning.provisioning_step`, handed to
:func:`use_step_task` by ``AppConfig.ready()``: the tasks depend on this package, never the
other way.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from typing import Any

from celery import Task, chain
from celery.result import AsyncResult
from django.core.exceptions import ImproperlyConfigured
from django.db import transaction
from django.db.models import Q
from django.utils import timezone

from wsgateway.conf import wsgateway_settings
from wsgateway.exceptions import ProvisioningError
from wsgateway.models import ApiGateway, ProvisioningStatus
from wsgateway.payloads import StepResult
from wsgateway.provisioning.runner import chain_steps, new_run_id

#: A task running one step: (previous step's result or None, gateway pk, run id, step name).
StepTask = Task[[StepResult | None, int, str, str], StepResult]

_step_task: StepTask | None = None


def use_step_task(task: StepTask) -> None:
    """Make ``task`` the one each step of a chain runs (``AppConfig.ready()`` calls it)."""
    global _step_task
    _step_task = task


def step_task() -> StepTask:
    """The step task ``AppConfig.ready()`` registered."""
    if _step_task is None:
        raise ImproperlyConfigured("no provisioning step task: is 'wsgateway' in INSTALLED_APPS?")
    return _step_task


@dataclass(frozen=True)
class ProvisioningHandle:
    """What enqueueing returns: the operation, the gateway, the run id and the last task's id."""

    operation: str
    gateway_pk: int
    run_id: str
    task_id: str
    steps: tuple[str, ...]
    task_ids: tuple[str, ...] = ()

    @property
    def result(self) -> Any:
        """The Celery ``AsyncResult`` of the chain's last task."""
        return AsyncResult(self.task_id)

    def step_results(self) -> list[Any]:
        """One ``AsyncResult`` per step, in chain order."""
        from celery.result import AsyncResult

        return [AsyncResult(task_id) for task_id in self.task_ids]

    def __str__(self) -> str:
        return f"{self.operation} of gateway {self.gateway_pk} (run {self.run_id})"


def problems(operation: str, gateway: ApiGateway) -> list[str]:
    """What stops ``operation`` from running on ``gateway``, found before anything is queued."""
    found: list[str] = []
    if operation in ("create_gateway", "sync_to_aws", "push_changes"):
        if not gateway.target_base_endpoint:
            found.append(
                "set target_base_endpoint (the URL of the Django view, e.g. https://example.com/ws/)"
            )
        if not wsgateway_settings.gateway_secrets:
            found.append("WSGATEWAY['GATEWAY_SECRETS'] is empty: integrations need a secret to send")
    if operation in ("create_custom_domain", "redeploy", "rotate_secret") and not gateway.api_id:
        found.append("the API does not exist yet: run 'Provision' first")
    if operation == "create_custom_domain" and not (gateway.domain_name and gateway.certificate_arn):
        found.append("set domain_name and certificate_arn")
    return found


def enqueue(
    operation: str, gateway_pk: int, *, arg: str = "", mark_queued: bool = True
) -> ProvisioningHandle:
    """Send one run of ``operation`` as a chain of ``wsgateway.provisioning_step`` tasks.

    Raises :class:`~wsgateway.exceptions.ProvisioningError` (nothing queued) when the row cannot
    support the operation, e.g. a gateway without ``target_base_endpoint``.
    """
    provisioning_step = step_task()
    gateway = ApiGateway.objects.filter(pk=gateway_pk).first()
    if gateway is None:
        raise ProvisioningError(f"No ApiGateway with pk {gateway_pk}.")
    found = problems(operation, gateway)
    if found:
        raise ProvisioningError(
            f"Cannot {operation.replace('_', ' ')} gateway {gateway}: {'; '.join(found)}."
        )
    steps = chain_steps(operation, arg)
    run_id = new_run_id()
    # Task ids chosen here so the handle can follow every step before the chain is even sent.
    task_ids = tuple(str(uuid.uuid4()) for _ in steps)
    signatures = [provisioning_step.s(None, gateway_pk, run_id, steps[0]).set(task_id=task_ids[0])]
    signatures += [
        provisioning_step.s(gateway_pk, run_id, step).set(task_id=task_id)
        for step, task_id in zip(steps[1:], task_ids[1:], strict=True)
    ]
    workflow = chain(*signatures)
    if mark_queued:
        # A run in progress keeps its status: the new chain will wait for or skip its lock.
        ApiGateway.objects.filter(pk=gateway_pk).filter(
            ~Q(provisioning_status=ProvisioningStatus.CREATING)
        ).update(provisioning_status=ProvisioningStatus.QUEUED, updated_on=timezone.now())
    transaction.on_commit(workflow.apply_async)
    return ProvisioningHandle(operation, gateway_pk, run_id, task_ids[-1], tuple(steps), task_ids)
