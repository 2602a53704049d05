#!/usr/bin/env python3
"""Run the published tests of django-aws-api-gateway-websockets 4.1.0 against wsgateway.

    .venv/bin/python tests/compat/run_reference_tests.py [--sdist PATH] [--keep DIR] [-- PYTEST ARGS]

Nothing of the reference is kept in this repository. The script takes the reference's sdist (the
path given, or ``pip download`` of ``django-aws-api-gateway-websockets==4.1.0`` into a temporary
directory), copies its ``tests/`` package into a scratch directory, replaces the package name
``django_aws_api_gateway_websockets`` with ``wsgateway`` in every file (imports, ``INSTALLED_APPS``,
patch targets) and runs pytest there, with this checkout's ``wsgateway`` installed in the running
interpreter. Nothing else of the tests is changed.

The one addition is the Celery broker: the reference's test project configures none, so the run
starts its own Redis (as the test suite does, ``tests/embedded_redis.py``) and points Celery's
default app at it through ``CELERY_BROKER_URL``. A message queued by a test then lands in a real
broker instead of failing to reach ``amqp://localhost``.

``--with-gateway-secret`` runs the tests as a deployment of wsgateway must be configured: the
reference's test project sets no gateway secret (and ``DEBUG = False``), so wsgateway refuses
every event with 403 and the view's real behaviour stays hidden behind that answer. With the
option the run adds two files to the scratch copy, neither kept anywhere: a settings module that
imports the reference's ``tests.settings`` and sets ``WEBSOCKETS["gateway_secret"]`` (so a test's
own ``override_settings(WEBSOCKETS=...)`` still replaces it, as in the reference), and a
``conftest.py`` that gives every ``RequestFactory`` and test ``Client`` that secret in the
``X-Ws-Gateway-Secret`` header as a default. The settings module also lists the origin the
tests' requests come from in ``WSGATEWAY["ALLOWED_ORIGINS"]``, wsgateway's other required
deployment setting. A header a test sets itself (a wrong secret, another
secret) still wins, and a test that removes the header still sends none.

The output is one line per test module (passed / failed / errors / skipped) and the totals;
``--failures FILE`` writes every failing test id with the last line of its error, which is how
``docs/migrating.md`` classifies them.
"""

from __future__ import annotations

import argparse
import collections
import importlib.util
import os
import re
import shutil
import subprocess
import sys
import tarfile
import tempfile
import xml.etree.ElementTree as ET
from pathlib import Path

REFERENCE = "django-aws-api-gateway-websockets==4.1.0"
OLD_NAME = "django_aws_api_gateway_websockets"
NEW_NAME = "wsgateway"
HERE = Path(__file__).resolve().parent
PYTEST_INI = """[pytest]
DJANGO_SETTINGS_MODULE = tests.settings
django_find_project = false
python_files = test_*.py
"""


#: The secret ``--with-gateway-secret`` configures and sends (32+ characters, the reference's rule).
OVERLAY_SECRET = "compat-overlay-" + "s" * 32
#: The origin the reference's test requests come from (``Origin: https://www.example.com`` with
#: ``Host: www.example.com``). The reference accepted an Origin whose host is the Host header;
#: wsgateway needs the site's origins listed (docs/migrating.md, "Browsers must come from a listed
#: origin"), which is the other setting a deployment must make before browsers can connect.
OVERLAY_ORIGINS = ["https://www.example.com"]
OVERLAY_SETTINGS = "settings_gateway_secret"
OVERLAY_SETTINGS_PY = f"""# Added by run_reference_tests.py --with-gateway-secret (scratch copy only).
from tests.settings import *  # noqa: F403

WEBSOCKETS = {{"gateway_secret": {OVERLAY_SECRET!r}}}
WSGATEWAY = {{"ALLOWED_ORIGINS": {OVERLAY_ORIGINS!r}}}
"""
OVERLAY_CONFTEST_PY = f"""# Added by run_reference_tests.py --with-gateway-secret (scratch copy only).
from django.test import RequestFactory

_init = RequestFactory.__init__


def _init_with_secret(self, *args, **defaults):
    # A default of the factory: a header the test passes with its request replaces it.
    defaults.setdefault("HTTP_X_WS_GATEWAY_SECRET", {OVERLAY_SECRET!r})
    _init(self, *args, **defaults)


RequestFactory.__init__ = _init_with_secret
"""


