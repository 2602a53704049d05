"""The reference package's ``WEBSOCKETS`` dict and its conf functions, on wsgateway's settings."""

from __future__ import annotations

from typing import Any

import pytest
from django.core.management import call_command
from django.core.management.base import SystemCheckError
from django.test import override_settings

from wsgateway import conf
from wsgateway.checks import (
    check_gateway_secret_format,
    check_settings,
    check_token_retention,
    check_websockets_setting,
)
from wsgateway.conf import wsgateway_settings

BASE: dict[str, Any] = {"GATEWAY_SECRETS": ["s" * 40], "ALLOWED_ORIGINS": ["https://a.example.com"]}


def ids(messages: list[Any]) -> list[str]:
    return [m.id for m in messages]


def test_the_two_defaults_that_differed_now_match_the_reference() -> None:
    with override_settings(WSGATEWAY={}, WEBSOCKETS=None):
        assert wsgateway_settings.TOKEN_RATE_LIMIT_PER_MINUTE == 20
        assert wsgateway_settings.CONNECT_RATE_LIMIT_WINDOW_MINUTES == 1
        assert conf.DEFAULTS == {
            "token_rate_limit_per_minute": 20,
            "token_expiry_seconds": 60,
            "rate_limit_max_attempts": 20,
            "rate_limit_window_minutes": 1,
        }
        assert conf.BOOLEAN_DEFAULTS == {"push_changes_to_aws": True}
        assert {"gateway_secret", "allowed_integration_hosts"} <= conf.KNOWN_KEYS


@pytest.mark.parametrize(
    ("name", "key", "value"),
    [
        ("token_rate_limit_per_minute", "TOKEN_RATE_LIMIT_PER_MINUTE", 7),
        ("token_expiry_seconds", "TOKEN_MAX_AGE_SECONDS", 15),
        ("rate_limit_max_attempts", "CONNECT_RATE_LIMIT_ATTEMPTS", 3),
        ("rate_limit_window_minutes", "CONNECT_RATE_LIMIT_WINDOW_MINUTES", 9),
    ],
)
def test_a_websockets_number_is_what_wsgateway_uses(name: str, key: str, value: int) -> None:
    with override_settings(WSGATEWAY=BASE, WEBSOCKETS={name: value}):
        assert getattr(wsgateway_settings, key) == value
        assert conf.get_setting(name) == value
    # WSGATEWAY wins where both are set, and both readers agree.
    with override_settings(WSGATEWAY={**BASE, key: value + 1}, WEBSOCKETS={name: value}):
        assert getattr(wsgateway_settings, key) == value + 1
        assert conf.get_setting(name) == value + 1
        assert ids(check_websockets_setting()) == ["wsgateway.W006"]


@pytest.mark.parametrize("bad", [0, -5, "30", None, 1.5, True, [30]])
def test_an_unusable_websockets_number_falls_back_and_is_reported(bad: Any) -> None:
    with override_settings(WSGATEWAY=BASE, WEBSOCKETS={"token_expiry_seconds": bad}):
        assert wsgateway_settings.TOKEN_MAX_AGE_SECONDS == 60
        assert conf.get_setting("token_expiry_seconds") == 60
        assert ids(check_websockets_setting()) == ["wsgateway.E005"]


def test_unknown_names_are_programming_errors() -> None:
    with pytest.raises(KeyError):
        conf.get_setting("no_such_setting")
    with pytest.raises(KeyError):
        conf.get_boolean_setting("token_expiry_seconds")


def test_push_changes_to_aws() -> None:
    with override_settings(WSGATEWAY=BASE, WEBSOCKETS={"push_changes_to_aws": False}):
        assert conf.get_boolean_setting("push_changes_to_aws") is False
        assert wsgateway_settings.PUSH_CHANGES_TO_AWS is False
    with override_settings(WSGATEWAY=BASE, WEBSOCKETS={"push_changes_to_aws": 0}):
        assert conf.get_boolean_setting("push_changes_to_aws") is True
        assert ids(check_websockets_setting()) == ["wsgateway.E005"]
    with override_settings(WSGATEWAY={**BASE, "PUSH_CHANGES_TO_AWS": False}, WEBSOCKETS=None):
        assert conf.get_boolean_setting("push_changes_to_aws") is False


def test_the_websockets_gateway_secret_is_accepted_as_a_string_or_a_list() -> None:
    secret = "x" * 40
    with override_settings(
        WSGATEWAY={"ALLOWED_ORIGINS": ["https://a.example.com"]}, WEBSOCKETS={"gateway_secret": secret}
    ):
        assert wsgateway_settings.gateway_secrets == [secret]
        assert "wsgateway.E002" not in ids(check_settings())
    with override_settings(WSGATEWAY={}, WEBSOCKETS={"gateway_secret": [secret, "old" * 12, "", 5]}):
        assert wsgateway_settings.gateway_secrets == [secret, "old" * 12]
    with override_settings(WSGATEWAY={}, WEBSOCKETS={}):
        assert "wsgateway.E002" in ids(check_settings())


def test_allowed_integration_hosts_from_either_dict() -> None:
    with override_settings(WSGATEWAY=BASE, WEBSOCKETS={"allowed_integration_hosts": " WWW.Example.com "}):
        assert conf.get_allowed_integration_hosts() == ["www.example.com"]
    with override_settings(
        WSGATEWAY=BASE, WEBSOCKETS={"allowed_integration_hosts": ["ok.example.com", 5, ""]}
    ):
        assert conf.get_allowed_integration_hosts() == ["ok.example.com"]
        assert ids(check_websockets_setting()) == ["wsgateway.E005"]
    with override_settings(
        WSGATEWAY={**BASE, "ALLOWED_INTEGRATION_HOSTS": ["*.B.example.com"]}, WEBSOCKETS=None
    ):
        assert conf.get_allowed_integration_hosts() == ["*.b.example.com"]
    with override_settings(WSGATEWAY={**BASE, "ALLOWED_INTEGRATION_HOSTS": [""]}, WEBSOCKETS=None):
        assert any("ALLOWED_INTEGRATION_HOSTS" in m.msg for m in check_settings())


def test_websockets_that_is_not_a_dict_means_defaults_and_an_error() -> None:
    for value in ("nope", [], 5):
        with override_settings(WSGATEWAY=BASE, WEBSOCKETS=value):
            assert conf.get_websockets_config() == {}
            assert conf.get_setting("token_expiry_seconds") == 60
            assert ids(check_websockets_setting()) == ["wsgateway.E005"]


def test_an_unknown_websockets_key_is_a_warning_that_never_shows_values() -> None:
    with override_settings(WSGATEWAY={}, WEBSOCKETS={"gateway_secrt": "hunter2-value", "gateway_secret": 5}):
        messages = check_websockets_setting() + check_gateway_secret_format()
        assert ids(messages) == ["wsgateway.W007", "wsgateway.E005"]
        assert all("hunter2" not in str(m) for m in messages)


def test_token_retention_check_sees_the_websockets_expiry() -> None:
    with override_settings(WSGATEWAY=BASE, WEBSOCKETS={"token_expiry_seconds": 900}):
        assert ids(check_token_retention()) == ["wsgateway.W003"]


def test_manage_py_check_fails_on_a_bad_websockets_value() -> None:
    with override_settings(WEBSOCKETS={"rate_limit_window_minutes": "1"}), pytest.raises(SystemCheckError):
        call_command("check")
