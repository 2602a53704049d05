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

The output is one line per test module (passed / failed / errors / skipped) and the totals,
then the failures per cause. A failure's cause comes from the reviewed table in
``tests/compat/reference_failures.py`` (test id -> reason -> cause, per mode), checked against
the failure itself: the exception class must be one its reason allows and, for a missing name,
the ``AttributeError`` must name one of the reason's attributes. Anything else is listed as
unexplained and makes the exit status 1. ``--failures FILE`` writes every failing test id with
its cause, reason and the first line of its error.
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
from dataclasses import dataclass, field
from pathlib import Path

if __package__ in (None, ""):  # run as a script: make this checkout's tests package importable
    sys.path.insert(0, str(Path(__file__).resolve().parents[2]))
from tests.compat.reference_failures import EXPECTED, REASONS, Reason  # noqa: F401 (Reason: for callers)

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


@dataclass(frozen=True)
class Failure:
    """One failing (or erroring) reference test, as pytest's junit report gives it."""

    test_id: str
    message: str

    @property
    def exception(self) -> str:
        """The exception's class name, without its module (``AssertionError``, ``DoesNotExist``)."""
        head = self.message.split(": ", 1)[0].strip()
        return head.rsplit(".", 1)[-1] if head and " " not in head else ""

    @property
    def missing_attribute(self) -> str:
        """The attribute an ``AttributeError`` names (a patch target or an attribute read), else ''."""
        if self.exception != "AttributeError":
            return ""
        found = re.search(r"does not have the attribute '([^']+)'|has no attribute '([^']+)'", self.message)
        return (found.group(1) or found.group(2)) if found else ""


@dataclass(frozen=True)
class Verdict:
    """The cause a failure is counted under, and the reason key or what is wrong with it."""

    cause: str
    reason: str


def expected_reasons(mode: str) -> dict[str, str]:
    """Test id -> reason key for ``mode`` (``plain`` or ``secret``), from the reviewed table."""
    by_id: dict[str, str] = {}
    for reason, test_ids in EXPECTED[mode].items():
        if reason not in REASONS:
            raise ValueError(f"the table lists tests under an unknown reason {reason!r}")
        for test_id in test_ids:
            if test_id in by_id:
                raise ValueError(f"{test_id} is listed under {by_id[test_id]!r} and {reason!r}")
            by_id[test_id] = reason
    return by_id


def judge(failure: Failure, table: dict[str, str]) -> Verdict:
    """Count ``failure`` under its listed reason's cause when it looks as that reason says;
    otherwise it is unexplained (a bug to fix, or a difference to document and list)."""
    key = table.get(failure.test_id)
    if key is None:
        return Verdict("unexplained", "not in the table")
    reason = REASONS[key]
    if failure.exception not in reason.raises:
        return Verdict("unexplained", f"listed as {key}, but fails with {failure.exception or '?'}")
    if reason.missing and failure.missing_attribute not in reason.missing:
        return Verdict(
            "unexplained", f"listed as {key}, but the missing name is {failure.missing_attribute or '?'}"
        )
    return Verdict(reason.cause, key)


def module_of(testcase: ET.Element) -> str:
    classname = testcase.get("classname", "")
    parts = classname.split(".")
    # tests.test_models.SomeTest -> tests.test_models; tests.management.commands.test_x.T -> ...test_x
    for i, part in enumerate(parts):
        if part.startswith("test_"):
            return ".".join(parts[: i + 1])
    return classname


@dataclass
class Summary:
    """A run's counts: tests per outcome, failures per cause, and what the table did not expect."""

    passed: int = 0
    failed: int = 0
    causes: collections.Counter[str] = field(default_factory=collections.Counter)
    unexplained: list[tuple[Failure, str]] = field(default_factory=list)
    #: Listed in the table for this mode, but passed: the entry can go.
    fixed: list[str] = field(default_factory=list)


CAUSES = ("a", "b", "c", "unexplained")


def summarise(junit: Path, failures_file: Path | None, mode: str = "plain") -> Summary:
    """Print the counts per module and per cause of the run in ``junit``, judged by the table."""
    table = expected_reasons(mode)
    counts: dict[str, collections.Counter[str]] = collections.defaultdict(collections.Counter)
    why: dict[str, collections.Counter[str]] = collections.defaultdict(collections.Counter)
    summary = Summary()
    failed_lines: list[str] = []
    # pytest's own report of this run, written a moment ago: not untrusted input.
    for case in ET.parse(junit).getroot().iter("testcase"):  # noqa: S314
        module = module_of(case)
        test_id = f"{case.get('classname')}::{case.get('name')}"
        outcome = "passed"
        for child in case:
            if child.tag in {"failure", "error", "skipped"}:
                outcome = {"failure": "failed", "error": "errors", "skipped": "skipped"}[child.tag]
                if child.tag != "skipped":
                    lines = (child.get("message") or "").strip().splitlines()
                    failure = Failure(test_id, lines[0][:300] if lines else "")
                    verdict = judge(failure, table)
                    why[module][verdict.cause] += 1
                    summary.causes[verdict.cause] += 1
                    if verdict.cause == "unexplained":
                        summary.unexplained.append((failure, verdict.reason))
                    failed_lines.append(f"({verdict.cause}: {verdict.reason}) {test_id} | {failure.message}")
                break
        counts[module][outcome] += 1
        if outcome == "passed" and test_id in table:
            summary.fixed.append(test_id)
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
    print(
        f"\nfailures by cause ({mode} table): (a) AWS in a task, (b) private helper or patch target, "
        "(c) documented"
    )
    print(f"{'module':55} " + " ".join(f"{c:>11}" for c in CAUSES))
    for module in sorted(why):
        print(f"{module:55} " + " ".join(f"{why[module][c]:11}" for c in CAUSES))
    print(f"{'TOTAL':55} " + " ".join(f"{summary.causes[c]:11}" for c in CAUSES))
    for failure, problem in summary.unexplained:
        print(f"unexplained: {failure.test_id} ({problem}) | {failure.message}")
    for test_id in summary.fixed:
        print(f"listed but passed (remove from the table): {test_id}")
    if failures_file:
        failures_file.write_text("\n".join(failed_lines) + "\n")
        print(f"failing tests: {failures_file}")
    summary.passed = total["passed"]
    summary.failed = total["failed"] + total["errors"]
    return summary


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--sdist", type=Path, help="the reference's sdist (default: pip download it)")
    parser.add_argument("--keep", type=Path, help="work in this directory and keep it (default: a temp dir)")
    parser.add_argument("--failures", type=Path, help="write the failing test ids and messages here")
    parser.add_argument("--from-junit", type=Path, help="only summarise the junit XML of an earlier run")
    parser.add_argument(
        "--with-gateway-secret",
        action="store_true",
        help="configure a gateway secret and send it with every test request (see above); with"
        " --from-junit, judge the report by the table of that mode",
    )
    parser.add_argument("pytest_args", nargs="*", help="extra pytest arguments (after --)")
    args = parser.parse_args(argv)
    mode = "secret" if args.with_gateway_secret else "plain"
    if args.from_junit:
        return 1 if summarise(args.from_junit, args.failures, mode).unexplained else 0

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
        summary = summarise(junit, args.failures, mode)
        print(
            f"reference tests against wsgateway: {summary.passed} passed, {summary.failed} failed, "
            f"{len(summary.unexplained)} of them unexplained"
        )
    # Non-zero when a failure is not explained by the table: a new incompatibility, or a stale entry.
    return 1 if summary.unexplained else 0


if __name__ == "__main__":
    raise SystemExit(main())
