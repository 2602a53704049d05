"""A provisioning step run inside the caller's transaction (a model method called in
``transaction.atomic()``, ``run_inline`` in a test, an eager task): its failure surfaces as
itself, is recorded on the row, and leaves nothing half-written (wsgateway/provisioning/savepoints.py).
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import pytest
from django.db import IntegrityError, transaction
from django.db.models.signals import post_save

from wsgateway.models import ApiGateway, ProvisioningStatus
from wsgateway.provisioning import run_inline, runner
from wsgateway.provisioning.checkpoints import fault_hook

pytestmark = pytest.mark.django_db


@contextmanager
def audit_receiver_breaking_the_transaction() -> Iterator[None]:
    """User code on post_save that fails with a database error once the API id is recorded."""

    def audit(sender: Any, instance: ApiGateway, update_fields: Any = None, **kwargs: Any) -> None:
        if update_fields and "api_id" in update_fields:
            # A second row with the same unique name: IntegrityError, and Django marks the
            # enclosing transaction for rollback.
            ApiGateway.objects.bulk_create([ApiGateway(api_name=instance.api_name)])

    post_save.connect(audit, sender=ApiGateway, dispatch_uid="test.audit")
    try:
        yield
    finally:
        post_save.disconnect(sender=ApiGateway, dispatch_uid="test.audit")


def test_a_database_error_in_a_step_surfaces_and_is_recorded_in_the_callers_transaction(
    aws: Any, gateway: ApiGateway
) -> None:
    with audit_receiver_breaking_the_transaction(), transaction.atomic():
        with pytest.raises(IntegrityError) as raised:
            run_inline("create_gateway", gateway.pk)
        # The transaction is still usable: the step's writes went back to its savepoint.
        row = ApiGateway.objects.get(pk=gateway.pk)
    assert "step 'create_api'" in " ".join(raised.value.__notes__)
    assert row.provisioning_status == ProvisioningStatus.FAILED
    assert row.last_error.startswith("step create_api: IntegrityError")
    assert (row.api_id, row.api_endpoint, row.provisioning_lock) == ("", "", "")
    assert ApiGateway.objects.filter(api_name=gateway.api_name).count() == 1


def test_other_errors_keep_what_the_step_recorded_in_the_callers_transaction(
    aws: Any, gateway: ApiGateway
) -> None:
    def boom(label: str) -> None:
        if label == "create_api:recorded":
            raise RuntimeError("worker died after recording the API")

    with fault_hook(boom), transaction.atomic():
        with pytest.raises(RuntimeError):
            run_inline("create_gateway", gateway.pk)
        row = ApiGateway.objects.get(pk=gateway.pk)
    # As in autocommit: the id of the API made in AWS is kept, so the next run reuses it.
    assert row.api_id
    assert row.provisioning_status == ProvisioningStatus.FAILED


def test_recording_a_failure_in_a_broken_transaction_never_hides_the_error(gateway: ApiGateway) -> None:
    original = IntegrityError("the step's own error")
    with transaction.atomic():
        # What a database error inside the block leaves behind, on every backend and Django
        # version (Django 6's bulk_create on SQLite rolls its own savepoint back instead).
        transaction.set_rollback(True)
        runner.fail(gateway.pk, "run1", "routes", original)  # must not raise
    notes = " ".join(original.__notes__)
    assert "step 'routes' of run run1" in notes
    assert "could not be recorded: TransactionManagementError" in notes


def test_an_eager_task_failing_in_the_callers_transaction_reports_its_own_error(
    aws: Any, gateway: ApiGateway
) -> None:
    from wsgateway.tasks.provisioning import provisioning_step

    with audit_receiver_breaking_the_transaction(), transaction.atomic():
        runner.run_step(None, gateway.pk, "eager1", "lock:create_gateway")
        outcome = provisioning_step.apply(args=(None, gateway.pk, "eager1", "create_api"))
        row = ApiGateway.objects.get(pk=gateway.pk)
    assert isinstance(outcome.result, IntegrityError)
    assert (row.provisioning_status, row.api_id) == (ProvisioningStatus.FAILED, "")
    assert row.last_error.startswith("step create_api: IntegrityError")
