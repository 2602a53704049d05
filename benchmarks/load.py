"""Load: N concurrent WebSocket clients through the emulator and Django under gunicorn.

Everything runs on this machine, started by this script and stopped at the end:

- its own ``redis-server`` on a free port (broker, results, the shared limiter, summaries);
- the emulator (``python -m wsgateway.emulator``) in its own process: sockets, ``$connect`` /
  message forwarding over HTTP_PROXY, ``@connections``;
- Django under gunicorn (``worker.wsgi``, ``--workers 2 --threads 4``) with
  :mod:`benchmarks.load_settings` on a fresh database (PostgreSQL at 127.0.0.1:5432 when it is
  reachable, else a SQLite file; ``--database URL`` to choose);
- one Celery worker (``celery -A worker worker -Q fanout``, prefork, ``--concurrency 2``).

The API is provisioned through wsgateway's own provisioning chain against the emulator's control
plane. Clients connect **without tokens** (``REQUIRE_TOKEN`` off in the load settings) from
127.0.0.1 with the ``$connect`` rate limit lifted.

Phases and what is measured:

1. connect: ``--clients`` sockets, at most ``--connect-concurrency`` handshakes in flight →
   connects/s (each ``$connect`` is a Django request writing a session and a rate-limit row);
2. messages in: every client sends ``--messages`` frames (``change_channel``, a handler that
   updates its row), at most ``--messages-in-flight`` unprocessed at a time → messages/s, counted
   when Django has processed them (``request_count``), and forwards the emulator got no answer to;
3. a broadcast out: ``send_message.delay(..., api_gateway_id=...)`` once, to every client →
   p50/p99/max delivery latency (client receive time - send time, same clock) and lost
   messages (clients that never got it; must be 0), duplicates; the worker's CPU (its whole
   process group) per delivered message;
4. the same sockets sent to by the **real reference package** ``django-aws-api-gateway-websockets
   4.1.0`` from PyPI (its own virtualenv, ``benchmarks/peers.py``; the driver of
   ``benchmarks/fanout.py``: its unchanged ``QuerySet.send_message``, pointed at the emulator),
   after one warm-up message → the same latency figures and its process's CPU per delivered
   message, then ours/theirs ratios of the warm broadcast. Phases 1 and 2 are wsgateway's only
   (the reference's inbound view is compared per event by ``benchmarks/inbound.py --reference``).

Bounded: the whole run stops after ``--timeout`` seconds (default 120) whatever happens.

    python benchmarks/load.py [--clients 1000] [--messages 2] [--database URL] [--timeout 120]

Exit status 0 when every client connected, every message was processed and lost = 0.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import os
import resource
import secrets
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.request
import uuid
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

POSTGRES_ADMIN_URL = "postgres://postgres@127.0.0.1:5432/postgres"
#: Longest wait of a broadcast phase, and of the messages phase (Django's rate bounds that one).
PHASE_SECONDS = 30.0
MESSAGES_PHASE_SECONDS = 60.0


class Deadline:
    """The run's time budget."""

    def __init__(self, seconds: float) -> None:
        self.end = time.monotonic() + seconds

    def left(self) -> float:
        """Seconds left; raises ``TimeoutError`` when none are."""
        left = self.end - time.monotonic()
        if left <= 0:
            raise TimeoutError("the load run reached its --timeout")
        return left

    def within(self, seconds: float) -> float:
        """A phase's own bound, cut to what is left of the run (0 when nothing is)."""
        return max(0.0, min(seconds, self.end - time.monotonic()))


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def raise_fd_limit(clients: int) -> None:
    """Each client costs descriptors here, in the emulator and for its forwards: raise the soft limit."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    wanted = min(hard, max(soft, clients * 3 + 1024))
    if wanted > soft:
        resource.setrlimit(resource.RLIMIT_NOFILE, (wanted, hard))


# ------------------------------------------------------------------------------------ processes


class Processes:
    """Child processes, each in its own process group, all stopped at the end."""

    def __init__(self, logdir: Path) -> None:
        self.logdir = logdir
        self.children: list[tuple[str, subprocess.Popen[bytes]]] = []

    def start(self, name: str, command: list[str], env: dict[str, str]) -> subprocess.Popen[bytes]:
        log = (self.logdir / f"{name}.log").open("wb")
        proc = subprocess.Popen(
            command, cwd=ROOT, env=env, stdout=log, stderr=subprocess.STDOUT, start_new_session=True
        )
        self.children.append((name, proc))
        return proc

    def stop_all(self) -> None:
        for _, proc in reversed(self.children):
            if proc.poll() is None:
                os.killpg(proc.pid, signal.SIGTERM)
        for _, proc in reversed(self.children):
            try:
                proc.wait(10)
            except subprocess.TimeoutExpired:
                os.killpg(proc.pid, signal.SIGKILL)
                proc.wait(5)

    def stop_all_and_disconnect(self) -> None:
        """:meth:`stop_all`, then close this process's Django connections (a script's last
        step: a PostgreSQL test database can only be dropped with no session left on it)."""
        self.stop_all()
        with contextlib.suppress(Exception):
            from django.db import connections

            connections.close_all()

    def cpu_seconds(self) -> dict[str, float]:
        """CPU time (user + system) used so far by each child's process group, from /proc."""
        tick = os.sysconf("SC_CLK_TCK")
        groups = {proc.pid: name for name, proc in self.children}
        used = dict.fromkeys(groups.values(), 0.0)
        for stat in Path("/proc").glob("[0-9]*/stat"):
            with contextlib.suppress(OSError, ValueError, IndexError):
                fields = stat.read_text().rsplit(")", 1)[1].split()
                group = int(fields[2])  # pgrp
                if group in groups:
                    used[groups[group]] += (int(fields[11]) + int(fields[12])) / tick  # utime, stime
        return used

    def check_alive(self) -> None:
        for name, proc in self.children:
            if proc.poll() is not None:
                tail = (self.logdir / f"{name}.log").read_text(errors="replace")[-2000:]
                raise RuntimeError(f"{name} exited with {proc.returncode}:\n{tail}")


