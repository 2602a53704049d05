"""Fan-out: wsgateway through its real Celery worker against the real reference package, one run.

Both sides POST to the same ``@connections`` server: the emulator (``python -m wsgateway.emulator``)
in its own process, holding N virtual (socket-less) connections. Its CPU is counted on neither side.

- **wsgateway (headline)**: this process is the caller (what a web request does):
  ``WebSocketSession.objects.filter(channel_name=…).send_message(data)``, which enqueues the
  planning task on the broker (this run's own ``redis-server``). A real Celery worker process
  (``celery -A worker worker -Q fanout``, prefork ``-c 2``, the project's tasks and the shipped
  ``worker.settings`` through :mod:`benchmarks.load_settings`) plans from the database and runs
  the chunk tasks. CPU = the caller's CPU during the call + the CPU of the worker's whole process
  group (parent and children, from ``/proc``) from the call until the broadcast's summary says
  complete.
- **reference 4.1.0 (real)**: ``django-aws-api-gateway-websockets==4.1.0`` from PyPI in its own
  virtualenv (:mod:`benchmarks.peers`), in its own process with its own SQLite database holding
  the same N rows; its unchanged ``WebSocketSession.objects.filter(…).send_message(data)``
  (boto3, a thread pool of ``max_workers=10``, blocking until every POST is answered). Its
  endpoint is hard-coded to ``https://{api_id}.execute-api.{region}.amazonaws.com/{stage}``: the
  driver wraps its ``get_boto3_client`` to rewrite only that URL to the emulator. CPU = that
  process's CPU (all threads, ``time.process_time``) during the call.
- wsgateway in-process (secondary row, *not* the headline): planner and chunk code run one after
  another in this process, without the broker hop or a worker.

Each side sends one warm-up broadcast to a separate small channel first. Delivery is checked
from the emulator's counters (every connection got each message).

``--tls``: the emulator serves HTTPS with a certificate of a throw-away local CA (``trustme``),
trusted through ``AWS_CA_BUNDLE`` by boto3 (both packages) and by wsgateway's fan-out client.

``--mode memory``: peak RSS while one process broadcasts to ``--memory-rows`` (100,000) session
rows, planning and delivering every chunk, in a fresh child process against its own baseline.
``--million``: the planning task (``send_message`` run in-process, as the worker runs it) for
a channel of 1,000,000 session rows; its chunk tasks are published to the broker, not consumed
or delivered. Extra peak RSS over the child's baseline.

    python benchmarks/fanout.py [--connections 10000] [--mode speed|memory|all] [--tls] [--million]

Targets (issue 16): wsgateway's CPU per delivered message, Celery worker included, at most 1/15
of the reference's (HTTP and HTTPS); the 1,000,000-row broadcast plan under 10 MiB extra RSS.
``--database URL`` (default: a fresh SQLite file for wsgateway; the reference always gets its
own SQLite file).
"""

from __future__ import annotations

import argparse
import json
import os
import secrets
import subprocess
import sys
import tempfile
import textwrap
import time
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

#: Ours / theirs CPU per delivered message must be at most this (issue 16: 1/15).
CPU_RATIO_TARGET = 1 / 15
RSS_TARGET_MB = 100.0  # the 100,000-row plan-and-deliver run (--mode memory)
MILLION_TARGET_MIB = 10.0
MILLION_ROWS = 1_000_000
#: Longest wait for one broadcast to complete, either side.
SEND_TIMEOUT = 600.0
WARM_UP_CONNECTIONS = 500

