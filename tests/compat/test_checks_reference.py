"""System checks with the reference package's meanings, under wsgateway's stable ids."""

from __future__ import annotations

from typing import Any

import pytest
from django.core import checks
from django.test import override_settings

from wsgateway import checks as ws_checks

GOOD = "s3cr3t-" + "x" * 30


def ids(messages: list[Any]) -> list[str]:
    return [m.id for m in messages]


@pytest.mark.parametrize("bad", ["short", "has'quote" + "x" * 40, GOOD + "\n", 12345, [GOOD, "tiny"]])
def test_a_websockets_secret_the_reference_would_refuse_is_e005(bad: Any) -> None:
    with override_settings(WEBSOCKETS={"gateway_secret": bad}):
        messages = ws_checks.check_gateway_secret_format()
    assert ids(messages) == ["wsgateway.E005"]
    assert str(bad) not in messages[0].msg


@pytest.mark.parametrize("good", [GOOD, [GOOD, "0ld-" + "y" * 40], "", None])
def test_a_usable_or_absent_websockets_secret_passes(good: Any) -> None:
    with override_settings(WEBSOCKETS={"gateway_secret": good}):
        assert ws_checks.check_gateway_secret_format() == []


def test_a_wsgateway_secret_that_would_break_the_mapping_is_e005() -> None:
    with override_settings(WSGATEWAY={"GATEWAY_SECRETS": ["it's-a-secret"]}):
        assert ids(ws_checks.check_gateway_secret_format()) == ["wsgateway.E005"]
    with override_settings(WSGATEWAY={"GATEWAY_SECRETS": ["fine-secret\n"]}):
        assert ids(ws_checks.check_gateway_secret_format()) == ["wsgateway.E005"]


def test_the_missing_secret_is_e002_under_the_reference_name_too() -> None:
    with override_settings(WSGATEWAY={}, WEBSOCKETS=None, DEBUG=False):
        assert ids(ws_checks.check_gateway_secret_is_set()) == ["wsgateway.E002"]
    with override_settings(WSGATEWAY={}, WEBSOCKETS={"gateway_secret": GOOD}, DEBUG=False):
        assert ws_checks.check_gateway_secret_is_set() == []


def test_the_region_check_under_the_reference_name() -> None:
    with override_settings(AWS_GATEWAY_REGION_NAME="", AWS_REGION_NAME=""):
        assert ids(ws_checks.check_aws_region_is_set()) == ["wsgateway.E001"]


@pytest.mark.django_db
def test_view_checks_find_the_routed_views(settings: Any) -> None:
    settings.ROOT_URLCONF = "tests.compat.urls"
    unlisted = ws_checks.check_unlisted_channels_are_refused()
    names = {m.msg.split(" ", 1)[0] for m in unlisted}
    assert "tests.compat.urls.ClosedChannelsView" not in names
    assert "tests.compat.urls.ReferenceChatView" in names
    assert set(ids(unlisted)) == {"wsgateway.W004"}
    listed = ws_checks.check_handlers_are_listed()
    assert ids(listed) == ["wsgateway.W005"]
    assert "AutomaticView" in listed[0].msg and "shout" in listed[0].msg and "compute" not in listed[0].msg


@pytest.mark.django_db
def test_listing_names_that_never_run_is_w008(settings: Any) -> None:
    settings.ROOT_URLCONF = "tests.ingestion.urls"  # ProjectView lists "_secret" and "dispatch"
    [message] = ws_checks.check_handler_names()
    assert message.id == "wsgateway.W008" and "_secret" in message.msg and "dispatch" in message.msg


def test_the_view_checks_are_deploy_checks() -> None:
    deploy = checks.registry.registry.get_checks(include_deployment_checks=True)
    normal = checks.registry.registry.get_checks(include_deployment_checks=False)
    for check in (ws_checks.check_unlisted_channels_are_refused, ws_checks.check_handlers_are_listed):
        assert check in deploy and check not in normal
    assert ws_checks.check_gateway_secret_format in normal
