"""The reference-test runner's report: counts per module and the cause of each failure."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from tests.compat import run_reference_tests as runner

JUNIT = """<?xml version="1.0" encoding="utf-8"?>
<testsuites><testsuite name="pytest">
<testcase classname="tests.test_views.ViewTestCase" name="test_ok"/>
<testcase classname="tests.test_models.ModelTestCase" name="test_other"/>
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


REASONS = {
    "in-a-task": runner.REASONS["aws-call-in-worker"],
    "private": runner.Reason(
        "b", "patches a private name", frozenset({"AttributeError"}), frozenset({"_claim"})
    ),
}
TABLE = {
    "plain": {
        "in-a-task": ("tests.test_models.ModelTestCase::test_send_message_posts",),
        "private": (
            "tests.test_models.ModelTestCase::test_claim",
            "tests.test_models.ModelTestCase::test_other",
        ),
    },
    "secret": {},
}


@pytest.fixture
def table(monkeypatch: pytest.MonkeyPatch) -> dict[str, str]:
    """A small table of our own in place of the reviewed one."""
    monkeypatch.setattr(runner, "REASONS", REASONS)
    monkeypatch.setattr(runner, "EXPECTED", TABLE)
    return runner.expected_reasons("plain")


@pytest.mark.parametrize(
    ("test_id", "message", "verdict"),
    [
        (
            "tests.test_models.ModelTestCase::test_send_message_posts",
            "AssertionError: Expected 'post_to_connection' to be called once. Called 0 times.",
            ("a", "in-a-task"),
        ),
        (
            "tests.test_models.ModelTestCase::test_claim",
            "AttributeError: <class 'ApiGateway'> does not have the attribute '_claim'",
            ("b", "private"),
        ),
        # Listed, but the failure is not what its reason says: a new incompatibility shows.
        (
            "tests.test_models.ModelTestCase::test_send_message_posts",
            "TypeError: send_message() got an unexpected keyword argument 'x'",
            ("unexplained", "listed as in-a-task, but fails with TypeError"),
        ),
        (
            "tests.test_models.ModelTestCase::test_other",
            "AttributeError: 'ApiGateway' object has no attribute 'api_name'",
            ("unexplained", "listed as private, but the missing name is api_name"),
        ),
        (
            "tests.test_models.ModelTestCase::test_unlisted",
            "AssertionError: 200 != 403",
            ("unexplained", "not in the table"),
        ),
    ],
)
def test_each_failure_is_judged_by_the_table(
    table: dict[str, str], test_id: str, message: str, verdict: tuple[str, str]
) -> None:
    assert runner.judge(runner.Failure(test_id, message), table) == runner.Verdict(*verdict)


@pytest.mark.parametrize(
    ("message", "exception", "missing"),
    [
        ("AssertionError: 200 != 403", "AssertionError", ""),
        ("wsgateway.exceptions.ProvisioningError: Cannot create gateway", "ProvisioningError", ""),
        (
            "AttributeError: <module 'wsgateway.views'> does not have the attribute 'mail_admins'",
            "AttributeError",
            "mail_admins",
        ),
        (
            "AttributeError: 'WebSocketView' object has no attribute '_load_session'",
            "AttributeError",
            "_load_session",
        ),
        ("assert 1 == 2", "", ""),
        ("", "", ""),
    ],
)
def test_a_failure_shows_its_exception_and_missing_name(message: str, exception: str, missing: str) -> None:
    failure = runner.Failure("tests.test_x.T::test_y", message)
    assert (failure.exception, failure.missing_attribute) == (exception, missing)