#: The reference's side, run by its own virtualenv's interpreter (benchmarks/peers.py). Reads a
#: JSON config (argv[1]); prints one JSON line. Uses only the reference package and Django.
REFERENCE_DRIVER = textwrap.dedent(
    """
    import importlib.metadata, json, sys, time
    cfg = json.load(open(sys.argv[1]))
    import django
    from django.conf import settings
    settings.configure(
        INSTALLED_APPS=["django.contrib.auth", "django.contrib.contenttypes",
                        "django_aws_api_gateway_websockets"],
        DATABASES={"default": {"ENGINE": "django.db.backends.sqlite3", "NAME": cfg["db"]}},
        USE_TZ=True, DEFAULT_AUTO_FIELD="django.db.models.BigAutoField", SECRET_KEY="bench",
        AWS_REGION_NAME="us-east-1", AWS_ACCESS_KEY_ID="AKIDBENCH",
        AWS_SECRET_ACCESS_KEY="bench-secret", LOGGING_CONFIG=None,
    )
    django.setup()
    from django.core.management import call_command
    call_command("migrate", verbosity=0)
    from django_aws_api_gateway_websockets import models as ref

    unchanged = ref.get_boto3_client

    def pointed_at_emulator(service="apigatewayv2", **kwargs):
        # Only the hard-coded AWS host is replaced: https://{api}.execute-api.{region}.amazonaws.com/{stage}
        url = kwargs.get("endpoint_url") or ""
        if url.startswith("https://") and ".execute-api." in url:
            host, _, stage = url[len("https://"):].partition("/")
            kwargs["endpoint_url"] = f"{cfg['emulator']}/{host.split('.')[0]}/{stage}"
        return unchanged(service, **kwargs)

    ref.get_boto3_client = pointed_at_emulator
    gateway = ref.ApiGateway.objects.bulk_create(
        [ref.ApiGateway(api_name="bench", api_id=cfg["api_id"], stage_name=cfg["stage"])]
    )[0]
    for channel, ids in (("warm", cfg["warm_ids"]), ("bench", cfg["ids"])):
        ref.WebSocketSession.objects.bulk_create(
            [ref.WebSocketSession(connection_id=c, channel_name=channel, api_gateway=gateway) for c in ids],
            batch_size=5000,
        )
    # No warm-up connections of its own: the warm-up goes to the measured ones, before the measure.
    warm_channel = "warm" if cfg["warm_ids"] else "bench"
    ref.WebSocketSession.objects.filter(channel_name=warm_channel).send_message({"warm": "up"})
    started_at, wall, cpu = time.time(), time.perf_counter(), time.process_time()
    sent = ref.WebSocketSession.objects.filter(channel_name="bench").send_message(cfg["data"])
    seconds, used = time.perf_counter() - wall, time.process_time() - cpu
    print(json.dumps({"seconds": seconds, "cpu": used, "sent": len(sent), "started_at": started_at,
                      "version": importlib.metadata.version("django-aws-api-gateway-websockets")}))
    """
)


def setup_django(database: str | None, redis_url: str, workdir: Path) -> dict[str, str]:
    """Configure this process like the worker (``benchmarks.load_settings``); the worker's env."""
    if not database:
        database = f"sqlite:///{workdir / 'wsgateway.sqlite3'}"
    env = {
        "DJANGO_SETTINGS_MODULE": "benchmarks.load_settings",
        "DATABASE_URL": database,
        "CELERY_BROKER_URL": redis_url,
        "PYTHONPATH": str(ROOT),
        "WSGATEWAY_LOG_LEVEL": "WARNING",
    }
    os.environ.update(env)
    import django

    django.setup()
    return dict(os.environ)


#: The emulator's admin API needs a token; this run chooses it (see wsgateway.emulator.security).
ADMIN_TOKEN = secrets.token_urlsafe(16)
#: Set by ``--tls``: the emulator's certificate and the CA every client trusts.
TLS: Any = None


@contextmanager
def emulator() -> Iterator[tuple[str, subprocess.Popen[str]]]:
    """The emulator in its own process; yields its base URL and the process."""
    command = [sys.executable, "-m", "wsgateway.emulator", "--port", "0"]
    if TLS is not None:
        command += ["--tls-cert", TLS.cert, "--tls-key", TLS.key]
    process = subprocess.Popen(
        command,
        stdout=subprocess.PIPE,
        text=True,
        env=dict(os.environ, PYTHONUNBUFFERED="1", WSGATEWAY_EMULATOR_ADMIN_TOKEN=ADMIN_TOKEN),
    )
    try:
        assert process.stdout is not None
        line = process.stdout.readline()
        if "listening on" not in line:
            raise RuntimeError(f"emulator did not start: {line!r}")
        yield line.split()[-1], process
    finally:
        process.terminate()
        process.wait(10)


def admin(base: str, path: str, body: dict[str, Any] | None = None) -> Any:
    data = json.dumps(body).encode() if body is not None else None
    request = urllib.request.Request(  # noqa: S310 (the local emulator)
        f"{base}/_emulator/{path}",
        data=data,
        headers={"Content-Type": "application/json", "X-Emulator-Admin-Token": ADMIN_TOKEN},
    )
    context = TLS.client_context() if TLS is not None else None
    with urllib.request.urlopen(request, timeout=60, context=context) as answer:  # noqa: S310
        return json.load(answer)


