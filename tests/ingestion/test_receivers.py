"""Logout, password change and deactivation close the user's sockets (through the broker)."""

from __future__ import annotations

from typing import Any

import pytest
import redis
from django.contrib.auth.models import User

from tests.ingestion.conftest import Browser, queued_tasks

pytestmark = pytest.mark.django_db


def kicked_users(broker: redis.Redis) -> list[Any]:
    return [k["user_id"] for task, _, k in queued_tasks(broker) if task == "wsgateway.disconnect"]


def test_logout_closes_the_users_sockets(
    browser: Browser, broker: redis.Redis, django_capture_on_commit_callbacks: Any
) -> None:
    with django_capture_on_commit_callbacks(execute=True):
        browser.client.logout()
    assert kicked_users(broker) == [browser.user.pk]


@pytest.mark.parametrize("change", ["password", "deactivate"])
def test_credential_changes_close_the_users_sockets(
    browser: Browser, broker: redis.Redis, django_capture_on_commit_callbacks: Any, change: str
) -> None:
    user = User.objects.get(pk=browser.user.pk)
    if change == "password":
        user.set_password("something new")
    else:
        user.is_active = False
    with django_capture_on_commit_callbacks(execute=True):
        user.save()
    assert kicked_users(broker) == [user.pk]


def test_other_saves_do_not(
    browser: Browser, broker: redis.Redis, django_capture_on_commit_callbacks: Any
) -> None:
    user = User.objects.get(pk=browser.user.pk)
    with django_capture_on_commit_callbacks(execute=True):
        user.first_name = "Alice"
        user.save()
        User.objects.create_user("carol", password="x")
        User.objects.only("pk").get(pk=user.pk).save(update_fields=[])  # deferred fields: untracked
        reactivated = User.objects.create_user("dave", password="x", is_active=False)
        reactivated.is_active = True
        reactivated.save()
    assert kicked_users(broker) == []