def add_gateway_secret_overlay(work: Path) -> None:
    """Configure a gateway secret and send it with every test request (``--with-gateway-secret``)."""
    tests = work / "tests"
    for name, text in (("conftest.py", OVERLAY_CONFTEST_PY), (f"{OVERLAY_SETTINGS}.py", OVERLAY_SETTINGS_PY)):
        if (tests / name).exists():
            sys.exit(f"the reference's tests already have {name}; the overlay would replace it")
        (tests / name).write_text(text)
    ini = work / "pytest.ini"
    ini.write_text(ini.read_text().replace("tests.settings", f"tests.{OVERLAY_SETTINGS}"))


def download_sdist(into: Path) -> Path:
    """``pip download`` the reference's sdist (no dependencies, source only) into ``into``."""
    pip = [sys.executable, "-m", "pip", "download", "-q", "--no-deps", "--no-binary", ":all:"]
    subprocess.check_call([*pip, REFERENCE, "-d", str(into)])
    found = sorted(into.glob("*.tar.gz"))
    if not found:
        sys.exit(f"pip download left no sdist in {into}")
    return found[0]


def extract_tests(sdist: Path, work: Path) -> Path:
    """Copy the sdist's ``tests/`` package into ``work/tests``, renamed to wsgateway."""
    unpacked = work / "sdist"
    with tarfile.open(sdist) as archive:
        archive.extractall(unpacked, filter="data")
    sources = [p for p in unpacked.glob("*/tests") if p.is_dir()]
    if len(sources) != 1:
        sys.exit(f"expected one tests/ directory in {sdist}, found {len(sources)}")
    target = work / "tests"
    shutil.copytree(sources[0], target)
    shutil.rmtree(unpacked)
    for path in target.rglob("*.py"):
        text = path.read_text()
        if OLD_NAME in text:
            path.write_text(text.replace(OLD_NAME, NEW_NAME))
    (work / "pytest.ini").write_text(PYTEST_INI)
    return target


CHECKOUT = HERE.parent.parent


def use_this_checkout(env: dict[str, str], work: Path) -> None:
    """Make ``import wsgateway`` in the scratch run load this checkout's package.

    The interpreter may have wsgateway installed in editable mode from another checkout (a shared
    virtualenv), and the scratch directory is outside this one, so without this the run would
    measure that other tree. The scratch directory stays first on the path (pytest's cwd), so its
    ``tests`` package still shadows this checkout's.
    """
    env["PYTHONPATH"] = os.pathsep.join(p for p in (str(CHECKOUT), env.get("PYTHONPATH", "")) if p)
    found = subprocess.check_output(
        [sys.executable, "-c", "import wsgateway, tests; print(wsgateway.__file__); print(tests.__file__)"],
        cwd=work,
        env=env,
        text=True,
    ).split()
    if Path(found[0]).resolve() != (CHECKOUT / "wsgateway" / "__init__.py").resolve():
        sys.exit(f"the run would import wsgateway from {found[0]}, not from {CHECKOUT}")
    if Path(found[1]).resolve() != (work / "tests" / "__init__.py").resolve():
        sys.exit(f"the run would import the tests package from {found[1]}, not the scratch copy")


def start_redis() -> str:
    """A Redis for this run only (stopped when this process exits), as the test suite uses."""
    source = HERE.parent / "embedded_redis.py"
    spec = importlib.util.spec_from_file_location("wsgateway_embedded_redis", source)
    assert spec and spec.loader
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    os.environ.pop(module.ENV, None)
    url: str = module.session_redis_url()
    return url


