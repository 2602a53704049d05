"""The demo started the way a newcomer starts it (``python -m worker.demo``), on free ports with
a temporary data directory, for the tests that need the whole stack."""

from __future__ import annotations

import contextlib
import os
import re
import signal
import sqlite3
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

ROOT = Path(__file__).resolve().parents[2]
ARTIFACTS = ROOT / "test-artifacts"
PASSWORD = "demo-test-password"
#: Starting everything (migrate, gunicorn, a worker, provisioning) on a busy 2-core CI machine;
#: each step inside the demo has its own, shorter bound.
START_TIMEOUT = 150.0


class DemoProcess:
    """``python -m worker.demo`` in its own process group, its output collected line by line."""

    def __init__(self, data_dir: Path) -> None:
        self.data_dir = data_dir
        env = {k: v for k, v in os.environ.items() if not k.startswith(("DJANGO_", "WSGATEWAY_"))}
        self.process = subprocess.Popen(
            [sys.executable, "-m", "worker.demo", "--port", "0", "--data-dir", str(data_dir),
             "--password", PASSWORD],
            cwd=ROOT,
            env=env,
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
            process_group=0,
        )  # fmt: skip
        self.lines: list[str] = []
        self._changed = threading.Condition()
        self._reader = threading.Thread(target=self._read, daemon=True)
        self._reader.start()
        self.url = ""
        self.emulator_url = ""
        self.groups: dict[str, int] = {}

    def _read(self) -> None:
        assert self.process.stdout is not None
        for line in self.process.stdout:
            with self._changed:
                self.lines.append(line.rstrip("\n"))
                self._changed.notify_all()
        with self._changed:
            self._changed.notify_all()

    def wait_for(self, pattern: str, timeout: float) -> re.Match[str]:
        """The first output line matching ``pattern``; fails after ``timeout`` or on exit."""
        regex = re.compile(pattern)
        deadline = time.monotonic() + timeout
        with self._changed:
            while True:
                for line in self.lines:
                    if match := regex.search(line):
                        return match
                remaining = deadline - time.monotonic()
                if remaining <= 0 or (self.process.poll() is not None and not self._reader.is_alive()):
                    tail = "\n".join(self.lines[-60:])
                    pytest.fail(f"demo: no line matching {pattern!r} (exit {self.process.poll()}):\n{tail}")
                self._changed.wait(min(remaining, 0.5))

    def start(self) -> None:
        """Wait until the demo prints the URL to open; record URLs and process groups."""
        self.url = self.wait_for(r"\[demo\] open (http://\S+)/rooms/lobby/", START_TIMEOUT).group(1)
        self.emulator_url = self.wait_for(r"emulator: (http://\S+)", 5).group(1)
        groups = self.wait_for(r"process groups: (.*)$", 5).group(1)
        self.groups = {name: int(pid) for name, pid in (item.split("=") for item in groups.split())}

    def db(self) -> sqlite3.Connection:
        """A read connection to the demo's SQLite file."""
        return sqlite3.connect(self.data_dir / "db.sqlite3", timeout=10)

    def query(self, sql: str, *params: Any) -> list[tuple[Any, ...]]:
        """Rows of ``sql`` on the demo's database."""
        with self.db() as conn:
            return conn.execute(sql, params).fetchall()

    def interrupt(self, timeout: float = 30.0) -> int:
        """Ctrl-C, as the terminal sends it; the exit status."""
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGINT)
        code = self.process.wait(timeout=timeout)
        self._reader.join(timeout=5)
        return code

    def kill_leftovers(self) -> None:
        """Last resort after a failed test: no process of the demo may outlive the session."""
        if self.process.poll() is None:
            self.process.kill()
            self.process.wait(timeout=10)
        for pgid in [*self.groups.values(), self.process.pid]:
            with contextlib.suppress(ProcessLookupError, PermissionError):
                os.killpg(pgid, signal.SIGKILL)


def processes_in_groups(groups: set[int]) -> list[tuple[int, str]]:
    """``(pid, command)`` of every live process whose process group is in ``groups`` (/proc)."""
    found = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text()
            cmdline = (entry / "cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")
        except OSError:
            continue
        # Fields after the parenthesised command name: state ppid pgrp ...
        fields = stat.rsplit(")", 1)[1].split()
        if fields[0] != "Z" and int(fields[2]) in groups:
            found.append((int(entry.name), cmdline.strip()))
    return found


def left_running(groups: set[int], timeout: float) -> list[tuple[int, str]]:
    """What still runs in ``groups`` once ``timeout`` has passed; returns as soon as nothing does."""
    deadline = time.monotonic() + timeout
    while (left := processes_in_groups(groups)) and time.monotonic() < deadline:
        time.sleep(0.1)
    return left


@pytest.fixture(scope="module")
def demo(tmp_path_factory: pytest.TempPathFactory) -> Iterator[DemoProcess]:
    """The running demo; tests may stop it (``interrupt``); leftovers are killed afterwards."""
    process = DemoProcess(tmp_path_factory.mktemp("demo-data"))
    try:
        process.start()
        yield process
    finally:
        if process.process.poll() is None:
            with contextlib.suppress(subprocess.TimeoutExpired):
                process.interrupt()
        (ARTIFACTS).mkdir(exist_ok=True)
        (ARTIFACTS / "demo-output.log").write_text("\n".join(process.lines) + "\n")
        process.kill_leftovers()
