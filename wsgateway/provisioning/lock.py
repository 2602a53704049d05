"""The per-gateway provisioning lock: one conditional UPDATE, so two runs cannot both proceed.

A run takes the lock when it is free, already its own, or older than
``PROVISIONING_LOCK_SECONDS`` (a run whose worker died never releases it). Each step refreshes
``provisioning_locked_at`` so a long chain waiting on quotas is not mistaken for a dead one.
"""

from __future__ import annotations

from datetime import timedelta

from django.db.models import Case, F, Q, Value, When
from django.utils import timezone

from wsgateway.conf import wsgateway_settings
from wsgateway.models import ApiGateway, ProvisioningStatus


def acquire(gateway_pk: int, run_id: str) -> str | None:
    """Take the lock for ``run_id``; return ``None`` on success, else the holder's run id."""
    now = timezone.now()
    expired = now - timedelta(seconds=float(wsgateway_settings.PROVISIONING_LOCK_SECONDS))
    won = (
        ApiGateway.objects.filter(pk=gateway_pk)
        .filter(
            Q(provisioning_lock="")
            | Q(provisioning_lock=run_id)
            | Q(provisioning_locked_at__isnull=True)
            | Q(provisioning_locked_at__lt=expired)
        )
        .update(
            provisioning_lock=run_id,
            provisioning_locked_at=now,
            # "creating" only while the API is not complete: a run on a deployed API (a push, a
            # sync) must not make it look unprovisioned (ApiGateway.effective_provisioning_status).
            provisioning_status=Case(
                When(api_created=False, then=Value(ProvisioningStatus.CREATING)),
                default=F("provisioning_status"),
            ),
            # The row shows this run from now on: no step done yet, no error of an earlier run.
            provisioning_step="",
            last_error="",
            updated_on=now,
        )
    )
    if won:
        return None
    holder = ApiGateway.objects.filter(pk=gateway_pk).values_list("provisioning_lock", flat=True).first()
    if holder is None:
        raise ApiGateway.DoesNotExist(f"ApiGateway {gateway_pk} does not exist.")
    return holder


def holds(gateway_pk: int, run_id: str) -> bool:
    """Whether ``run_id`` still holds the lock; refreshes its timestamp when it does."""
    return bool(
        ApiGateway.objects.filter(pk=gateway_pk, provisioning_lock=run_id).update(
            provisioning_locked_at=timezone.now()
        )
    )


def holder(gateway_pk: int) -> str:
    """The run id holding the lock ('' when free)."""
    return ApiGateway.objects.filter(pk=gateway_pk).values_list("provisioning_lock", flat=True).first() or ""


def release(gateway_pk: int, run_id: str, **fields: object) -> bool:
    """Release ``run_id``'s lock, writing ``fields`` in the same UPDATE; False if it was not held."""
    now = timezone.now()
    return bool(
        ApiGateway.objects.filter(pk=gateway_pk, provisioning_lock=run_id).update(
            provisioning_lock="", provisioning_locked_at=None, updated_on=now, **fields
        )
    )