# Why a reference test fails, judged from its id and error (first match wins). The categories of
# docs/migrating.md: (a) the reference calls AWS synchronously where wsgateway enqueues a task,
# (b) the test patches or calls a private helper or a module-level name wsgateway does not have,
# (c) a difference listed in docs/migrating.md. Anything else is "unexplained": a bug to fix or a
# difference to document.
CATEGORIES: list[tuple[str, str]] = [
    # (c) a gateway secret is required outside DEBUG: the reference's test project sets none, so
    # every event is refused with 403 and provisioning refuses to run.
    ("c", r"!= 403|status_code=403|GATEWAY_SECRETS'\] is empty|No gateway secret|SystemCheckError"),
    # (c) the view refused the event (no gateway secret) before the work the test counts or records.
    ("c", r"^tests\.test_views\..*(queries executed|Lists differ)"),
    # (b) patch targets and private helpers that do not exist in wsgateway.
    ("b", r"does not have the attribute|object has no attribute '_|has no attribute '_"),
    # (b) patches views.WebSocketSession (the name exists; replacing it does not reach the view)
    # and passes a MagicMock as the gateway, or calls disconnect() without the API id header.
    (
        "b",
        r"test_disconnect_is_scoped_to_the_calling_gateway|WebSocketViewSimpleTestCase::test_disconnect \|",
    ),
    # (b) patches WebSocketToken.validate_and_consume (the view consumes the token in one
    # statement, wsgateway.views.live_session), or hands the view a stand-in request.session
    # whose key no cookie carries (wsgateway reads the session cookie, which is the same key
    # wherever SessionMiddleware runs).
    (
        "b",
        r"test_connect_valid_token_branch_with_plain_truthy_user_mock|"
        r"test_connect_success_with_valid_token_sets_request_user|"
        r"test_connect_stores_the_hashes_that_tie_the_session_to_the_login|"
        # ConnectionRateLimit.record_attempt: the view counts and logs through wsgateway.ratelimit
        r"'record_attempt'|test_connect_creates_session_when_successful_without_token",
    ),
    # (c) the view's answers with the gateway secret set (--with-gateway-secret), see the table
    # "Answers" in docs/migrating.md: 401 for tokens, 404/410 for an unknown gateway or a closed
    # session, JSON bodies, {"status": "connected"}; connection ids with "/" and channel names
    # with spaces are valid; the required-header lists (User-Agent) are not checked; $disconnect
    # of an unknown connection is 200.
    (
        "c",
        r"^tests\.test_(views|routing)\..*(400 != 40[14]|400 != 410|400 != 429|"
        r"not found in b'\{\"error\"|\{\} != \{'status': 'connected'\}|"
        r"test_connect_rejects_malformed_connection_id|test_dispatch_disconnect_for_unknown_connection|"
        r"test_connect_is_not_checked_by_the_hook_for_an_invalid_channel|without_a_useragent)",
    ),
    # (c) documented differences of shape.
    (
        "c",
        r"wsgateway\.[EW]\d{3}|\(stored hashed\)|'provisioning_status' unexpectedly|"
        r"RegionNotConfiguredError|DatabaseOperationForbidden|"
        r"b'[^']*' != b'\{\"error\"|b'[^']*' != b'<!DOCTYPE html>|403 != 401|403 != 429|"
        r"WebSocketToken\.DoesNotExist|has no attribute 'debug_log'|has no attribute '(required_headers|"
        r"required_connection_headers|additional_required_headers|SEND_EXCEPTION_MAIL|"
        r"MAX_CHANNEL_NAME_LENGTH|MAX_BODY_SIZE)'|EventRefused: Name a handler|"
        r"test_channel_name_validator|test_the_automatic_handler_list|check_region|"
        r"check_gateway_secret_is_set|for_unknown_connection_returns_400|connection_headers_missing|"
        r"test_logging_out_closes|test_disconnect_marks_.*session_disconnected|"
        # channel names may contain inner spaces ("bad channel" is valid here)
        r"test_change_channel_rejects_missing_non_string|test_change_channel_does_not_call_the_hook|"
        # refused with 403 (no gateway secret), so the message was not counted / the session was
        # not touched (a direct disconnect() call checks the secret too)
        r"test_a_message_counts_one_request|test_disconnect_refreshes_updated_on",
    ),
    # (a) AWS is called by a worker, after the commit: the mocked client is not called in the
    # test, send_message() and the sync methods return handles, the worker logs and records.
    (
        "a",
        r"[Cc]alled 0 times|expected call not found|Handle\(|object has no attribute 'run_id'|"
        r"'NoneType' object has no attribute 'kwargs'|no logs of level WARNING|"
        r"(ClientError|ApiGatewaySyncError) not raised|KeyError: 'https://|"
        r"ApiGatewaySyncError: |DoesNotExist|test_send_message|_claim_for_creation|"
        r"True is not false|False is not true|Tuples differ|Lists differ|'renamed' != 'gw'|"
        r"'' != 'old'|queries executed|!= SendHandle",
    ),
]


def category_of(line: str) -> str:
    for category, pattern in CATEGORIES:
        if re.search(pattern, line):
            return category
    return "unexplained"


def module_of(testcase: ET.Element) -> str:
    classname = testcase.get("classname", "")
    parts = classname.split(".")
    # tests.test_models.SomeTest -> tests.test_models; tests.management.commands.test_x.T -> ...test_x
    for i, part in enumerate(parts):
        if part.startswith("test_"):
            return ".".join(parts[: i + 1])
    return classname