def redis_server_binary() -> str:
    """The system's ``redis-server``, else the demo's embedded server (``worker.demo``)."""
    found = shutil.which("redis-server")
    if found:
        return found
    from worker.demo import redis_server_binary as embedded

    return str(embedded())


def start_fanout_worker(procs: Processes, env: dict[str, str]) -> None:
    """The project's Celery worker (``worker/``) on the fan-out queue, two prefork processes; the
    caller waits for it with :func:`wait_for_worker`."""
    procs.start(
        "celery",
        [sys.executable, "-m", "celery", "-A", "worker", "worker", "-Q", "fanout", "-P", "prefork",
         "-c", "2", "--without-gossip", "--without-mingle", "--without-heartbeat", "-l", "warning"],
        env,
    )  # fmt: skip


def wait_for_port(port: int, deadline: Deadline, procs: Processes) -> None:
    while True:
        with contextlib.suppress(OSError), socket.create_connection(("127.0.0.1", port), timeout=0.5):
            return
        procs.check_alive()
        deadline.left()
        time.sleep(0.05)


def start_redis(procs: Processes, workdir: Path, deadline: Deadline, name: str = "redis") -> int:
    """A private ``redis-server`` (no persistence) on a free port, named ``name``; its port once
    it listens."""
    port = free_port()
    procs.start(
        name,
        [redis_server_binary(), "--port", str(port), "--bind", "127.0.0.1", "--save", "",
         "--appendonly", "no", "--dir", str(workdir)],
        dict(os.environ),
    )  # fmt: skip
    wait_for_port(port, deadline, procs)
    return port


#: The emulator's admin API needs a token; this run chooses it (see wsgateway.emulator.security).
ADMIN_TOKEN = secrets.token_urlsafe(16)


def start_emulator(procs: Processes, deadline: Deadline) -> str:
    port = free_port()
    procs.start(
        "emulator",
        [sys.executable, "-m", "wsgateway.emulator", "--port", str(port)],
        dict(os.environ, WSGATEWAY_EMULATOR_ADMIN_TOKEN=ADMIN_TOKEN),
    )
    wait_for_port(port, deadline, procs)
    return f"http://127.0.0.1:{port}"


# ------------------------------------------------------------------------------------- database


def choose_database(url: str | None, workdir: Path) -> tuple[str, Any]:
    """The database URL to use and a cleanup callable (drops a PostgreSQL database we created)."""
    if url:
        return url, lambda: None
    try:
        import psycopg

        name = f"wsgateway_load_{os.getpid()}"
        with psycopg.connect(POSTGRES_ADMIN_URL, autocommit=True, connect_timeout=3) as admin:
            admin.execute(f'CREATE DATABASE "{name}"')

        def drop() -> None:
            with psycopg.connect(POSTGRES_ADMIN_URL, autocommit=True) as admin:
                admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')

        return POSTGRES_ADMIN_URL.rsplit("/", 1)[0] + f"/{name}", drop
    except Exception as err:  # no PostgreSQL here: a SQLite file
        print(f"PostgreSQL not usable ({type(err).__name__}); using SQLite")
        return f"sqlite:///{workdir / 'load.sqlite3'}", lambda: None