def create_rows(gateway: Any, ids: list[str], channel: str) -> None:
    from wsgateway.models import WebSocketSession

    for start in range(0, len(ids), 5000):
        WebSocketSession.objects.bulk_create(
            [
                WebSocketSession(connection_id=c, channel_name=channel, api_gateway=gateway)
                for c in ids[start : start + 5000]
            ]
        )


def prepare(base: str, count: int, channel: str, warm: int = 0) -> tuple[Any, list[str], list[str]]:
    """``count`` (+ ``warm``) virtual connections, a gateway row and one session row per
    connection (the ``warm`` ones on channel ``warm``); (gateway, ids, warm ids)."""
    from wsgateway.models import ApiGateway

    admin(base, "config", {"virtual_keep_messages": 2})
    info = admin(base, "virtual-connections", {"count": count + warm})
    api_id = info["apiId"]
    port = base.rsplit(":", 1)[1]
    gateway = ApiGateway.objects.create(
        api_name=f"bench-{api_id}",
        api_id=api_id,
        api_endpoint=f"{'wss' if TLS is not None else 'ws'}://127.0.0.1:{port}/{api_id}",
        stage_name="test",
    )
    ids, warm_ids = info["connectionIds"][:count], info["connectionIds"][count:]
    create_rows(gateway, ids, channel)
    create_rows(gateway, warm_ids, "warm")
    return gateway, ids, warm_ids


def delivered(base: str) -> int:
    return int(admin(base, "stats").get("management.POST.200", 0))


def wait_until(check: Any, timeout: float, what: str) -> None:
    """Poll ``check()`` every 20 ms until true; bounded by ``timeout``."""
    until = time.monotonic() + timeout
    while not check():
        if time.monotonic() > until:
            raise TimeoutError(f"{what} did not happen within {timeout:.0f} s")
        time.sleep(0.02)


def start_worker(procs: Any, env: dict[str, str]) -> None:
    """The project's Celery worker on the fan-out queue, as ``benchmarks/load.py`` runs it."""
    from benchmarks.load import Deadline, start_fanout_worker, wait_for_worker

    start_fanout_worker(procs, env)
    wait_for_worker(Deadline(60), procs)


def pid_cpu(group: int) -> dict[int, float]:
    """CPU seconds (user + system) of each process in process group ``group``, from /proc."""
    tick = os.sysconf("SC_CLK_TCK")
    used: dict[int, float] = {}
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
        except (OSError, IndexError):
            continue
        if int(fields[2]) == group:
            used[int(stat.parent.name)] = (int(fields[11]) + int(fields[12])) / tick
    return used


#: Filled by run_celery for --breakdown: the worker's CPU per process before and after the send.
BREAKDOWN: dict[str, Any] = {}


def run_celery(procs: Any, channel: str, count: int) -> tuple[float, float, float, dict[str, Any]]:
    """``send_message`` on the channel's queryset from this process, delivered by the worker:
    (seconds until complete, caller CPU, worker CPU, summary)."""
    from wsgateway.fanout.results import get_broadcast_summary
    from wsgateway.models import WebSocketSession

    def send(chan: str) -> tuple[str, float, float]:
        wall, cpu = time.perf_counter(), time.process_time()
        handle = WebSocketSession.objects.filter(channel_name=chan).send_message(
            {"text": "hello from the benchmark"}
        )
        return handle.message_id, time.process_time() - cpu, wall

    def complete(message_id: str) -> bool:
        summary = get_broadcast_summary(message_id)
        return bool(summary and summary.get("complete"))

    warm_id, _, _ = send("warm")  # the worker's children: imports, DB, credentials, sockets
    wait_until(lambda: complete(warm_id), SEND_TIMEOUT, "the warm-up broadcast")
    time.sleep(0.2)  # the worker acknowledges and stores the warm-up's results (not measured)
    group = dict(procs.children)["celery"].pid
    BREAKDOWN["before"] = pid_cpu(group)
    worker_before = procs.cpu_seconds()["celery"]
    message_id, caller_cpu, wall = send(channel)
    wait_until(lambda: complete(message_id), SEND_TIMEOUT, f"the broadcast to {count}")
    seconds = time.perf_counter() - wall
    worker_cpu = procs.cpu_seconds()["celery"] - worker_before
    BREAKDOWN.update(after=pid_cpu(group), parent=group)
    return seconds, caller_cpu, worker_cpu, get_broadcast_summary(message_id) or {}


