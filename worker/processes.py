"""A small supervisor: child processes started in order, waited on until ready, stopped together.

Nothing here knows the demo (``worker/demo.py`` says what runs). Each :class:`Child` leads its own
process group, so the terminal's Ctrl-C reaches only the supervisor, which then stops each group
in order, grandchildren included. Its output is copied line by line as ``[name] line``.
"""

from __future__ import annotations

import collections
import contextlib
import os
import re
import signal
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Sequence
from pathlib import Path

# Runs each child on Linux: asks the kernel to SIGTERM it when the supervisor dies, then execs
# the real program (the setting survives exec). So even a supervisor killed outright (SIGKILL,
# or a wrapper that kills it on Ctrl-C) leaves no Redis, gunicorn or worker behind: each stops
# gracefully and takes its own children with it. Not a preexec_fn: that is unsafe with threads.
# The signal follows the *thread* that started the child: start children from the main thread.
_PARENT_DEATH_SHIM = (
    "import ctypes, os, signal, sys\n"
    "ctypes.CDLL(None, use_errno=True).prctl(1, int(signal.SIGTERM))  # PR_SET_PDEATHSIG\n"
    "if os.getppid() != int(sys.argv[1]):\n"
    "    sys.exit(0)  # the supervisor died before prctl: do not start at all\n"
    "os.execvp(sys.argv[2], sys.argv[2:])\n"
)

_output = threading.Lock()


class StartError(RuntimeError):
    """A process failed to start or to get ready (the message says which and why)."""


def say(prefix: str, text: str) -> None:
    """Print ``[prefix] text`` as one whole line, from any thread."""
    with _output, contextlib.suppress(ValueError, OSError):  # stdout closed under us (shutdown)
        print(f"[{prefix}] {text}", flush=True)


def free_port(host: str = "127.0.0.1") -> int:
    """A TCP port nothing listens on right now."""
    with socket.socket() as probe:
        probe.bind((host, 0))
        return int(probe.getsockname()[1])


def port_is_free(port: int, host: str = "127.0.0.1") -> bool:
    """Whether a server can listen on ``port`` on ``host``.

    SO_REUSEADDR, as gunicorn sets it: connections of a previous run left in TIME_WAIT must not
    make a restarted server move off its port; only a live listener may.
    """
    with socket.socket() as probe:
        probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            probe.bind((host, port))
        except OSError:
            return False
        return True


class Child:
    """A child process in its own process group, its output copied with a ``[name]`` prefix."""

    def __init__(
        self, name: str, argv: Sequence[str], env: dict[str, str], cwd: Path, one_shot: bool
    ) -> None:
        self.name = name
        self.one_shot = one_shot  #: a step expected to exit (not a failure of the supervised set)
        self.lines: collections.deque[str] = collections.deque(maxlen=500)
        if sys.platform.startswith("linux"):
            argv = [sys.executable, "-c", _PARENT_DEATH_SHIM, str(os.getpid()), *argv]
        self.process = subprocess.Popen(  # noqa: S603 (argv built by the caller from fixed parts)
            list(argv),
            cwd=cwd,
            env=env,
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
            encoding="utf-8",
            errors="replace",
            bufsize=1,
            process_group=0,
        )
        self.pid = self.process.pid
        self._pump = threading.Thread(target=self._copy_output, name=f"output-{name}", daemon=True)
        self._pump.start()

    def _copy_output(self) -> None:
        assert self.process.stdout is not None
        for raw in self.process.stdout:
            line = raw.rstrip("\n")
            say(self.name, line)
            self.lines.append(line)

    @property
    def returncode(self) -> int | None:
        """The exit status, or None while it runs."""
        return self.process.poll()

    def wait_until(self, check: Callable[[], object], timeout: float, what: str) -> None:
        """Poll ``check`` until true; :class:`StartError` after ``timeout`` or once the child has
        exited and all its output was read."""
        deadline = time.monotonic() + timeout
        while not check():
            if self.returncode is not None and not self._pump.is_alive():
                raise StartError(f"{self.name} exited with code {self.returncode} before {what}")
            if time.monotonic() > deadline:
                raise StartError(f"{self.name}: timed out after {timeout:.0f} s waiting for {what}")
            time.sleep(0.1)

    def wait_for_line(self, pattern: str, timeout: float) -> re.Match[str]:
        """The first output line (of the last 500) that matches ``pattern``."""
        regex = re.compile(pattern)
        found: list[re.Match[str]] = []

        def seen() -> bool:
            found.extend(match for line in tuple(self.lines) if (match := regex.search(line)))
            return bool(found)

        self.wait_until(seen, timeout, f"a line matching {pattern!r}")
        return found[0]

    def signal_group(self, signum: int) -> bool:
        """Send ``signum`` to the child's process group; False when the group is gone."""
        try:
            os.killpg(self.pid, signum)
        except (ProcessLookupError, PermissionError):
            return False
        return True


class Supervisor:
    """Children started in order, their groups stopped newest first; ``[name]`` for its own lines."""

    def __init__(self, name: str, cwd: Path) -> None:
        self.name = name
        self.cwd = cwd
        self.children: list[Child] = []

    def say(self, text: str) -> None:
        """A line of the supervisor's own."""
        say(self.name, text)

    def start(self, name: str, argv: Sequence[str], env: dict[str, str], *, one_shot: bool = False) -> Child:
        """Start ``argv`` as ``name``, supervised until :meth:`stop`."""
        child = Child(name, argv, env, self.cwd, one_shot)
        self.children.append(child)
        self.say(f"started {name} (pid {child.pid})")
        return child

    def run(self, name: str, argv: Sequence[str], env: dict[str, str], timeout: float) -> None:
        """Run a step to its end; :class:`StartError` unless it exits 0 within ``timeout``."""
        child = self.start(name, argv, env, one_shot=True)
        try:
            code = child.process.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            raise StartError(f"{name} did not finish in {timeout:.0f} s") from None
        if code != 0:
            raise StartError(f"{name} ({' '.join(argv[1:])}) failed with exit code {code}")

    def running(self) -> list[Child]:
        """Children still running."""
        return [child for child in self.children if child.returncode is None]

    def exited(self) -> Child | None:
        """A long-running child (not a one-shot step) that has exited, if any."""
        return next((c for c in self.children if not c.one_shot and c.returncode is not None), None)

    def stop(self, timeout: float = 15.0) -> None:
        """SIGTERM every process group, newest first; SIGKILL whatever is left after ``timeout``."""
        for child in reversed(self.running()):
            self.say(f"stopping {child.name} (pid {child.pid})")
            child.signal_group(signal.SIGTERM)
        deadline = time.monotonic() + timeout
        for child in reversed(self.children):
            with contextlib.suppress(subprocess.TimeoutExpired):
                child.process.wait(timeout=max(0.0, deadline - time.monotonic()))
        for child in self.children:
            # Also reaps grandchildren that outlived their group leader (e.g. a pool process).
            if child.signal_group(signal.SIGKILL) and child.returncode is None:
                self.say(f"killed {child.name} (pid {child.pid}): it ignored SIGTERM")
            with contextlib.suppress(subprocess.TimeoutExpired):
                child.process.wait(timeout=5)