# --------------------------------------------------------------------------------------- clients


@dataclass
class Client:
    """One WebSocket client and what it received (message id → receive times)."""

    ws: Any = None
    received: dict[str, list[float]] = field(default_factory=dict)
    reader: asyncio.Task[None] | None = None

    async def read(self) -> None:
        with contextlib.suppress(Exception):
            async for frame in self.ws:
                now = time.time()
                with contextlib.suppress(ValueError, AttributeError):
                    message_id = json.loads(frame).get("message_id")
                    if message_id:
                        self.received.setdefault(message_id, []).append(now)


async def connect_all(url: str, n: int, concurrency: int) -> tuple[list[Client], int, float]:
    """Open ``n`` sockets, ``concurrency`` handshakes at a time; (clients, refused, seconds)."""
    from websockets.asyncio.client import connect

    gate = asyncio.Semaphore(concurrency)
    clients: list[Client] = []
    refused = 0

    async def one() -> None:
        nonlocal refused
        async with gate:
            try:
                ws = await connect(url, open_timeout=30, max_queue=None, ping_interval=None)
            except Exception:
                refused += 1
                return
        client = Client(ws)
        client.reader = asyncio.create_task(client.read())
        clients.append(client)

    started = time.perf_counter()
    await asyncio.gather(*(one() for _ in range(n)))
    return clients, refused, time.perf_counter() - started


def percentile(values: list[float], fraction: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, max(0, round(fraction * (len(ordered) - 1))))]


async def measure(
    clients: list[Client], message_id: str, sent_at: float, deadline: Deadline
) -> dict[str, Any]:
    """Wait (bounded) until every client has ``message_id``; its latency and loss as the clients saw it."""
    until = time.monotonic() + deadline.within(PHASE_SECONDS)
    while sum(1 for c in clients if message_id in c.received) < len(clients) and time.monotonic() < until:
        await asyncio.sleep(0.02)
    await asyncio.sleep(0.5)  # a duplicate would arrive right behind
    got = [c.received[message_id] for c in clients if message_id in c.received]
    latencies = [(times[0] - sent_at) * 1000 for times in got]
    return {
        "delivered": len(got),
        "lost": len(clients) - len(got),
        "duplicates": sum(len(times) - 1 for times in got),
        "p50_ms": statistics.median(latencies) if latencies else 0.0,
        "p99_ms": percentile(latencies, 0.99) if latencies else 0.0,
        "max_ms": max(latencies) if latencies else 0.0,
        "first_ms": min(latencies) if latencies else 0.0,
    }


async def broadcast(
    clients: list[Client], gateway_pk: int, deadline: Deadline, procs: Processes
) -> dict[str, Any]:
    """One ``send_message.delay`` to every session of the gateway (broker, worker, fan-out engine);
    latency as the clients saw it, and ``cpu_seconds``: the caller's enqueue (its thread's CPU)
    plus the Celery worker's whole process group from the send until the summary says complete."""
    from wsgateway.fanout.results import get_broadcast_summary
    from wsgateway.tasks.fanout import send_message

    message_id = uuid.uuid4().hex
    data = {"kind": "broadcast"}

    def enqueue() -> tuple[Any, float]:
        cpu = time.thread_time()
        handle = send_message.delay(data, api_gateway_id=gateway_pk, message_id=message_id)
        return handle, time.thread_time() - cpu

    worker_before = procs.cpu_seconds()["celery"]
    sent_at = time.time()
    handle, caller_cpu = await asyncio.to_thread(enqueue)
    marks: dict[str, float] = {}
    planned = asyncio.create_task(
        asyncio.to_thread(handle.get, timeout=max(0.1, deadline.within(PHASE_SECONDS)))
    )
    planned.add_done_callback(lambda _: marks.setdefault("planned", time.time()))
    stats = await measure(clients, message_id, sent_at, deadline)
    stats["planned_ms"] = (marks.get("planned", sent_at) - sent_at) * 1000
    until = time.monotonic() + deadline.within(10.0)  # the worker's bookkeeping after the last POST
    while True:
        stats["summary"] = await asyncio.to_thread(get_broadcast_summary, message_id)
        if (stats["summary"] or {}).get("complete") or time.monotonic() > until:
            break
        await asyncio.sleep(0.05)
    stats["caller_cpu_seconds"] = caller_cpu
    stats["cpu_seconds"] = caller_cpu + procs.cpu_seconds()["celery"] - worker_before
    return stats