def run_in_process(channel: str) -> tuple[float, float, dict[str, Any]]:
    """Plan from the database and deliver every chunk in this process: (seconds, cpu, summary)."""
    from wsgateway.fanout.broadcast import broadcast
    from wsgateway.fanout.delivery import run_chunk
    from wsgateway.fanout.messages import encode_message
    from wsgateway.fanout.planner import POST
    from wsgateway.fanout.results import get_broadcast_summary
    from wsgateway.models import WebSocketSession

    def emit(chunk: dict[str, Any]) -> None:
        run_chunk(chunk, lambda c, countdown: None)

    def once(chan: str) -> tuple[str, float, float]:
        message_id, body = encode_message({"text": "hello from the benchmark"})
        wall, cpu = time.perf_counter(), time.process_time()
        queryset = WebSocketSession.objects.filter(connected=True, channel_name=chan)
        broadcast(queryset, message_id=message_id, op=POST, body=body, emit=emit)
        return message_id, time.perf_counter() - wall, time.process_time() - cpu

    once("warm")
    message_id, seconds, cpu = once(channel)
    return seconds, cpu, get_broadcast_summary(message_id) or {}


def run_reference(
    base: str,
    api_id: str,
    ids: list[str],
    warm_ids: list[str],
    workdir: Path,
    *,
    stage: str = "test",
    data: dict[str, Any] | None = None,
) -> dict[str, Any]:
    """The real reference 4.1.0's ``QuerySet.send_message(data)`` to ``ids`` in its own
    virtualenv's process, after a warm-up broadcast to ``warm_ids`` (to ``ids`` when empty).

    Answers its ``seconds`` and ``cpu`` (process CPU, all threads) during the measured call,
    ``started_at`` (``time.time()`` when the call began), ``sent`` and the package ``version``.
    """
    from benchmarks.peers import peer_python

    config = workdir / f"reference-{time.monotonic_ns()}.json"
    config.write_text(
        json.dumps(
            {"db": str(config.with_suffix(".sqlite3")), "emulator": base, "api_id": api_id, "stage": stage,
             "ids": ids, "warm_ids": warm_ids, "data": data or {"text": "hello from the benchmark"}}
        )
    )  # fmt: skip
    answer = subprocess.run(
        [str(peer_python("reference")), "-c", REFERENCE_DRIVER, str(config)],
        capture_output=True,
        text=True,
        timeout=SEND_TIMEOUT,
        check=False,
        env=dict(os.environ, PYTHONPATH=""),
    )
    if answer.returncode != 0:
        raise RuntimeError(f"the reference driver failed:\n{answer.stderr[-3000:]}")
    return dict(json.loads(answer.stdout.strip().splitlines()[-1]))


