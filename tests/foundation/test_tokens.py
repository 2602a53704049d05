"""WebSocketToken: single use, bound to the session key, max age, hashed at rest, race-safe."""

from __future__ import annotations

import threading
from datetime import timedelta

import pytest
from django.contrib.auth import get_user_model, logout
from django.db import connection, connections
from django.utils import timezone

from wsgateway.hashing import session_key_hash, token_hash
from wsgateway.models import WebSocketToken

pytestmark = pytest.mark.django_db


@pytest.fixture
def user():
    return get_user_model().objects.create_user("alice", password="pw")


def _freeze(monkeypatch: pytest.MonkeyPatch, moment) -> None:
    monkeypatch.setattr("wsgateway.models.timezone.now", lambda: moment)


def _issue(user, session_key: str) -> str:
    """The raw token: readable on the instance generate_token returns, and nowhere else."""
    return WebSocketToken.generate_token(user, session_key).token


def test_generate_returns_the_row_with_the_plaintext_and_stores_only_hashes(user) -> None:
    issued = WebSocketToken.generate_token(user, "session-abc")
    token = issued.token
    row = WebSocketToken.objects.get()
    assert issued.pk == row.pk and len(token) == 64
    assert row.token == token_hash(token) and token not in row.token
    assert row.session_key == session_key_hash("session-abc") and "session-abc" not in row.session_key
    assert row.used is False and row.user == user


def test_generate_requires_a_session_key(user) -> None:
    with pytest.raises(ValueError, match="session key"):
        WebSocketToken.generate_token(user, "")
    assert not WebSocketToken.objects.exists()


def test_valid_token_is_consumed_once(user) -> None:
    token = _issue(user, "s1")
    assert WebSocketToken.validate_and_consume(token, "s1") == user
    assert WebSocketToken.validate_and_consume(token, "s1") is None
    row = WebSocketToken.objects.get()
    assert row.used is True and row.used_at is not None


def test_wrong_session_key_is_refused_and_does_not_burn_the_token(user) -> None:
    token = _issue(user, "s1")
    assert WebSocketToken.validate_and_consume(token, "s2") is None
    assert WebSocketToken.validate_and_consume(token, "s1") == user


@pytest.mark.parametrize("value", ["", "x", "not-a-token", "A" * 600])
def test_unknown_or_malformed_tokens_are_refused(user, value: str) -> None:
    WebSocketToken.generate_token(user, "s1")
    assert WebSocketToken.validate_and_consume(value, "s1") is None
    assert WebSocketToken.validate_and_consume("anything", "") is None


def test_exactly_at_max_age_is_valid_one_microsecond_later_is_not(user, monkeypatch) -> None:
    issued = timezone.now()
    _freeze(monkeypatch, issued)
    at_limit = _issue(user, "s1")
    past_limit = _issue(user, "s1")
    WebSocketToken.objects.update(created_at=issued)
    _freeze(monkeypatch, issued + timedelta(seconds=60))
    assert WebSocketToken.validate_and_consume(at_limit, "s1", max_age_seconds=60) == user
    _freeze(monkeypatch, issued + timedelta(seconds=60, microseconds=1))
    assert WebSocketToken.validate_and_consume(past_limit, "s1", max_age_seconds=60) is None
    # An expired token is not consumed by the failed attempt.
    assert WebSocketToken.objects.filter(used=False).count() == 1


def test_default_max_age_is_60_seconds(user, monkeypatch) -> None:
    issued = timezone.now()
    _freeze(monkeypatch, issued)
    token = _issue(user, "s1")
    WebSocketToken.objects.update(created_at=issued)
    _freeze(monkeypatch, issued + timedelta(seconds=60, microseconds=1))
    assert WebSocketToken.validate_and_consume(token, "s1") is None


def test_token_rate_limit_boundary(user) -> None:
    for _ in range(9):
        WebSocketToken.generate_token(user, "s1")
    assert WebSocketToken.check_rate_limit(user, max_tokens_per_minute=10) is True
    WebSocketToken.generate_token(user, "s1")
    assert WebSocketToken.check_rate_limit(user, max_tokens_per_minute=10) is False
    assert WebSocketToken.check_rate_limit(user) is False  # default 10
    # Tokens older than a minute no longer count.
    WebSocketToken.objects.update(created_at=timezone.now() - timedelta(seconds=61))
    assert WebSocketToken.check_rate_limit(user) is True


def test_rate_limit_is_per_user(user) -> None:
    other = get_user_model().objects.create_user("bob")
    for _ in range(10):
        WebSocketToken.generate_token(user, "s1")
    assert WebSocketToken.check_rate_limit(other) is True