def test_the_table_lists_each_test_once_under_a_known_reason(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(runner, "EXPECTED", {"plain": {"in-a-task": ("t::a",), "private": ("t::a",)}})
    monkeypatch.setattr(runner, "REASONS", REASONS)
    with pytest.raises(ValueError, match="t::a is listed under"):
        runner.expected_reasons("plain")
    monkeypatch.setattr(runner, "EXPECTED", {"plain": {"no-such-reason": ("t::a",)}})
    with pytest.raises(ValueError, match="unknown reason"):
        runner.expected_reasons("plain")


def test_the_reviewed_table_is_well_formed() -> None:
    from tests.compat import reference_failures as reviewed

    assert set(reviewed.EXPECTED) == {"plain", "secret"}
    for mode in reviewed.EXPECTED:
        listed = runner.expected_reasons(mode)  # raises on a duplicate or an unknown reason
        assert listed and all(re.fullmatch(r"tests(\.\w+)+::test_\w+", test_id) for test_id in listed)
    used = {key for mode in reviewed.EXPECTED.values() for key in mode}
    assert used == set(reviewed.REASONS)  # a reason no test fails for any more is removed
    for key, reason in reviewed.REASONS.items():
        assert reason.cause in {"a", "b", "c"} and reason.why and reason.raises, key
        # A reason about a missing name only accepts the AttributeError that names it.
        assert not reason.missing or reason.raises == {"AttributeError"}, key
    # (b) is about names wsgateway does not have: every reason of it but one names them; the one
    # that does not (a patched class the view never consults) is listed test by test.
    assert [k for k, r in reviewed.REASONS.items() if r.cause == "b" and not r.missing] == [
        "view-bypassed-collaborator"
    ]


def test_the_summary_counts_per_module_and_cause_and_lists_what_the_table_did_not_expect(
    table: dict[str, str], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    junit = tmp_path / "junit.xml"
    junit.write_text(JUNIT)
    failures = tmp_path / "failures.txt"

    summary = runner.summarise(junit, failures, "plain")

    assert (summary.passed, summary.failed) == (2, 4)
    assert dict(summary.causes) == {"a": 1, "b": 1, "unexplained": 2}
    assert [(f.test_id, why) for f, why in summary.unexplained] == [
        ("tests.test_views.ViewTestCase::test_secret", "not in the table"),
        ("tests.management.commands.test_createApiGateway.T::test_new", "not in the table"),
    ]
    # Listed but passing: the entry is stale and is reported for removal.
    assert summary.fixed == ["tests.test_models.ModelTestCase::test_other"]
    out = capsys.readouterr().out
    assert "tests.management.commands.test_createApiGateway" in out
    assert "listed but passed (remove from the table): tests.test_models.ModelTestCase::test_other" in out
    assert failures.read_text().splitlines() == [
        "(unexplained: not in the table) tests.test_views.ViewTestCase::test_secret |"
        " AssertionError: 200 != 403",
        "(b: private) tests.test_models.ModelTestCase::test_claim | AttributeError: <class 'ApiGateway'>"
        " does not have the attribute '_claim'",
        "(a: in-a-task) tests.test_models.ModelTestCase::test_send_message_posts | AssertionError: Expected"
        " 'post_to_connection' to be called once. Called 0 times.",
        "(unexplained: not in the table) tests.management.commands.test_createApiGateway.T::test_new |"
        " ZeroDivisionError: division by zero",
    ]


def test_an_unexplained_failure_makes_the_exit_status_1(table: dict[str, str], tmp_path: Path) -> None:
    junit = tmp_path / "junit.xml"
    junit.write_text(JUNIT)
    assert runner.main(["--from-junit", str(junit)]) == 1
    explained = [line for line in JUNIT.splitlines() if "test_secret" not in line and "test_new" not in line]
    junit.write_text(
        "\n".join(
            line
            for line in explained
            if "ZeroDivisionError" not in line
            and line != '  <failure message="AssertionError: 200 != 403">...</failure></testcase>'
        )
    )
    assert runner.main(["--from-junit", str(junit)]) == 0


def test_the_run_imports_this_checkouts_wsgateway_and_the_scratch_tests(tmp_path: Path) -> None:
    work = tmp_path / "work"
    (work / "tests").mkdir(parents=True)
    (work / "tests" / "__init__.py").write_text("")
    env = {"PATH": "/usr/bin:/bin", "PYTHONPATH": "/elsewhere"}

    runner.use_this_checkout(env, work)

    assert env["PYTHONPATH"].split(":") == [str(runner.CHECKOUT), "/elsewhere"]
    empty = tmp_path / "empty"
    empty.mkdir()
    with pytest.raises(SystemExit, match="tests package"):
        runner.use_this_checkout({"PATH": "/usr/bin:/bin"}, empty)  # this checkout's tests would be used


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
