"""Fan-out: our engine against the reference approach, in one run, against the same local server.

The local ``@connections`` server is the emulator (``python -m wsgateway.emulator``) in its own
process, so its CPU is not counted; it holds N virtual (socket-less) connections that accept
POSTs. The database holds one live session row per connection.

- reference: one boto3 ``apigatewaymanagementapi`` client, ``ThreadPoolExecutor(10)``,
  ``post_to_connection`` per connection (what the reference package does);
- ours: the whole sending pipeline in this one process — the planner streams the session rows
  from the database (keyset pages) and cuts chunks of ``FANOUT_CHUNK_SIZE``; each chunk runs
  exactly what the ``deliver_chunk`` task runs (shared Redis token bucket, keep-alive
  connections, ``FANOUT_CONCURRENCY`` requests in flight, SigV4 signing, the per-broadcast
  summary and chunk done-marks in Redis). Only the broker hop between planner and chunk is left
  out. Chunks run one after another, as in a single worker process.

Measured around the sends only: wall time and this process's CPU time (``time.process_time``,
all threads). Delivery is verified from the emulator's counters (every connection got it).

``--mode memory``: peak RSS while one process broadcasts to ``--memory-rows`` (100,000) session
rows — planning and delivering every chunk — measured in a fresh child process against its own
baseline after start-up.

    python benchmarks/fanout.py [--connections 10000] [--mode speed|memory|all] [--database URL] [--tls]

``--tls``: the emulator serves HTTPS with a certificate of a throw-away local CA (``trustme``),
trusted through ``AWS_CA_BUNDLE`` by boto3 and by the fan-out client alike — the TLS path
production uses.

Targets: ours uses at least 5x less CPU per delivered message and sends at least 3x the messages per second;
the 100,000-row broadcast raises peak RSS by < 100 MB. Environment: ``WSGATEWAY_BENCH_REDIS_URL``
(default ``redis://127.0.0.1:6379/0``).
"""

from __future__ import annotations

import argparse
import json
import os
import secrets
import subprocess
import sys
import tempfile
import time
import urllib.request
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

CPU_TARGET = 5.0
RATE_TARGET = 3.0
RSS_TARGET_MB = 100.0


def setup_django(database: str | None) -> None:
    """Minimal settings: wsgateway on a fresh database, Redis for the limiter and summaries."""
    import dj_database_url
    import django
    from django.conf import settings

    if database:
        db = dj_database_url.parse(database)
    else:
        path = Path(tempfile.gettempdir()) / f"wsgateway-bench-fanout-{os.getpid()}.sqlite3"
        db = dj_database_url.parse(f"sqlite:///{path}")
    redis_url = os.environ.get("WSGATEWAY_BENCH_REDIS_URL", "redis://127.0.0.1:6379/0")
    settings.configure(
        INSTALLED_APPS=["django.contrib.auth", "django.contrib.contenttypes", "wsgateway"],
        DATABASES={"default": db},
        USE_TZ=True,
        DEFAULT_AUTO_FIELD="django.db.models.BigAutoField",
        SECRET_KEY="bench",  # noqa: S106
        AWS_REGION_NAME="us-east-1",
        AWS_ACCESS_KEY_ID="AKIDBENCH",
        AWS_SECRET_ACCESS_KEY="bench-secret",  # noqa: S106
        WSGATEWAY={"REDIS_URL": redis_url},
        CELERY_BROKER_URL=redis_url,
        LOGGING_CONFIG=None,
    )
    django.setup()


#: The emulator's admin API needs a token; this run chooses it (see wsgateway.emulator.security).
ADMIN_TOKEN = secrets.token_urlsafe(16)
#: Set by ``--tls``: the emulator's certificate and the CA every client trusts.
TLS: Any = None


@contextmanager
def emulator() -> Iterator[str]:
    """The emulator in its own process; yields its base URL."""
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
        yield line.split()[-1]
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


