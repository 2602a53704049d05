"""The reference-test runner's report: counts per module and the cause of each failure."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.compat import run_reference_tests as runner

JUNIT = """<?xml version="1.0" encoding="utf-8"?>
<testsuites><testsuite name="pytest">
<testcase classname="tests.test_views.ViewTestCase" name="test_ok"/>
<testcase classname="tests.test_views.ViewTestCase" name="test_secret">
  <failure message="AssertionError: 200 != 403">...</failure></testcase>
<testcase classname="tests.test_models.ModelTestCase" name="test_claim">
  <failure message="AttributeError: &lt;class 'ApiGateway'&gt; does not have the attribute '_claim'"/>
</testcase>
<testcase classname="tests.test_models.ModelTestCase" name="test_send_message_posts">
  <failure message="AssertionError: Expected 'post_to_connection' to be called once. Called 0 times."/>
</testcase>
<testcase classname="tests.management.commands.test_createApiGateway.T" name="test_new">
  <error message="ZeroDivisionError: division by zero"/></testcase>
<testcase classname="tests.test_conf.ConfTestCase" name="test_skip"><skipped message="no"/></testcase>
</testsuite></testsuites>
"""


@pytest.mark.parametrize(
    ("line", "cause"),
    [
        ("tests.test_views.X::test_a | AssertionError: 200 != 403", "c"),
        (
            "tests.test_models.X::test_b | AttributeError: <module 'm'> does not have the attribute 'boto3'",
            "b",
        ),
        ("tests.test_sync.X::test_c | AssertionError: [] != ProvisioningHandle(operation='sync')", "a"),
        ("tests.test_checks.X::test_d | AssertionError: 'wsgateway.E001' != 'wsgateway.E005'", "c"),
        ("tests.test_models.X::test_e | ZeroDivisionError: division by zero", "unexplained"),
    ],
)
def test_each_failure_gets_a_cause(line: str, cause: str) -> None:
    assert runner.category_of(line) == cause


def test_the_summary_counts_per_module_and_lists_the_failures(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    junit = tmp_path / "junit.xml"
    junit.write_text(JUNIT)
    failures = tmp_path / "failures.txt"

    passed, failed = runner.summarise(junit, failures)

    assert (passed, failed) == (1, 4)
    out = capsys.readouterr().out
    assert "tests.management.commands.test_createApiGateway" in out
    listed = failures.read_text().splitlines()
    assert listed == [
        "(c) tests.test_views.ViewTestCase::test_secret | AssertionError: 200 != 403",
        "(b) tests.test_models.ModelTestCase::test_claim | AttributeError: <class 'ApiGateway'>"
        " does not have the attribute '_claim'",
        "(a) tests.test_models.ModelTestCase::test_send_message_posts | AssertionError: Expected"
        " 'post_to_connection' to be called once. Called 0 times.",
        "(unexplained) tests.management.commands.test_createApiGateway.T::test_new | ZeroDivisionError:"
        " division by zero",
    ]


def test_the_renaming_leaves_no_reference_name(tmp_path: Path) -> None:
    import tarfile

    source = tmp_path / "src" / "pkg-1.0" / "tests"
    source.mkdir(parents=True)
    (source / "__init__.py").write_text("")
    (source / "test_x.py").write_text("from django_aws_api_gateway_websockets.models import ApiGateway\n")
    sdist = tmp_path / "pkg-1.0.tar.gz"
    with tarfile.open(sdist, "w:gz") as archive:
        archive.add(tmp_path / "src" / "pkg-1.0", arcname="pkg-1.0")
    work = tmp_path / "work"
    work.mkdir()

    tests = runner.extract_tests(sdist, work)

    assert (tests / "test_x.py").read_text() == "from wsgateway.models import ApiGateway\n"
    assert "DJANGO_SETTINGS_MODULE = tests.settings" in (work / "pytest.ini").read_text()
    assert not (work / "sdist").exists()


def test_the_gateway_secret_overlay_configures_and_sends_the_secret(tmp_path: Path) -> None:
    work = tmp_path / "work"
    (work / "tests").mkdir(parents=True)
    (work / "pytest.ini").write_text(runner.PYTEST_INI)

    runner.add_gateway_secret_overlay(work)

    ini = (work / "pytest.ini").read_text()
    assert f"DJANGO_SETTINGS_MODULE = tests.{runner.OVERLAY_SETTINGS}" in ini
    overlay: dict[str, object] = {}
    source = (work / "tests" / f"{runner.OVERLAY_SETTINGS}.py").read_text()
    # Run the overlay's assignments without its star import of the reference's settings.
    exec(source.replace("from tests.settings import *", "pass"), overlay)  # noqa: S102
    assert overlay["WEBSOCKETS"] == {"gateway_secret": runner.OVERLAY_SECRET}
    assert overlay["WSGATEWAY"] == {"ALLOWED_ORIGINS": runner.OVERLAY_ORIGINS}
    assert len(runner.OVERLAY_SECRET) >= 32
    conftest = (work / "tests" / "conftest.py").read_text()
    assert "HTTP_X_WS_GATEWAY_SECRET" in conftest and runner.OVERLAY_SECRET in conftest


def test_the_overlay_never_replaces_a_file_of_the_reference(tmp_path: Path) -> None:
    work = tmp_path / "work"
    (work / "tests").mkdir(parents=True)
    (work / "pytest.ini").write_text(runner.PYTEST_INI)
    (work / "tests" / "conftest.py").write_text("# the reference's own\n")
    with pytest.raises(SystemExit):
        runner.add_gateway_secret_overlay(work)
    assert (work / "tests" / "conftest.py").read_text() == "# the reference's own\n"


def test_the_overlays_request_default_yields_to_the_tests_own_header(tmp_path: Path) -> None:
    from django.test import RequestFactory

    work = tmp_path / "work"
    (work / "tests").mkdir(parents=True)
    (work / "pytest.ini").write_text(runner.PYTEST_INI)
    runner.add_gateway_secret_overlay(work)
    original = RequestFactory.__init__
    try:
        exec((work / "tests" / "conftest.py").read_text(), {})  # noqa: S102
        sent = RequestFactory().post("/").META["HTTP_X_WS_GATEWAY_SECRET"]
        own = RequestFactory().post("/", HTTP_X_WS_GATEWAY_SECRET="wrong").META["HTTP_X_WS_GATEWAY_SECRET"]
    finally:
        RequestFactory.__init__ = original  # type: ignore[method-assign]
    assert (sent, own) == (runner.OVERLAY_SECRET, "wrong")


@pytest.mark.parametrize(
    ("line", "cause"),
    [
        ("tests.test_views.X::test_t | AssertionError: 400 != 401", "c"),
        ("tests.test_routing.X::test_gone | AssertionError: 400 != 410", "c"),
        ("tests.test_views.X::test_r | AssertionError: Expected 'record_attempt' to be called once.", "b"),
        ("tests.test_models.X::test_t | AssertionError: 400 != 401", "unexplained"),
    ],
)
def test_the_answers_seen_with_the_secret_get_a_cause(line: str, cause: str) -> None:
    assert runner.category_of(line) == cause
