"""Issue 12, "demo and compose defaults fail open": the runnable project refuses to start on
missing secrets outside the explicit demo mode, and no published secret passes the checks."""

from __future__ import annotations

import re
import subprocess
import sys

import pytest
from django.core.checks import run_checks
from django.test import override_settings

from tests.ingestion.conftest import wsgateway
from tests.security.support import ROOT, clean_env
from wsgateway.shipped_secrets import DEMO_GATEWAY_SECRET, DEMO_SECRET_KEY, SHIPPED_SECRETS

FRESH_KEY = "k9" * 30
FRESH_GATEWAY_SECRET = "g7" * 20


def python(code: str, **env: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-c", code],
        cwd=ROOT,
        env=clean_env(**env),
        capture_output=True,
        text=True,
        timeout=60,
    )


SHOW = "import worker.settings as s; print(s.DEBUG, s.SECRET_KEY, s.WSGATEWAY['GATEWAY_SECRETS'])"


# --- worker/settings.py -------------------------------------------------------------------------


def test_without_environment_the_settings_refuse_to_load() -> None:
    out = python(SHOW)
    assert out.returncode != 0
    assert "ImproperlyConfigured: DJANGO_SECRET_KEY is not set" in out.stderr
    assert "WSGATEWAY_DEMO=1" in out.stderr  # says how to get the demo instead


def test_a_missing_gateway_secret_is_refused_too() -> None:
    out = python(SHOW, DJANGO_SECRET_KEY=FRESH_KEY)
    assert out.returncode != 0
    assert "ImproperlyConfigured: WSGATEWAY_GATEWAY_SECRETS is not set" in out.stderr


def test_debug_is_off_unless_asked_for() -> None:
    out = python(SHOW, DJANGO_SECRET_KEY=FRESH_KEY, WSGATEWAY_GATEWAY_SECRETS=f" {FRESH_GATEWAY_SECRET} ,")
    assert out.returncode == 0, out.stderr
    assert out.stdout.split() == ["False", FRESH_KEY, f"['{FRESH_GATEWAY_SECRET}']"]
    assert "DEMO MODE" not in out.stderr


def test_debug_alone_does_not_unlock_the_demo_secrets() -> None:
    out = python(SHOW, DJANGO_DEBUG="1")
    assert out.returncode != 0 and "DJANGO_SECRET_KEY is not set" in out.stderr


def test_demo_mode_is_explicit_and_loud() -> None:
    out = python(SHOW, WSGATEWAY_DEMO="1", DJANGO_DEBUG="1")
    assert out.returncode == 0, out.stderr
    assert out.stdout.split() == ["True", DEMO_SECRET_KEY, f"['{DEMO_GATEWAY_SECRET}']"]
    assert "WSGATEWAY DEMO MODE" in out.stderr


def manage(*args: str, **env: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "manage.py", *args],
        cwd=ROOT,
        env=clean_env(**env),
        capture_output=True,
        text=True,
        timeout=120,
    )


def test_demo_mode_warns_on_every_command_and_never_passes_check_deploy() -> None:
    out = manage("check", WSGATEWAY_DEMO="1")
    assert out.returncode == 0, out.stderr
    assert "wsgateway.W010" in out.stderr and "wsgateway.E010" not in out.stderr
    deploy = manage("check", "--deploy", WSGATEWAY_DEMO="1")
    assert deploy.returncode != 0
    assert "wsgateway.E011" in deploy.stderr and "wsgateway.E010" in deploy.stderr


def test_the_demo_secrets_are_refused_outside_demo_mode() -> None:
    # Someone copies the demo's values into a deployment's environment.
    out = manage("check", DJANGO_SECRET_KEY=DEMO_SECRET_KEY, WSGATEWAY_GATEWAY_SECRETS=DEMO_GATEWAY_SECRET)
    assert out.returncode != 0
    assert "wsgateway.E010" in out.stderr
    assert "SECRET_KEY, WSGATEWAY['GATEWAY_SECRETS']" in out.stderr


# --- the check itself, on the test project ------------------------------------------------------


def _ids(**overrides: object) -> set[str]:
    with override_settings(**overrides):
        return {m.id for m in run_checks(tags=["wsgateway"]) if m.id}