def speed(args: argparse.Namespace, procs: Any, env: dict[str, str], workdir: Path) -> bool:
    from django.core.management import call_command

    call_command("migrate", verbosity=0)
    task_log = workdir / "task-cpu.log"
    if args.breakdown:
        env = dict(env, WSGATEWAY_BENCH_TASK_CPU=str(task_log))
    start_worker(procs, env)
    n = args.connections
    with emulator() as (base, _process):
        gateway, ids, warm_ids = prepare(base, n, "bench", warm=WARM_UP_CONNECTIONS)
        before = delivered(base)
        ours_s, caller_cpu, worker_cpu, summary = run_celery(procs, "bench", n)
        ours_ok = delivered(base) - before - len(warm_ids)
        before = delivered(base)
        theirs = run_reference(base, gateway.api_id, ids, warm_ids, workdir)
        theirs_ok = delivered(base) - before - len(warm_ids)
        inproc_s, inproc_cpu, inproc_ok = 0.0, 0.0, 0
        if args.in_process:
            before = delivered(base)
            inproc_s, inproc_cpu, _ = run_in_process("bench")
            inproc_ok = delivered(base) - before - len(warm_ids)
    ours_cpu = caller_cpu + worker_cpu
    ours_msg, theirs_msg = ours_cpu / max(ours_ok, 1), theirs["cpu"] / max(theirs_ok, 1)
    ratio = ours_msg / theirs_msg
    over = "HTTPS" if TLS is not None else "HTTP"
    from wsgateway.conf import wsgateway_settings

    chunk_size = int(wsgateway_settings.FANOUT_CHUNK_SIZE)
    print(
        f"fan-out to {n} connections over {over}; emulator in its own process (not counted); "
        f"{os.cpu_count()} CPUs; FANOUT_CHUNK_SIZE {chunk_size}"
        + (" (NOT the shipped default)" if args.chunk_size else "")
        + "; load average "
        + " ".join(f"{x:.1f}" for x in os.getloadavg())
    )
    row = "{:<58}{:>10}{:>9.2f}{:>9.0f}{:>12.1f}"
    print(f"{'sender':<58}{'delivered':>10}{'seconds':>9}{'msgs/s':>9}{'CPU us/msg':>12}")
    print(row.format("wsgateway: caller + Celery worker (prefork -c 2)", ours_ok, ours_s, ours_ok / ours_s,
                     ours_msg * 1e6))  # fmt: skip
    print(f"{'':<4}caller {caller_cpu * 1e3:.1f} ms CPU (the enqueue), worker {worker_cpu * 1e3:.0f} ms CPU")
    label = f"reference {theirs['version']} (real, QuerySet.send_message)"
    print(row.format(label, theirs_ok, theirs["seconds"], theirs_ok / theirs["seconds"], theirs_msg * 1e6))
    if args.in_process:
        print(row.format("wsgateway in-process, no broker hop (not the headline)", inproc_ok, inproc_s,
                         inproc_ok / inproc_s, inproc_cpu / max(inproc_ok, 1) * 1e6))  # fmt: skip
    keys = ("targeted", "delivered", "gone", "retried", "failed", "chunks")
    print(f"wsgateway summary: {json.dumps({k: summary.get(k) for k in keys})}")
    if args.breakdown:
        print_breakdown(task_log, caller_cpu, max(ours_ok, 1))
    met = ratio <= CPU_RATIO_TARGET
    print(
        f"CPU per delivered message, ours/theirs: {ratio:.3f} (1/{1 / ratio:.1f}; target <= 1/15 = "
        f"{CPU_RATIO_TARGET:.3f}) {'met' if met else 'MISSED'}"
    )
    all_ok = ours_ok == n and theirs_ok == n and theirs["sent"] == n
    print(f"every connection received the message from both packages: {'yes' if all_ok else 'NO'}")
    if args.json:
        result = {"tls": TLS is not None, "connections": n, "ours_us": ours_msg * 1e6, "ratio": ratio}
        result.update(chunk_size=chunk_size, load_average=os.getloadavg())
        result.update(theirs_us=theirs_msg * 1e6, ours_s=ours_s, theirs_s=theirs["seconds"])
        print(json.dumps({**result, "caller_cpu": caller_cpu, "worker_cpu": worker_cpu}))
    return met and all_ok


def print_breakdown(task_log: Path, caller_cpu: float, delivered_count: int) -> None:
    """Where wsgateway's CPU per delivered message went (``--breakdown``): the caller, the
    worker's parent process, its children split into task bodies and Celery's work between
    tasks (benchmarks/task_cpu.py). /proc counts in ticks of 10 ms."""
    from benchmarks.task_cpu import summarize

    before, after, parent = BREAKDOWN["before"], BREAKDOWN["after"], BREAKDOWN["parent"]
    used = {pid: after[pid] - before.get(pid, 0.0) for pid in after}
    children = sum(v for pid, v in used.items() if pid != parent)
    tasks = summarize(task_log, {pid: cpu for pid, cpu in before.items() if pid != parent})

    def us(seconds: float) -> str:
        return f"{seconds / delivered_count * 1e6:.1f}"

    parts = [
        f"{name.rsplit('.', 1)[-1]} x{count} {us(cpu)}" for name, (count, cpu) in tasks["bodies"].items()
    ]
    in_tasks = sum(cpu for _, cpu in tasks["bodies"].values())
    print(
        f"breakdown, CPU us per delivered message: caller {us(caller_cpu)}; worker parent "
        f"{us(used.get(parent, 0.0))}; children {us(children)} = task bodies ({', '.join(parts)}) + "
        f"between tasks {us(tasks['between'])} + rest {us(children - in_tasks - tasks['between'])}"
    )