def live_connection_ids(gateway_pk: int) -> tuple[str, str, list[str]]:
    """(api id, stage, connection ids of the gateway's live sessions), read from wsgateway's rows."""
    from django.db import connection

    from wsgateway.models import ApiGateway, WebSocketSession

    gateway = ApiGateway.objects.get(pk=gateway_pk)
    ids = list(
        WebSocketSession.objects.filter(api_gateway_id=gateway_pk, connected=True).values_list(
            "connection_id", flat=True
        )
    )
    connection.close()  # called from a worker thread: never leave its connection open
    return gateway.api_id, gateway.stage_name, ids


async def reference(
    clients: list[Client], gateway_pk: int, emulator_url: str, workdir: Path, deadline: Deadline
) -> dict[str, Any]:
    """The same live sockets, sent to by the real reference package 4.1.0 in its own virtualenv
    (``benchmarks/fanout.py``'s driver: its unchanged ``QuerySet.send_message``, boto3 and a
    thread pool of 10, blocking until every POST is answered), after a warm-up message to them.
    Latency is measured like :func:`broadcast`'s, from the moment its call began."""
    from benchmarks.fanout import run_reference

    api_id, stage, ids = await asyncio.to_thread(live_connection_ids, gateway_pk)
    message_id = uuid.uuid4().hex
    data = {"kind": "reference", "message_id": message_id}
    answer = await asyncio.wait_for(
        asyncio.to_thread(run_reference, emulator_url, api_id, ids, [], workdir, stage=stage, data=data),
        deadline.left(),
    )
    stats = await measure(clients, message_id, answer["started_at"], deadline)
    stats.update(cpu_seconds=answer["cpu"], call_seconds=answer["seconds"], version=answer["version"])
    return stats


def db_processed(gateway_pk: int) -> int:
    """Events Django has processed on this gateway's sessions (``request_count`` starts at 1)."""
    from django.db import connection
    from django.db.models import Sum

    from wsgateway.models import WebSocketSession

    total = WebSocketSession.objects.filter(api_gateway_id=gateway_pk).aggregate(n=Sum("request_count"))["n"]
    connection.close()  # called from worker threads: never leave their connections open
    return int(total or 0)


def emulator_stats(emulator_url: str) -> dict[str, int]:
    request = urllib.request.Request(  # noqa: S310 (the local emulator)
        f"{emulator_url}/_emulator/stats", headers={"X-Emulator-Admin-Token": ADMIN_TOKEN}
    )
    with urllib.request.urlopen(request, timeout=10) as answer:  # noqa: S310
        return dict(json.load(answer))


async def run_load(
    args: argparse.Namespace, procs: Processes, stack: Stack, deadline: Deadline
) -> dict[str, Any]:
    ws_url, gateway_pk, emulator_url = stack.ws_url, stack.gateway_pk, stack.emulator_url
    result: dict[str, Any] = {"clients": args.clients}
    clients, refused, seconds = await asyncio.wait_for(
        connect_all(ws_url, args.clients, args.connect_concurrency), deadline.left()
    )
    result.update(connected=len(clients), refused=refused, connect_seconds=seconds)
    result["connects_per_second"] = len(clients) / seconds if seconds else 0.0
    try:
        # --- messages in
        base = await asyncio.to_thread(db_processed, gateway_pk)
        frame = json.dumps({"action": "change_channel", "channel": "bench"})
        senders = [c for _ in range(args.messages) for c in clients]
        expected = base + len(senders)
        started = time.perf_counter()
        # At most --messages-in-flight frames sent and not yet processed: a burst of every frame
        # at once would wait in gunicorn's queue past API Gateway's 29 s integration timeout,
        # which measures the queue, not the rate.
        sent, processed = 0, base
        until = time.monotonic() + deadline.within(MESSAGES_PHASE_SECONDS)
        while processed < expected and time.monotonic() < until:
            room = args.messages_in_flight - (sent - (processed - base))
            if room > 0 and sent < len(senders):
                batch = senders[sent : sent + room]
                await asyncio.gather(*(c.ws.send(frame) for c in batch), return_exceptions=True)
                sent += len(batch)
            await asyncio.sleep(0.05)
            processed = await asyncio.to_thread(db_processed, gateway_pk)
        seconds = time.perf_counter() - started
        result.update(messages_sent=len(clients) * args.messages, messages_processed=processed - base)
        result["messages_per_second"] = (processed - base) / seconds if seconds else 0.0
        stats = await asyncio.to_thread(emulator_stats, emulator_url)
        # forwards that got no answer from Django (a message API Gateway would drop)
        result["forward_failures"] = sum(
            v
            for k, v in stats.items()
            if k in ("forward.errors", "forward.timeouts", "forward.connection_errors")
        )

        # --- broadcasts out: the first warms the worker's children (imports, DB and HTTP
        # connections, credentials); the second is the measured one.
        for label in ("cold", "warm"):
            result[label] = await broadcast(clients, gateway_pk, deadline, procs)
        result["reference"] = await reference(clients, gateway_pk, emulator_url, procs.logdir, deadline)
    finally:
        await asyncio.gather(*(c.ws.close() for c in clients), return_exceptions=True)
        for c in clients:
            if c.reader:
                c.reader.cancel()
    return result


