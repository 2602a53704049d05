"""The settings accessor and the system checks: bad settings give a named check, not a traceback."""

from __future__ import annotations

import pytest
from django.core.checks import run_checks
from django.core.exceptions import ImproperlyConfigured
from django.core.management import call_command
from django.core.management.base import SystemCheckError
from django.test import override_settings

from wsgateway.conf import SETTINGS, validate_settings, wsgateway_settings


def _ids(**overrides) -> set[str]:
    with override_settings(**overrides):
        return {m.id for m in run_checks(tags=["wsgateway"])}


def test_test_settings_pass_every_check() -> None:
    assert _ids() == set()


def test_defaults_are_read_at_call_time() -> None:
    assert SETTINGS["GONE_GRACE_SECONDS"].default == wsgateway_settings.GONE_GRACE_SECONDS
    with override_settings(WSGATEWAY={"GONE_GRACE_SECONDS": 3}):
        assert wsgateway_settings.GONE_GRACE_SECONDS == 3
    assert wsgateway_settings.GONE_GRACE_SECONDS == 10


def test_mutable_defaults_are_copies() -> None:
    with override_settings(WSGATEWAY={}):
        wsgateway_settings.ENDPOINT_URLS["apigatewayv2"] = "http://evil"
        assert wsgateway_settings.ENDPOINT_URLS == {}


def test_unknown_setting_name_is_an_attribute_error() -> None:
    with pytest.raises(AttributeError):
        _ = wsgateway_settings.NOT_A_SETTING


def test_every_setting_is_documented() -> None:
    for key, spec in SETTINGS.items():
        assert spec.doc and len(spec.doc) > 15, key


@pytest.mark.parametrize(
    ("overrides", "expected"),
    [
        ({"AWS_REGION_NAME": None, "AWS_GATEWAY_REGION_NAME": None}, "wsgateway.E001"),
        ({"AWS_REGION_NAME": "", "AWS_GATEWAY_REGION_NAME": ""}, "wsgateway.E001"),
        ({"WSGATEWAY": {"GATEWAY_SECRETS": []}, "DEBUG": False}, "wsgateway.E002"),
        ({"WSGATEWAY": {"GATEWAYSECRETS": ["typo"]}}, "wsgateway.E003"),
        ({"WSGATEWAY": {"GATEWAY_SECRETS": ["x"], "FANOUT_CHUNK_SIZE": "250"}}, "wsgateway.E003"),
        ({"WSGATEWAY": {"GATEWAY_SECRETS": ["x"], "FANOUT_CHUNK_SIZE": 0}}, "wsgateway.E003"),
        ({"WSGATEWAY": {"GATEWAY_SECRETS": ["x"], "REQUIRE_TOKEN": "yes"}}, "wsgateway.E003"),
        ({"WSGATEWAY": {"GATEWAY_SECRETS": ["x"], "TRUSTED_PROXY_HOPS": True}}, "wsgateway.E003"),
        ({"WSGATEWAY": {"GATEWAY_SECRETS": ["", "x"]}}, "wsgateway.E003"),
        (
            {"WSGATEWAY": {"GATEWAY_SECRETS": ["x"], "ENDPOINT_URLS": {"apigatewayv2": "localhost:4510"}}},
            "wsgateway.E003",
        ),
        ({"WSGATEWAY": "not a dict"}, "wsgateway.E003"),
        ({"AWS_ACCESS_KEY_ID": "AKIA", "AWS_SECRET_ACCESS_KEY": ""}, "wsgateway.E004"),
        ({"WSGATEWAY": {"GATEWAY_SECRETS": ["x"], "ALLOWED_ORIGINS": []}, "DEBUG": False}, "wsgateway.W001"),
        ({"CELERY_BROKER_TRANSPORT_OPTIONS": {"visibility_timeout": 30}}, "wsgateway.W002"),
    ],
)
def test_bad_settings_give_the_named_check(overrides: dict, expected: str) -> None:
    assert expected in _ids(**overrides)


def test_region_from_gateway_setting_satisfies_e001() -> None:
    assert "wsgateway.E001" not in _ids(AWS_REGION_NAME=None, AWS_GATEWAY_REGION_NAME="eu-west-1")


def test_debug_needs_no_secret() -> None:
    assert "wsgateway.E002" not in _ids(WSGATEWAY={"GATEWAY_SECRETS": []}, DEBUG=True)