def prepare(base: str, count: int, channel: str) -> tuple[Any, list[str]]:
    """``count`` virtual connections, a gateway row and one live session row per connection."""
    from wsgateway.models import ApiGateway, WebSocketSession

    admin(base, "config", {"virtual_keep_messages": 2})
    info = admin(base, "virtual-connections", {"count": count})
    api_id = info["apiId"]
    port = base.rsplit(":", 1)[1]
    gateway = ApiGateway.objects.create(
        api_name=f"bench-{api_id}",
        api_id=api_id,
        api_endpoint=f"{'wss' if TLS is not None else 'ws'}://127.0.0.1:{port}/{api_id}",
        stage_name="test",
    )
    ids = info["connectionIds"]
    for start in range(0, len(ids), 5000):
        WebSocketSession.objects.bulk_create(
            [
                WebSocketSession(connection_id=c, channel_name=channel, api_gateway=gateway)
                for c in ids[start : start + 5000]
            ]
        )
    return gateway, ids


def delivered(base: str) -> int:
    return int(admin(base, "stats").get("management.POST.200", 0))


def run_reference(base: str, management_url: str, ids: list[str], body: bytes) -> tuple[float, float]:
    """boto3 + ThreadPoolExecutor(10) + post_to_connection per connection: (seconds, cpu seconds)."""
    import boto3

    client = boto3.client(
        "apigatewaymanagementapi",
        endpoint_url=management_url,
        region_name="us-east-1",
        aws_access_key_id="AKIDBENCH",
        aws_secret_access_key="bench-secret",  # noqa: S106
    )
    client.post_to_connection(ConnectionId=ids[0], Data=body)  # warm-up: client and first socket

    def post(connection_id: str) -> None:
        client.post_to_connection(ConnectionId=connection_id, Data=body)

    wall, cpu = time.perf_counter(), time.process_time()
    with ThreadPoolExecutor(10) as pool:
        list(pool.map(post, ids))
    return time.perf_counter() - wall, time.process_time() - cpu


def run_ours(channel: str, warm_up_id: str) -> tuple[float, float, dict[str, Any]]:
    """Plan from the database and deliver every chunk in this process: (seconds, cpu, summary)."""
    from wsgateway.fanout.broadcast import broadcast
    from wsgateway.fanout.delivery import run_chunk
    from wsgateway.fanout.messages import encode_message
    from wsgateway.fanout.planner import POST
    from wsgateway.fanout.results import get_broadcast_summary
    from wsgateway.models import WebSocketSession

    retries: list[Any] = []

    def emit(chunk: dict[str, Any]) -> None:
        run_chunk(chunk, lambda c, countdown: retries.append(c))

    # warm-up: event loop, credentials, Lua scripts, the first keep-alive sockets
    message_id, body = encode_message({"warm": "up"})
    broadcast(
        WebSocketSession.objects.filter(connection_id=warm_up_id),
        message_id=message_id,
        op=POST,
        body=body,
        emit=emit,
    )

    message_id, body = encode_message({"text": "hello from the benchmark"})
    wall, cpu = time.perf_counter(), time.process_time()
    broadcast(
        WebSocketSession.objects.filter(connected=True, channel_name=channel),
        message_id=message_id,
        op=POST,
        body=body,
        emit=emit,
    )
    elapsed, used = time.perf_counter() - wall, time.process_time() - cpu
    summary = get_broadcast_summary(message_id) or {}
    if retries:
        summary["pending_retries"] = sum(len(c["connections"]) for c in retries)
    return elapsed, used, summary