# ------------------------------------------------------------------------------------------ main


def prepare_django(env: dict[str, str], emulator_url: str, gunicorn_port: int) -> tuple[int, str]:
    """Migrate, create and provision the gateway (through the emulator); (gateway pk, socket URL)."""
    os.environ.update(env)
    import django

    django.setup()
    from django.core.management import call_command

    from wsgateway.models import ApiGateway
    from wsgateway.provisioning import run_inline

    call_command("migrate", verbosity=0, interactive=False)
    gateway = ApiGateway.objects.create(
        api_name=f"load-{uuid.uuid4().hex[:8]}", target_base_endpoint=f"http://127.0.0.1:{gunicorn_port}/ws/"
    )
    run_inline("create_gateway", gateway.pk, max_wait=30)
    gateway.refresh_from_db()
    if not gateway.api_created:
        raise RuntimeError(f"provisioning failed: {gateway.last_error}")
    return gateway.pk, gateway.websocket_url.replace("wss://", "ws://")


def wait_for_worker(deadline: Deadline, procs: Processes) -> None:
    from worker.celery import app

    while True:
        procs.check_alive()
        if app.control.ping(timeout=0.5):
            return
        deadline.left()


@dataclass
class Stack:
    """What :func:`start_stack` started: the gateway row, its socket URL, the emulator, gunicorn."""

    gateway_pk: int
    ws_url: str
    emulator_url: str
    gunicorn_port: int


def start_stack(
    procs: Processes, workdir: Path, database: str, deadline: Deadline, settings_module: str
) -> Stack:
    """Redis, the emulator, gunicorn and the Celery worker on localhost, Django on
    ``settings_module``; returns once gunicorn listens and the worker answers."""
    redis_port = start_redis(procs, workdir, deadline)
    emulator_url = start_emulator(procs, deadline)
    gunicorn_port = free_port()
    env = dict(
        os.environ,
        DJANGO_SETTINGS_MODULE=settings_module,
        DATABASE_URL=database,
        CELERY_BROKER_URL=f"redis://127.0.0.1:{redis_port}/0",
        WSGATEWAY_ENDPOINT_URL=emulator_url,
        PYTHONPATH=str(ROOT),
    )
    gateway_pk, ws_url = prepare_django(env, emulator_url, gunicorn_port)
    procs.start(
        "gunicorn",
        [sys.executable, "-m", "gunicorn", "worker.wsgi", "--workers", "2", "--threads", "4",
         "--bind", f"127.0.0.1:{gunicorn_port}", "--log-level", "warning"],
        env,
    )  # fmt: skip
    start_fanout_worker(procs, env)
    wait_for_port(gunicorn_port, deadline, procs)
    wait_for_worker(deadline, procs)
    return Stack(gateway_pk, ws_url, emulator_url, gunicorn_port)