def test_cleanup_expired_removes_used_and_old_keeps_fresh(user) -> None:
    fresh = _issue(user, "s1")
    used = _issue(user, "s1")
    WebSocketToken.validate_and_consume(used, "s1")
    WebSocketToken.generate_token(user, "s1")
    WebSocketToken.objects.filter(used=False).exclude(token=token_hash(fresh)).update(
        created_at=timezone.now() - timedelta(seconds=301)
    )
    assert WebSocketToken.cleanup_expired() == (2, {"wsgateway.WebSocketToken": 2})
    assert list(WebSocketToken.objects.values_list("token", flat=True)) == [token_hash(fresh)]


def test_cleanup_expired_boundary(user, monkeypatch) -> None:
    now = timezone.now()
    WebSocketToken.generate_token(user, "s1")
    WebSocketToken.objects.update(created_at=now - timedelta(seconds=300))
    _freeze(monkeypatch, now)
    assert WebSocketToken.cleanup_expired(max_age_seconds=300)[0] == 0  # exactly at the limit: kept
    _freeze(monkeypatch, now + timedelta(microseconds=1))
    assert WebSocketToken.cleanup_expired(max_age_seconds=300)[0] == 1


@pytest.mark.django_db(transaction=True)
def test_concurrent_consumption_has_exactly_one_winner() -> None:
    """Two threads, each on its own database connection, race for each of 15 tokens."""
    user = get_user_model().objects.create_user("racer")
    rounds = 15
    tokens = [_issue(user, "s-race") for _ in range(rounds)]
    results: list[list[bool]] = [[] for _ in range(rounds)]
    lock = threading.Lock()
    barrier = threading.Barrier(2, timeout=10)

    def contender() -> None:
        try:
            for i, token in enumerate(tokens):
                barrier.wait()
                ok = WebSocketToken.validate_and_consume(token, "s-race") is not None
                with lock:
                    results[i].append(ok)
        finally:
            connections.close_all()

    threads = [threading.Thread(target=contender) for _ in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=60)
    assert all(not t.is_alive() for t in threads)
    assert all(len(r) == 2 for r in results)
    winners = [r.count(True) for r in results]
    assert winners == [1] * rounds, f"winners per token: {winners} on {connection.vendor}"
    assert WebSocketToken.objects.filter(used=True).count() == rounds


def test_a_refused_token_is_falsy_so_reference_style_checks_refuse_it(user) -> None:
    """``if WebSocketToken.validate_and_consume(...):`` must not accept a bad token."""
    _issue(user, "s1")
    accepted = bool(WebSocketToken.validate_and_consume("forged", "s1"))
    assert accepted is False


def test_saving_the_returned_row_keeps_only_the_hash_at_rest(user) -> None:
    issued = WebSocketToken.generate_token(user, "s1")
    raw = issued.token
    issued.save()  # e.g. code written for the reference touching the row it got back
    assert WebSocketToken.objects.get().token == token_hash(raw)
    assert WebSocketToken.validate_and_consume(raw, "s1") == user


def test_token_issued_before_a_password_change_is_refused(user) -> None:
    token = _issue(user, "s1")
    # Bypasses the signal receivers that would also delete it: the recorded hash alone refuses it.
    type(user).objects.filter(pk=user.pk).update(password="changed-elsewhere")
    assert WebSocketToken.validate_and_consume(token, "s1") is None
    assert WebSocketToken.objects.filter(used=False).count() == 1  # refused, not consumed


def test_the_consumed_row_carries_the_auth_hash_it_was_issued_under(user) -> None:
    token = _issue(user, "s1")
    row = WebSocketToken.consume(token, "s1")
    assert row is not None and row.user == user
    assert row.auth_hash == user.get_session_auth_hash() and row.used


@pytest.mark.parametrize("how", ["password", "deactivate"])
def test_credential_changes_revoke_unused_tokens(user, how: str) -> None:
    token = _issue(user, "s1")
    if how == "password":
        user.set_password("new password")
    else:
        user.is_active = False
    user.save()
    assert not WebSocketToken.objects.exists()
    assert WebSocketToken.validate_and_consume(token, "s1") is None


def test_logout_revokes_the_users_tokens(user, client, rf) -> None:
    client.force_login(user)
    session_key = client.session.session_key
    token = _issue(user, session_key)
    other = get_user_model().objects.create_user("bob")
    kept = _issue(other, "s-bob")
    request = rf.post("/logout/")
    request.user, request.session = user, client.session
    logout(request)  # sends user_logged_out, as every logout view does
    assert WebSocketToken.validate_and_consume(token, session_key) is None
    assert list(WebSocketToken.objects.values_list("user__username", flat=True)) == ["bob"]
    assert WebSocketToken.validate_and_consume(kept, "s-bob") == other