def _status_mib(field: str) -> float:
    """A ``/proc/self/status`` memory field (``VmRSS``, ``VmHWM``) in MiB (Linux)."""
    with open("/proc/self/status") as f:
        for line in f:
            if line.startswith(field + ":"):
                return int(line.split()[1]) / 1024
    raise RuntimeError(f"{field} not in /proc/self/status")


def reset_peak_rss() -> None:
    """Reset the kernel's peak-RSS mark (VmHWM) to the current RSS (Linux >= 4.0)."""
    with open("/proc/self/clear_refs", "w") as f:
        f.write("5")


def memory_child(args: argparse.Namespace) -> None:
    """In a fresh process: baseline RSS, then one broadcast to every row; print JSON."""
    import boto3.session  # noqa: F401

    import wsgateway.aws.management  # noqa: F401  (imports belong to the baseline, not the broadcast)
    from wsgateway.fanout.broadcast import broadcast
    from wsgateway.fanout.delivery import run_chunk
    from wsgateway.fanout.messages import encode_message
    from wsgateway.fanout.planner import POST
    from wsgateway.fanout.results import get_broadcast_summary
    from wsgateway.models import WebSocketSession
    from wsgateway.tasks.fanout import send_message

    WebSocketSession.objects.filter(pk=0).exists()  # the database connection belongs to the baseline
    send_message.app.connection_for_write().ensure_connection(max_retries=3)
    reset_peak_rss()
    baseline = _status_mib("VmRSS")
    wall = time.perf_counter()
    if args.mode == "million-child":
        # The planning task as the worker runs it; its chunk tasks go to the broker (not consumed).
        result = send_message({"text": "hello, everyone"}, channel_name="million")
        message_id = result.get("message_id") or ""
    else:
        message_id, body = encode_message({"text": "hello, everyone"})
        broadcast(
            WebSocketSession.objects.filter(connected=True, channel_name="memory"),
            message_id=message_id,
            op=POST,
            body=body,
            emit=lambda chunk: run_chunk(chunk, lambda c, countdown: None),
        )
        result = {}
    elapsed = time.perf_counter() - wall
    peak = _status_mib("VmHWM")
    summary = get_broadcast_summary(message_id) if message_id else None
    print(json.dumps({"baseline_mib": baseline, "peak_mib": peak, "seconds": elapsed, "summary": summary,
                      "result": result}, default=str))  # fmt: skip


def run_child(mode: str) -> dict[str, Any]:
    child = subprocess.run(
        [sys.executable, __file__, "--mode", mode],
        capture_output=True,
        text=True,
        timeout=1800,
        check=False,
    )
    if child.returncode != 0:
        raise RuntimeError(child.stderr[-3000:])
    return dict(json.loads(child.stdout.strip().splitlines()[-1]))


def memory(args: argparse.Namespace) -> bool:
    from django.core.management import call_command

    call_command("migrate", verbosity=0)
    with emulator() as (base, _process):
        prepare(base, args.memory_rows, "memory")
        result = run_child("memory-child")
    delta = result["peak_mib"] - result["baseline_mib"]
    s = result["summary"] or {}
    print(
        f"broadcast to {args.memory_rows} session rows (plan + deliver in one process): "
        f"{result['seconds']:.1f}s, delivered={s.get('delivered')} failed={s.get('failed')}"
    )
    print(
        f"peak RSS {result['peak_mib']:.1f} MiB, baseline {result['baseline_mib']:.1f} MiB: "
        f"+{delta:.1f} MiB (target < {RSS_TARGET_MB:.0f} MB) {'OK' if delta < RSS_TARGET_MB else 'MISSED'}"
    )
    return delta < RSS_TARGET_MB and s.get("delivered") == args.memory_rows


def insert_rows(gateway: Any, rows: int, channel: str) -> None:
    """``rows`` session rows through one ``executemany`` per 50,000 (bulk_create is too slow for a
    million): every column as the model would save it, only the connection id differs."""
    from django.db import connection, transaction

    from wsgateway.models import WebSocketSession

    template = WebSocketSession(connection_id="x", channel_name=channel, api_gateway=gateway)
    fields = [f for f in WebSocketSession._meta.concrete_fields if not f.primary_key]
    values = [f.get_db_prep_save(f.pre_save(template, add=True), connection) for f in fields]
    at = [f.name for f in fields].index("connection_id")
    table = connection.ops.quote_name(WebSocketSession._meta.db_table)
    columns = ", ".join(connection.ops.quote_name(str(f.column)) for f in fields)
    sql = f"INSERT INTO {table} ({columns}) VALUES ({', '.join(['%s'] * len(fields))})"  # noqa: S608
    for start in range(0, rows, 50_000):
        batch = []
        for n in range(start, min(rows, start + 50_000)):
            values[at] = f"m{n:09d}="
            batch.append(tuple(values))
        with transaction.atomic(), connection.cursor() as cursor:
            cursor.executemany(sql, batch)