def summarise(junit: Path, failures_file: Path | None) -> tuple[int, int]:
    counts: dict[str, collections.Counter[str]] = collections.defaultdict(collections.Counter)
    why: dict[str, collections.Counter[str]] = collections.defaultdict(collections.Counter)
    failed_lines: list[str] = []
    # pytest's own report of this run, written a moment ago: not untrusted input.
    for case in ET.parse(junit).getroot().iter("testcase"):  # noqa: S314
        module = module_of(case)
        outcome = "passed"
        for child in case:
            if child.tag in {"failure", "error", "skipped"}:
                outcome = {"failure": "failed", "error": "errors", "skipped": "skipped"}[child.tag]
                if child.tag != "skipped":
                    message = (child.get("message") or "").strip().splitlines()
                    line = (
                        f"{case.get('classname')}::{case.get('name')} | {message[0][:300] if message else ''}"
                    )
                    category = category_of(line)
                    why[module][category] += 1
                    failed_lines.append(f"({category}) {line}")
                break
        counts[module][outcome] += 1
    total: collections.Counter[str] = collections.Counter()
    print(f"{'module':55} {'passed':>7} {'failed':>7} {'errors':>7} {'skipped':>7} {'total':>7}")
    for module in sorted(counts):
        c = counts[module]
        total.update(c)
        row = [c["passed"], c["failed"], c["errors"], c["skipped"], sum(c.values())]
        print(f"{module:55} " + " ".join(f"{n:7}" for n in row))
    print(
        f"{'TOTAL':55} {total['passed']:7} {total['failed']:7} {total['errors']:7} {total['skipped']:7} "
        f"{sum(total.values()):7}"
    )
    print("\nfailures by cause: (a) AWS in a task, (b) private helper or patch target, (c) documented")
    causes = ("a", "b", "c", "unexplained")
    print(f"{'module':55} " + " ".join(f"{c:>11}" for c in causes))
    for module in sorted(why):
        print(f"{module:55} " + " ".join(f"{why[module][c]:11}" for c in causes))
    if failures_file:
        failures_file.write_text("\n".join(failed_lines) + "\n")
        print(f"failing tests: {failures_file}")
    return total["passed"], total["failed"] + total["errors"]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--sdist", type=Path, help="the reference's sdist (default: pip download it)")
    parser.add_argument("--keep", type=Path, help="work in this directory and keep it (default: a temp dir)")
    parser.add_argument("--failures", type=Path, help="write the failing test ids and messages here")
    parser.add_argument("--from-junit", type=Path, help="only summarise the junit XML of an earlier run")
    parser.add_argument(
        "--with-gateway-secret",
        action="store_true",
        help="configure a gateway secret and send it with every test request (see above)",
    )
    parser.add_argument("pytest_args", nargs="*", help="extra pytest arguments (after --)")
    args = parser.parse_args(argv)
    if args.from_junit:
        summarise(args.from_junit, args.failures)
        return 0

    with tempfile.TemporaryDirectory(prefix="wsgateway-reference-tests-") as scratch:
        work = args.keep.resolve() if args.keep else Path(scratch)
        if args.keep and work.exists():
            if any(work.iterdir()) and not (work / "pytest.ini").exists():
                sys.exit(f"{work} is not empty and not an earlier --keep directory; not touching it")
            shutil.rmtree(work)
        work.mkdir(parents=True, exist_ok=True)
        sdist = args.sdist.resolve() if args.sdist else download_sdist(Path(scratch) / "download")
        extract_tests(sdist, work)
        if args.with_gateway_secret:
            add_gateway_secret_overlay(work)
        env = dict(os.environ)
        env["CELERY_BROKER_URL"] = start_redis()
        env.pop("DJANGO_SETTINGS_MODULE", None)
        use_this_checkout(env, work)
        junit = work / "junit.xml"
        command = [
            sys.executable,
            "-m",
            "pytest",
            "-c",
            str(work / "pytest.ini"),
            "--rootdir",
            str(work),
            "-p",
            "no:cacheprovider",
            "-q",
            "--no-header",
            "-o",
            "console_output_style=classic",
            f"--junitxml={junit}",
            *args.pytest_args,
        ]
        subprocess.call(command, cwd=work, env=env, stdout=subprocess.DEVNULL)
        if not junit.exists():
            sys.exit("pytest wrote no report; run again with --keep DIR and look there")
        passed, failed = summarise(junit, args.failures)
        print(f"reference tests against wsgateway: {passed} passed, {failed} failed")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