def main() -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--clients", type=int, default=1000)
    parser.add_argument("--messages", type=int, default=2, help="frames each client sends")
    parser.add_argument("--connect-concurrency", type=int, default=100, help="handshakes in flight")
    parser.add_argument(
        "--messages-in-flight", type=int, default=200, help="frames sent but not yet processed by Django"
    )
    parser.add_argument("--database", default=None, help="database URL (default: a fresh PostgreSQL db)")
    parser.add_argument("--timeout", type=float, default=120.0, help="seconds for the whole run")
    parser.add_argument("--json", action="store_true", help="print the result as JSON too")
    args = parser.parse_args()

    deadline = Deadline(args.timeout)
    raise_fd_limit(args.clients)
    workdir = Path(tempfile.mkdtemp(prefix="wsgateway-load-"))
    procs = Processes(workdir)
    database, drop_database = choose_database(args.database, workdir)
    result: dict[str, Any] = {}
    try:
        stack = start_stack(procs, workdir, database, deadline, "benchmarks.load_settings")
        where = f"emulator {stack.emulator_url}, gunicorn :{stack.gunicorn_port}"
        print(f"database {database.split('://')[0]}, {where}")
        cpu_before, own_before = procs.cpu_seconds(), time.process_time()
        try:
            result = asyncio.run(run_load(args, procs, stack, deadline))
        except TimeoutError as err:
            result = {"error": str(err) or "a phase timed out"}
        cpu_after = procs.cpu_seconds()
        result["cpu_seconds"] = {name: cpu_after[name] - cpu_before.get(name, 0.0) for name in cpu_after}
        result["cpu_seconds"]["clients (this process)"] = time.process_time() - own_before
    finally:
        procs.stop_all_and_disconnect()
        drop_database()

    warm = result.get("warm", {})
    ok = (
        result.get("connected") == args.clients
        and result.get("messages_processed") == result.get("messages_sent")
        and warm.get("lost") == 0
        and result.get("cold", {}).get("lost") == 0
    )
    print(
        f"clients={result.get('clients')} connected={result.get('connected')} refused={result.get('refused')}"
    )
    print(
        f"connects/s={result.get('connects_per_second', 0):.0f} "
        f"({result.get('connected')} in {result.get('connect_seconds', 0):.2f} s)"
    )
    print(
        f"messages in/s={result.get('messages_per_second', 0):.0f} "
        f"({result.get('messages_processed')}/{result.get('messages_sent')} processed by Django, "
        f"forwards without an answer: {result.get('forward_failures')})"
    )
    for label in ("cold", "warm", "reference"):
        b = result.get(label, {})
        if label == "reference":
            extra = (
                f" (reference {b.get('version')} from PyPI, its own venv: QuerySet.send_message, "
                f"boto3 + ThreadPoolExecutor(10); call {b.get('call_seconds', 0):.2f} s)"
            )
        else:
            extra = (
                f" (planned after {b.get('planned_ms', 0):.0f} ms, "
                f"first client after {b.get('first_ms', 0):.0f} ms)"
            )
        print(
            f"broadcast ({label}): delivered={b.get('delivered')} duplicates={b.get('duplicates')} "
            f"lost={b.get('lost')} p50={b.get('p50_ms', 0):.1f} ms p99={b.get('p99_ms', 0):.1f} ms "
            f"max={b.get('max_ms', 0):.1f} ms CPU={b.get('cpu_seconds', 0) * 1e3:.0f} ms{extra}"
        )
    warm, ref = result.get("warm", {}), result.get("reference", {})
    if warm.get("p50_ms") and ref.get("p50_ms") and warm.get("delivered") and ref.get("delivered"):
        ours_us = warm["cpu_seconds"] / warm["delivered"] * 1e6
        theirs_us = ref["cpu_seconds"] / ref["delivered"] * 1e6
        ratios = {
            "p50": warm["p50_ms"] / ref["p50_ms"],
            "p99": warm["p99_ms"] / ref["p99_ms"],
            "max": warm["max_ms"] / ref["max_ms"],
            "cpu_per_message": ours_us / theirs_us,
        }
        result["ratios_ours_over_theirs"] = ratios
        print(
            "warm broadcast, ours/theirs (< 1: wsgateway better): "
            + ", ".join(f"{k} {v:.3f}" for k, v in ratios.items())
            + f" [CPU per delivered message: ours {ours_us:.0f} us (caller's enqueue + Celery worker "
            f"process group, broker hop included), theirs {theirs_us:.0f} us (its process)]"
        )
    print(f"summary (warm): {warm.get('summary')}")
    cpu = result.get("cpu_seconds", {})
    print("CPU seconds during the run: " + ", ".join(f"{name}={value:.1f}" for name, value in cpu.items()))
    if "error" in result:
        print(f"error: {result['error']}")
    print("OK" if ok else "FAILED")
    if args.json:
        print(json.dumps(result, default=str))
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
