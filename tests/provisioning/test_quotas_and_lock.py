"""Control-plane quotas in Redis, and the row lock under two concurrent runs."""

from __future__ import annotations

import json
import threading
import time
from typing import Any

import pytest
from django.db import connection

from wsgateway.models import ApiGateway
from wsgateway.provisioning import lock, quotas
from wsgateway.provisioning.errors import QuotaWait
from wsgateway.tasks.provisioning import provisioning_step

from .conftest import wsgateway_overrides


def test_deployments_are_spaced_for_every_worker(settings: Any, clean_redis: Any) -> None:
    settings.WSGATEWAY = wsgateway_overrides(DEPLOYMENT_INTERVAL_SECONDS=0.4)
    # Bounds are relative to the time measured around the calls: a test process stalled between
    # them (loaded CI) sees a shorter wait, and that must not fail the test.
    first_slot = time.monotonic()
    assert quotas.reserve(quotas.DEPLOYMENT) == 0
    wait = quotas.reserve(quotas.DEPLOYMENT)
    between = time.monotonic() - first_slot
    assert 0 < wait <= 0.4
    assert wait >= 0.4 - between - 0.01
    quotas.acquire(quotas.DEPLOYMENT)  # short waits are slept in place
    assert time.monotonic() - first_slot >= 0.4 - 0.01  # the next slot is one interval later
    assert quotas.kind_of("create_deployment") == quotas.DEPLOYMENT
    assert quotas.kind_of("update_domain_name") == quotas.DOMAIN_NAME
    assert quotas.kind_of("create_route") == quotas.CONTROL


def test_a_long_wait_becomes_a_quota_wait_not_a_sleep(settings: Any, clean_redis: Any) -> None:
    settings.WSGATEWAY = wsgateway_overrides(DOMAIN_NAME_INTERVAL_SECONDS=30)
    quotas.acquire(quotas.DOMAIN_NAME)
    started = time.monotonic()
    with pytest.raises(QuotaWait) as caught:
        quotas.acquire(quotas.DOMAIN_NAME)
    assert time.monotonic() - started < 0.5
    assert 29 < caught.value.seconds <= 30


def test_control_calls_allow_a_burst_then_space(settings: Any, clean_redis: Any) -> None:
    # One call per second: the burst of 41 Redis round trips must take less than the one
    # interval that would free a slot (at 10/s, 100 ms, a loaded machine can exceed it).
    settings.WSGATEWAY = wsgateway_overrides(CONTROL_PLANE_CALLS_PER_SECOND=1)
    started = time.monotonic()
    waits = [quotas.reserve(quotas.CONTROL) for _ in range(quotas.CONTROL_BURST + 1)]
    elapsed = time.monotonic() - started
    assert waits[: quotas.CONTROL_BURST] == [0.0] * quotas.CONTROL_BURST
    assert 0 < waits[-1] <= 1.0
    assert waits[-1] >= 1.0 - elapsed - 0.01


@pytest.mark.django_db
def test_the_task_retries_a_quota_wait_with_its_countdown(
    settings: Any, clean_redis: Any, aws: Any, gateway: ApiGateway
) -> None:
    """A step whose deployment quota is not free retries with that countdown (Celery Retry)."""
    from celery.exceptions import Retry

    settings.WSGATEWAY = {**settings.WSGATEWAY, "DEPLOYMENT_INTERVAL_SECONDS": 20}
    ApiGateway.objects.filter(pk=gateway.pk).update(provisioning_lock="run-1")
    for step in ("create_api", "integrations", "routes", "stage"):
        provisioning_step.run(None, gateway.pk, "run-1", step)
    quotas.acquire(quotas.DEPLOYMENT)  # another worker deployed just now
    # As a worker would run it: a request context, so retry() re-sends the task to the broker.
    args: list[Any] = [None, gateway.pk, "run-1", "deploy"]
    request: dict[str, Any] = {
        "id": "task-1",
        "args": args,
        "kwargs": {},
        "retries": 0,
        "called_directly": False,
    }
    provisioning_step.push_request(**request)
    try:
        with pytest.raises(Retry) as caught:
            provisioning_step.run(None, gateway.pk, "run-1", "deploy")
    finally:
        provisioning_step.pop_request()
    assert isinstance(caught.value.when, int | float) and 15 < caught.value.when <= 20
    resent = [json.loads(raw) for raw in clean_redis.lrange("provisioning", 0, -1)]
    assert len(resent) == 1 and resent[0]["headers"]["eta"] and resent[0]["headers"]["retries"] == 1
    gateway.refresh_from_db()
    assert gateway.deployment_id == "" and gateway.provisioning_status != "failed"


@pytest.mark.django_db(transaction=True)
def test_two_concurrent_runs_cannot_both_take_the_lock(gateway: ApiGateway, is_postgres: bool) -> None:
    barrier = threading.Barrier(8)
    outcomes: list[str | None] = []
    guard = threading.Lock()

    def contender(run_id: str) -> None:
        try:
            barrier.wait(5)
            holder = lock.acquire(gateway.pk, run_id)
            with guard:
                outcomes.append(holder)
        finally:
            connection.close()

    threads = [threading.Thread(target=contender, args=(f"run-{i}",)) for i in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(20)
    assert len(outcomes) == 8
    assert outcomes.count(None) == 1  # exactly one winner
    winner = ApiGateway.objects.get(pk=gateway.pk).provisioning_lock
    assert all(holder == winner for holder in outcomes if holder is not None)
    assert lock.holds(gateway.pk, winner) and not lock.holds(gateway.pk, "run-x")
    assert lock.release(gateway.pk, winner) and lock.holder(gateway.pk) == ""


class _Meta:
    def __init__(self, region_name: Any) -> None:
        self.region_name = region_name


class _Client:
    """A caller's client (the reference's ``client=`` arguments): answers get_routes."""

    def __init__(self, region_name: Any) -> None:
        self.meta = _Meta(region_name)
        self.calls = 0

    def get_routes(self, **params: Any) -> dict[str, Any]:
        self.calls += 1
        return {"Items": [{"RouteId": "r1"}]}


def test_a_callers_client_needs_no_region_setting_and_counts_in_its_own_region(
    settings: Any, clean_redis: Any
) -> None:
    from wsgateway.provisioning.calls import call

    settings.AWS_GATEWAY_REGION_NAME = settings.AWS_REGION_NAME = None
    settings.WSGATEWAY = wsgateway_overrides(DEPLOYMENT_INTERVAL_SECONDS=30)
    for region, client in (("eu-west-3", _Client("eu-west-3")), (quotas.UNKNOWN_REGION, _Client(None))):
        assert call(client.get_routes, ApiId="api1") == {"Items": [{"RouteId": "r1"}]}
        assert client.calls == 1
        assert clean_redis.exists(quotas.quota_key(quotas.CONTROL, region))
    # Quotas are per region: a deployment in one region does not delay one in another.
    quotas.acquire(quotas.DEPLOYMENT, region="eu-west-3")
    quotas.acquire(quotas.DEPLOYMENT, region="us-east-1")
    with pytest.raises(QuotaWait):
        quotas.acquire(quotas.DEPLOYMENT, region="eu-west-3")