def test_check_command_reports_the_id_instead_of_a_traceback() -> None:
    with override_settings(WSGATEWAY={"FANOUT_CHUNK_SIZE": "many"}), pytest.raises(SystemCheckError) as exc:
        call_command("check")
    assert "wsgateway.E003" in str(exc.value)
    assert "FANOUT_CHUNK_SIZE" in str(exc.value)


def test_accessor_rejects_unknown_keys_with_a_clear_error() -> None:
    with override_settings(WSGATEWAY={"GONE_GRACE_SECOND": 5}), pytest.raises(ImproperlyConfigured) as exc:
        _ = wsgateway_settings.GONE_GRACE_SECONDS
    assert "GONE_GRACE_SECOND" in str(exc.value)


def test_validate_settings_lists_every_problem() -> None:
    with override_settings(WSGATEWAY={"A": 1, "B": 2, "FANOUT_CONCURRENCY": -1}):
        problems = validate_settings()
    assert len(problems) == 3


def test_a_bad_value_is_a_configuration_error_where_it_is_read() -> None:
    # Workers never run system checks; a wrong type must not surface as a TypeError in a request.
    with override_settings(WSGATEWAY={"TRUSTED_PROXY_HOPS": "1"}), pytest.raises(ImproperlyConfigured) as err:
        _ = wsgateway_settings.GONE_GRACE_SECONDS
    assert "TRUSTED_PROXY_HOPS" in str(err.value)


@pytest.mark.parametrize("value", [float("nan"), float("inf")])
def test_non_finite_numbers_are_refused(value: float) -> None:
    assert "wsgateway.E003" in _ids(WSGATEWAY={"GATEWAY_SECRETS": ["x"], "GONE_GRACE_SECONDS": value})


@pytest.mark.parametrize(
    "intervals",
    [{"cleanup_tokenz": 60}, {"cleanup_tokens": 0}, {"cleanup_tokens": "60"}, {"cleanup_tokens": True}],
)
def test_maintenance_intervals_are_checked(intervals: dict) -> None:
    assert "wsgateway.E003" in _ids(WSGATEWAY={"GATEWAY_SECRETS": ["x"], "MAINTENANCE_INTERVALS": intervals})


def test_maintenance_interval_none_disables_a_task() -> None:
    settings = {"GATEWAY_SECRETS": ["x"], "MAINTENANCE_INTERVALS": {"cleanup_tokens": None}}
    assert "wsgateway.E003" not in _ids(WSGATEWAY=settings)


def test_visibility_timeout_covers_control_plane_waits() -> None:
    overrides = {
        "CELERY_BROKER_TRANSPORT_OPTIONS": {"visibility_timeout": 100},
        "WSGATEWAY": {"GATEWAY_SECRETS": ["x"], "DOMAIN_NAME_INTERVAL_SECONDS": 120},
    }
    assert "wsgateway.W002" in _ids(**overrides)


def test_token_retention_shorter_than_validity_warns() -> None:
    settings = {"GATEWAY_SECRETS": ["x"], "TOKEN_RETENTION_SECONDS": 30, "TOKEN_MAX_AGE_SECONDS": 60}
    assert "wsgateway.W003" in _ids(WSGATEWAY=settings)


def test_user_dicts_are_handed_out_as_copies() -> None:
    with override_settings(WSGATEWAY={"ENDPOINT_URLS": {"apigatewayv2": "http://127.0.0.1:1"}}):
        wsgateway_settings.ENDPOINT_URLS["apigatewayv2"] = "http://evil"
        assert wsgateway_settings.ENDPOINT_URLS == {"apigatewayv2": "http://127.0.0.1:1"}


def test_override_settings_takes_effect_on_validation() -> None:
    # The verdict is dropped on Django's setting_changed signal: every override is validated anew,
    # in both directions, however often dicts come and go.
    for _ in range(50):
        with override_settings(WSGATEWAY={"GONE_GRACE_SECONDS": 1}):
            assert wsgateway_settings.GONE_GRACE_SECONDS == 1
            bad = override_settings(WSGATEWAY={"GONE_GRACE_SECONDZ": 1})
            with bad, pytest.raises(ImproperlyConfigured, match="GONE_GRACE_SECONDZ"):
                _ = wsgateway_settings.GONE_GRACE_SECONDS
            assert wsgateway_settings.GONE_GRACE_SECONDS == 1