def million(args: argparse.Namespace) -> bool:
    """Extra peak RSS of planning a 1,000,000-row broadcast (rows need no live connection)."""
    from django.core.management import call_command

    from wsgateway.models import ApiGateway

    call_command("migrate", verbosity=0)
    rows = args.million_rows
    gateway = ApiGateway.objects.create(
        api_name="bench-million",
        api_id="million1",
        api_endpoint="wss://127.0.0.1:9/million1",
        stage_name="test",
    )
    wall = time.perf_counter()
    insert_rows(gateway, rows, "million")
    print(f"{rows} session rows written in {time.perf_counter() - wall:.0f} s")
    result = run_child("million-child")
    delta = result["peak_mib"] - result["baseline_mib"]
    planned = result["result"]
    met = delta < MILLION_TARGET_MIB
    print(
        f"planning a broadcast to {rows} rows (send_message task in-process; {planned.get('chunks')} chunk "
        f"tasks published to the broker, not delivered): {result['seconds']:.1f} s, "
        f"targeted={planned.get('targeted')}"
    )
    print(
        f"peak RSS {result['peak_mib']:.1f} MiB, baseline {result['baseline_mib']:.1f} MiB: +{delta:.1f} MiB "
        f"(target < {MILLION_TARGET_MIB:.0f} MiB) {'met' if met else 'MISSED'}"
    )
    return met and planned.get("targeted") == rows


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0] if __doc__ else None)
    parser.add_argument("--connections", type=int, default=10_000)
    parser.add_argument("--memory-rows", type=int, default=100_000)
    parser.add_argument("--million", action="store_true", help="only the 1,000,000-row planning memory run")
    parser.add_argument("--million-rows", type=int, default=MILLION_ROWS, help=argparse.SUPPRESS)
    parser.add_argument(
        "--mode", choices=["speed", "memory", "all", "memory-child", "million-child"], default="speed"
    )
    parser.add_argument("--in-process", action="store_true", help="add the in-process row (no broker hop)")
    parser.add_argument("--database", default=None, help="database URL (default: a fresh SQLite file)")
    parser.add_argument(
        "--tls", action="store_true", help="HTTPS to the emulator, verified against a local CA"
    )
    parser.add_argument(
        "--chunk-size",
        type=int,
        default=None,
        help="a non-default FANOUT_CHUNK_SIZE for wsgateway (shown in the output; default: the shipped one)",
    )
    parser.add_argument(
        "--breakdown",
        action="store_true",
        help="split wsgateway's CPU: caller, worker parent, children's task bodies and Celery between tasks",
    )
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args()
    if args.chunk_size:
        os.environ["WSGATEWAY_BENCH_CHUNK_SIZE"] = str(args.chunk_size)
    if args.mode.endswith("-child"):  # the parent's environment says where everything is
        import django

        django.setup()
        memory_child(args)
        return 0
    if args.tls:
        global TLS
        from wsgateway.emulator.tls import local_ca_files

        TLS = local_ca_files(tempfile.mkdtemp(prefix="wsgateway-bench-tls-"))
        os.environ["AWS_CA_BUNDLE"] = TLS.ca  # boto3 (both packages) and the fan-out client
    from benchmarks.load import Deadline, Processes, start_redis

    workdir = Path(tempfile.mkdtemp(prefix="wsgateway-bench-fanout-"))
    procs = Processes(workdir)
    ok = True
    try:
        port = start_redis(procs, workdir, Deadline(30))
        env = setup_django(args.database, f"redis://127.0.0.1:{port}/0", workdir)
        if args.million:
            return 0 if million(args) else 1
        if args.mode in ("speed", "all"):
            ok = speed(args, procs, env, workdir) and ok
        if args.mode in ("memory", "all"):
            ok = memory(args) and ok
    finally:
        procs.stop_all_and_disconnect()
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