@pytest.mark.parametrize("shipped", sorted(SHIPPED_SECRETS))
@pytest.mark.parametrize("where", ["SECRET_KEY", "SECRET_KEY_FALLBACKS", "GATEWAY_SECRETS", "AWS"])
def test_every_shipped_value_is_an_error_wherever_it_is_configured(shipped: str, where: str) -> None:
    overrides: dict[str, object] = {
        "SECRET_KEY": {"SECRET_KEY": shipped},
        "SECRET_KEY_FALLBACKS": {"SECRET_KEY_FALLBACKS": ["an-old-key-of-our-own", shipped]},
        "GATEWAY_SECRETS": {"WSGATEWAY": wsgateway(GATEWAY_SECRETS=["a-current-secret-of-ours", shipped])},
        "AWS": {"AWS_ACCESS_KEY_ID": "AKIAOURS", "AWS_SECRET_ACCESS_KEY": f" {shipped}\n"},
    }[where]
    assert "wsgateway.E010" in _ids(**overrides)


def test_own_secrets_pass() -> None:
    assert not _ids() & {"wsgateway.E010", "wsgateway.W010", "wsgateway.E011"}


def test_demo_mode_turns_the_error_into_a_warning_but_not_for_deploy() -> None:
    ids = _ids(SECRET_KEY=DEMO_SECRET_KEY, WSGATEWAY_DEMO=True)
    assert "wsgateway.W010" in ids and "wsgateway.E010" not in ids
    with override_settings(SECRET_KEY=DEMO_SECRET_KEY, WSGATEWAY_DEMO=True):
        deploy = {m.id for m in run_checks(tags=["wsgateway"], include_deployment_checks=True)}
    assert {"wsgateway.E010", "wsgateway.E011"} <= deploy


def test_only_a_true_demo_flag_counts() -> None:
    # A setting spelled "1" or "yes" in a settings file is not the demo project's explicit switch.
    assert "wsgateway.E010" in _ids(SECRET_KEY=DEMO_SECRET_KEY, WSGATEWAY_DEMO="1")


# --- one list of what the project publishes -----------------------------------------------------

#: Where the project publishes configuration a user may copy.
PUBLISHED = ["worker/settings.py", "docker-compose.yml", ".env.example", "README.md", "Dockerfile"]
_LITERALS = [
    # NAME = "value", NAME: value, NAME=value, NAME": ["value"] for secret-looking names
    re.compile(
        r"""(?:SECRET_KEY|SECRET_ACCESS_KEY|GATEWAY_SECRETS?|PASSWORD|BASIC_AUTH)["']?\s*[:=](?![-?])\s*\[?\s*"""
        r"""(?:"([^"\n]+)"|'([^'\n]+)'|([A-Za-z0-9<>._~+/=:-]+))"""
    ),
    # compose-style defaults: ${NAME:-value}
    re.compile(r"\$\{[A-Z_]*(?:SECRET|KEY|PASSWORD|AUTH)[A-Z_]*:-([^}]+)\}"),
]
#: What the scan finds that is code, not a value: a setting's name or a call.
_CODE = re.compile(r"[a-z_]+\.[A-Z_]+|_?[a-z_]+|[A-Z_]+|.*\(.*")


def published_literals(text: str) -> set[str]:
    """Values assigned to secret-looking names in ``text``."""
    found: set[str] = set()
    for pattern in _LITERALS:
        for match in pattern.finditer(text):
            value = next(group for group in match.groups() if group is not None)
            if not _CODE.fullmatch(value):
                found.add(value)
    return found


def test_every_published_secret_value_is_listed_in_one_place() -> None:
    found = {
        (path, value)
        for path in PUBLISHED
        if (ROOT / path).exists()
        for value in published_literals((ROOT / path).read_text())
    }
    assert any(path == "README.md" for path, _ in found), "the scan must see the README's example"
    unlisted = {(path, value) for path, value in found if value not in SHIPPED_SECRETS}
    assert not unlisted, f"add these to wsgateway/shipped_secrets.py (or stop publishing them): {unlisted}"


def test_the_scan_finds_what_older_versions_published() -> None:
    old_compose = "SECRET_KEY: ${DJANGO_SECRET_KEY:-compose-demo-secret-key-change-me-0123456789abcdef}"
    old_readme = '"GATEWAY_SECRETS": ["<long random string>"],'
    assert published_literals(old_compose) == {"compose-demo-secret-key-change-me-0123456789abcdef"}
    assert published_literals(old_readme) == {"<long random string>"}
    assert published_literals(old_compose) | published_literals(old_readme) <= SHIPPED_SECRETS
