"""ConnectionRateLimit: per IP and per user, exactly at the limit, window edges, cleanup."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.contrib.auth import get_user_model
from django.contrib.auth.models import AnonymousUser
from django.utils import timezone

from wsgateway.models import ConnectionRateLimit

pytestmark = pytest.mark.django_db


def _attempts(n: int, ip: str = "203.0.113.7", user=None, successful: bool = False) -> None:
    for _ in range(n):
        ConnectionRateLimit.record_attempt(ip, user, successful=successful)


def test_below_at_and_over_the_ip_limit() -> None:
    assert ConnectionRateLimit.check_rate_limit("203.0.113.7") == (True, 0)
    _attempts(19)
    assert ConnectionRateLimit.check_rate_limit("203.0.113.7") == (True, 19)
    _attempts(1)
    assert ConnectionRateLimit.check_rate_limit("203.0.113.7") == (False, 20)
    assert ConnectionRateLimit.check_rate_limit("203.0.113.7", max_attempts=21) == (True, 20)
    # Another IP is unaffected.
    assert ConnectionRateLimit.check_rate_limit("203.0.113.8") == (True, 0)


def test_successful_and_failed_attempts_both_count() -> None:
    _attempts(2, successful=True)
    _attempts(1, successful=False)
    assert ConnectionRateLimit.check_rate_limit("203.0.113.7", max_attempts=3) == (False, 3)


def test_user_limit_applies_across_ips() -> None:
    user = get_user_model().objects.create_user("carol")
    for i in range(5):
        ConnectionRateLimit.record_attempt(f"198.51.100.{i}", user)
    allowed, count = ConnectionRateLimit.check_rate_limit("192.0.2.1", user, max_attempts=5)
    assert (allowed, count) == (False, 5)
    assert ConnectionRateLimit.check_rate_limit("192.0.2.1", None, max_attempts=5) == (True, 0)
    # The count returned is the larger of the IP's and the user's.
    _attempts(7, ip="192.0.2.1")
    assert ConnectionRateLimit.check_rate_limit("192.0.2.1", user, max_attempts=50) == (True, 7)


def test_anonymous_user_is_counted_by_ip_only() -> None:
    ConnectionRateLimit.record_attempt("192.0.2.9", AnonymousUser())
    assert ConnectionRateLimit.objects.get().user_id is None
    assert ConnectionRateLimit.check_rate_limit("192.0.2.9", AnonymousUser()) == (True, 1)


def test_window_edges(monkeypatch) -> None:
    now = timezone.now()
    ConnectionRateLimit.objects.create(ip_address="192.0.2.5", attempt_time=now - timedelta(minutes=5))
    ConnectionRateLimit.objects.create(
        ip_address="192.0.2.5", attempt_time=now - timedelta(minutes=5) + timedelta(microseconds=1)
    )
    monkeypatch.setattr("wsgateway.models.timezone.now", lambda: now)
    # An attempt exactly window_minutes old has left the window; one a microsecond younger has not.
    assert ConnectionRateLimit.check_rate_limit("192.0.2.5", window_minutes=5) == (True, 1)
    assert ConnectionRateLimit.check_rate_limit("192.0.2.5", window_minutes=6) == (True, 2)


def test_ipv6_addresses() -> None:
    _attempts(3, ip="2001:db8::1")
    assert ConnectionRateLimit.check_rate_limit("2001:db8::1", max_attempts=3) == (False, 3)


def test_cleanup_old_records_boundary(monkeypatch) -> None:
    now = timezone.now()
    ConnectionRateLimit.objects.create(ip_address="192.0.2.1", attempt_time=now - timedelta(days=7))
    ConnectionRateLimit.objects.create(ip_address="192.0.2.1", attempt_time=now - timedelta(days=8))
    ConnectionRateLimit.objects.create(ip_address="192.0.2.1", attempt_time=now - timedelta(days=1))
    monkeypatch.setattr("wsgateway.models.timezone.now", lambda: now)
    count, _ = ConnectionRateLimit.cleanup_old_records()  # reference callers unpack the tuple
    assert count == 1  # default 7 days; exactly 7 days old is kept
    assert ConnectionRateLimit.cleanup_old_records(days=1) == (1, {"wsgateway.ConnectionRateLimit": 1})
    assert ConnectionRateLimit.objects.count() == 1


def test_check_is_one_query(django_assert_num_queries) -> None:
    user = get_user_model().objects.create_user("dave")
    with django_assert_num_queries(1):
        ConnectionRateLimit.check_rate_limit("192.0.2.1", user)
    with django_assert_num_queries(1):
        ConnectionRateLimit.check_rate_limit("192.0.2.1")