def speed(args: argparse.Namespace) -> bool:
    from django.core.management import call_command

    call_command("migrate", verbosity=0)
    body = json.dumps({"text": "hello from the benchmark", "message_id": "ref"}).encode()
    with emulator() as base:
        gateway, ids = prepare(base, args.connections, "bench")
        n = len(ids)
        before = delivered(base)
        ref_s, ref_cpu = run_reference(base, gateway.management_endpoint_url, ids, body)
        ref_ok = delivered(base) - before - 1
        before = delivered(base)
        our_s, our_cpu, summary = run_ours("bench", ids[0])
        our_ok = delivered(base) - before - 1
    ref_rate, our_rate = ref_ok / ref_s, our_ok / our_s
    ref_cpu_msg, our_cpu_msg = ref_cpu / max(ref_ok, 1), our_cpu / max(our_ok, 1)
    cpu_ratio, rate_ratio = ref_cpu_msg / our_cpu_msg, our_rate / ref_rate
    over = "HTTPS" if TLS is not None else "HTTP"
    print(f"fan-out to {n} connections over {over} (emulator in a separate process, {os.cpu_count()} CPUs)")
    row = "{:<34}{:>10}{:>9.2f}{:>9.0f}{:>12.1f}"
    print(f"{'engine':<34}{'delivered':>10}{'seconds':>9}{'msgs/s':>9}{'CPU us/msg':>12}")
    print(row.format("reference (boto3, 10 threads)", ref_ok, ref_s, ref_rate, ref_cpu_msg * 1e6))
    print(row.format("wsgateway (plan + chunks)", our_ok, our_s, our_rate, our_cpu_msg * 1e6))
    keys = ("targeted", "delivered", "gone", "retried", "failed", "chunks")
    print(f"summary: {json.dumps({k: summary.get(k) for k in keys})}")
    cpu_ok, rate_ok = cpu_ratio >= CPU_TARGET, rate_ratio >= RATE_TARGET
    all_ok = ref_ok == n and our_ok == n
    print(
        f"CPU per message: {cpu_ratio:.1f}x less (target >= {CPU_TARGET:.0f}x) {'OK' if cpu_ok else 'MISSED'}"
    )
    print(f"messages/s: {rate_ratio:.1f}x (target >= {RATE_TARGET:.0f}x) {'OK' if rate_ok else 'MISSED'}")
    print(f"every connection received the message from both engines: {'yes' if all_ok else 'NO'}")
    return cpu_ok and rate_ok and all_ok


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

    reset_peak_rss()
    baseline = _status_mib("VmRSS")
    message_id, body = encode_message({"text": "hello, everyone"})
    wall = time.perf_counter()
    broadcast(
        WebSocketSession.objects.filter(connected=True, channel_name="memory"),
        message_id=message_id,
        op=POST,
        body=body,
        emit=lambda chunk: run_chunk(chunk, lambda c, countdown: None),
    )
    elapsed = time.perf_counter() - wall
    peak = _status_mib("VmHWM")
    summary = get_broadcast_summary(message_id)
    print(json.dumps({"baseline_mib": baseline, "peak_mib": peak, "seconds": elapsed, "summary": summary}))


def memory(args: argparse.Namespace) -> bool:
    from django.conf import settings
    from django.core.management import call_command

    call_command("migrate", verbosity=0)
    with emulator() as base:
        prepare(base, args.memory_rows, "memory")
        database = args.database or f"sqlite:///{settings.DATABASES['default']['NAME']}"
        child = subprocess.run(
            [sys.executable, __file__, "--mode", "memory-child", "--database", database],
            capture_output=True,
            text=True,
            timeout=900,
            check=False,
        )
    if child.returncode != 0:
        print(child.stderr[-3000:])
        return False
    result = json.loads(child.stdout.strip().splitlines()[-1])
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


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0] if __doc__ else None)
    parser.add_argument("--connections", type=int, default=10_000)
    parser.add_argument("--memory-rows", type=int, default=100_000)
    parser.add_argument("--mode", choices=["speed", "memory", "all", "memory-child"], default="all")
    parser.add_argument("--database", default=None, help="database URL (default: a fresh SQLite file)")
    parser.add_argument(
        "--tls", action="store_true", help="HTTPS to the emulator, verified against a local CA"
    )
    args = parser.parse_args()
    if args.tls:
        global TLS
        from wsgateway.emulator.tls import local_ca_files

        TLS = local_ca_files(tempfile.mkdtemp(prefix="wsgateway-bench-tls-"))
        os.environ["AWS_CA_BUNDLE"] = TLS.ca  # boto3 and the fan-out client (and the memory child)
    setup_django(args.database)
    if args.mode == "memory-child":
        memory_child(args)
        return 0
    ok = True
    if args.mode in ("speed", "all"):
        ok = speed(args) and ok
    if args.mode in ("memory", "all"):
        ok = memory(args) and ok
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
