"""wsgateway.retry and the provisioning retry table (wsgateway.provisioning.retrying)."""

from __future__ import annotations

import random

import pytest
from django.test import override_settings

from wsgateway.exceptions import AwsError, BadRequestError, ServerError, ThrottledError
from wsgateway.fanout import delivery
from wsgateway.provisioning.errors import LockBusy, QuotaWait
from wsgateway.provisioning.retrying import LOCK_RETRY, QUOTA_WAITS_PER_RETRY, STEP_RETRY, decide, lock_policy
from wsgateway.retry import RetryPolicy, full_jitter

pytestmark = pytest.mark.unit


@pytest.mark.parametrize(("attempt", "ceiling"), [(0, 1.0), (1, 2.0), (3, 8.0), (6, 60.0), (40, 60.0)])
def test_full_jitter_stays_between_floor_and_capped_ceiling(attempt: int, ceiling: float) -> None:
    draws = [full_jitter(attempt, base=1.0, cap=60.0) for _ in range(300)]
    assert all(0.0 <= d <= ceiling for d in draws)
    # Full jitter: the draws spread over the whole range, not around the ceiling.
    assert min(draws) < ceiling / 4 and max(draws) > ceiling * 3 / 4


def test_full_jitter_floor_and_negative_attempts() -> None:
    assert all(full_jitter(0, base=0.01, cap=1.0, floor=0.05) >= 0.05 for _ in range(100))
    assert all(full_jitter(-3, base=1.0, cap=60.0) <= 1.0 for _ in range(100))


def test_full_jitter_is_a_uniform_draw_under_a_seed() -> None:
    random.seed(7)
    first = [full_jitter(n, base=0.5, cap=10.0) for n in range(6)]
    random.seed(7)
    assert [random.uniform(0, min(10.0, 0.5 * 2**n)) for n in range(6)] == first


def test_retry_policy_budget_and_delay() -> None:
    policy = RetryPolicy(max_retries=3, base=0.1, cap=0.3, floor=0.01)
    assert [policy.exhausted(n) for n in range(5)] == [False, False, False, True, True]
    assert all(0.01 <= policy.delay(n) <= 0.3 for n in range(10) for _ in range(20))


def test_fanout_backoff_uses_its_settings_and_the_floor() -> None:
    settings = {"FANOUT_RETRY_BACKOFF_SECONDS": 0.5, "FANOUT_RETRY_BACKOFF_MAX_SECONDS": 2.0}
    with override_settings(WSGATEWAY=settings):
        draws = [delivery.backoff(attempt) for attempt in range(8) for _ in range(50)]
    assert all(delivery.MIN_COUNTDOWN <= d <= 2.0 for d in draws)


@pytest.mark.parametrize(
    ("status", "retryable"),
    [
        (0, True),
        (429, True),
        (500, True),
        (503, True),
        (200, False),
        (403, False),
        (410, False),
        (413, False),
    ],
)
def test_fanout_retry_table_statuses(status: int, retryable: bool) -> None:
    assert delivery.is_retryable(status) is retryable


def test_worker_and_inline_share_one_step_policy() -> None:
    from wsgateway.provisioning import runner
    from wsgateway.tasks.provisioning import provisioning_step

    assert provisioning_step.max_retries == STEP_RETRY.max_retries
    assert runner.run_inline.__kwdefaults__["policy"] is STEP_RETRY


def test_quota_wait_is_retried_after_exactly_its_seconds() -> None:
    decision = decide(QuotaWait("deployment", 2.5), 0)
    assert (decision.retry, decision.countdown, decision.record_failure) == (True, 2.5, True)
    assert decision.max_retries == STEP_RETRY.max_retries * QUOTA_WAITS_PER_RETRY
    spent = decide(QuotaWait("deployment", 2.5), decision.max_retries)
    assert (spent.retry, spent.record_failure) == (False, True)


@pytest.mark.parametrize("error", [ThrottledError("slow down"), ServerError("boom")])
def test_retryable_aws_errors_back_off_then_fail_the_row(error: AwsError) -> None:
    policy = RetryPolicy(max_retries=2, base=0.1, cap=0.2)
    decisions = [decide(error, n, policy) for n in range(3)]
    assert [d.retry for d in decisions] == [True, True, False]
    assert all(d.record_failure for d in decisions)
    assert all(0 <= d.countdown <= 0.2 for d in decisions[:2])


def test_final_errors_are_not_retried_and_already_recorded() -> None:
    for error in (BadRequestError("bad"), ValueError("bug")):
        decision = decide(error, 0)
        assert (decision.retry, decision.record_failure) == (False, False)


def test_busy_lock_waits_outlast_the_lock() -> None:
    with override_settings(WSGATEWAY={"PROVISIONING_LOCK_SECONDS": 100}):
        assert lock_policy().max_retries == LOCK_RETRY.max_retries + 20
        decision = decide(LockBusy("other"), 0)
        assert decision.retry and 0 <= decision.countdown <= LOCK_RETRY.base
        assert decision.max_retries == LOCK_RETRY.max_retries + 20
        spent = decide(LockBusy("other"), decision.max_retries)
    # The row belongs to the other run: giving up on its lock records nothing.
    assert (spent.retry, spent.record_failure) == (False, False)
