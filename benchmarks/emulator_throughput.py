"""How fast does the emulator answer @connections POSTs, compared with a bare aiohttp handler?

Starts the emulator (``python -m wsgateway.emulator --port 0``) in a subprocess, creates
virtual connections through ``/_emulator/virtual-connections``, and fires N signed-looking
``POST /{api}/{stage}/@connections/{id}`` requests from ``--client-processes`` client processes
(each one aiohttp session, ``--concurrency`` requests in flight per process), so the server,
not a single Python client, is the bottleneck. Printed: requests/s, p50/p99 latency, and the CPU
of each side during the measured run, per request and as a share of one core: the server's (the
emulator is one asyncio process: near 100 % means it is saturated) and the clients' together. The same load is
then sent to a bare aiohttp "hello" handler in another subprocess, and the ratio of the two is
printed, so the number means something on any machine. On a machine with few cores the clients
and the server compete for them: read the CPU columns before the rates.

    python benchmarks/emulator_throughput.py [--requests 20000] [--concurrency 64]
        [--connections 10000] [--client-processes 2]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import multiprocessing
import os
import secrets
import statistics
import subprocess
import sys
import textwrap
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any
from urllib.parse import quote

import aiohttp

HELLO_SERVER = textwrap.dedent(
    """
    import asyncio, socket, sys
    from aiohttp import web

    async def hello(request):
        await request.read()
        return web.Response(status=200)

    async def main():
        app = web.Application()
        app.router.add_route("*", "/{tail:.*}", hello)
        runner = web.AppRunner(app, access_log=None, handle_signals=True)
        await runner.setup()
        site = web.TCPSite(runner, "127.0.0.1", 0, backlog=1024)
        await site.start()
        port = site._server.sockets[0].getsockname()[1]
        print(f"hello listening on http://127.0.0.1:{port}", flush=True)
        await asyncio.Event().wait()

    asyncio.run(main())
    """
)


#: The emulator's admin API needs a token; this run chooses it (see wsgateway.emulator.security).
ADMIN_TOKEN = secrets.token_urlsafe(16)


@contextmanager
def server(command: list[str]) -> Iterator[tuple[str, int]]:
    """Run a server subprocess that prints '... listening on URL'; yield the URL and its pid."""
    env = dict(os.environ, PYTHONUNBUFFERED="1", WSGATEWAY_EMULATOR_ADMIN_TOKEN=ADMIN_TOKEN)
    process = subprocess.Popen(command, stdout=subprocess.PIPE, text=True, env=env)
    try:
        assert process.stdout is not None
        line = process.stdout.readline()
        if "listening on" not in line:
            raise RuntimeError(f"server did not start: {line!r}")
        yield line.split()[-1], process.pid
    finally:
        process.terminate()
        process.wait(10)


def signed_looking_headers() -> dict[str, str]:
    """What a SigV4-signed @connections POST carries (without credentials the emulator checks
    the header's presence and the date's 5-minute window, not the signature)."""
    now = time.gmtime()
    return {
        "Authorization": (
            f"AWS4-HMAC-SHA256 Credential=AKIDEXAMPLE/{time.strftime('%Y%m%d', now)}/us-east-1/"
            "execute-api/aws4_request, SignedHeaders=host;x-amz-date, Signature=" + "0" * 64
        ),
        "X-Amz-Date": time.strftime("%Y%m%dT%H%M%SZ", now),
        "Content-Type": "application/octet-stream",
    }


async def fire(
    urls: list[str], total: int, concurrency: int, warmed: Any, go: Any
) -> tuple[float, list[float], dict[int, int]]:
    """POST ``total`` requests round-robin over ``urls``; return (seconds, latencies, statuses).

    Waits at ``warmed`` after a warm-up and at ``go`` before the measured run (the parent
    zeroes the server's counters and reads its CPU in between).
    """
    headers = signed_looking_headers()
    body = json.dumps({"type": "broadcast", "message_id": "0" * 32, "data": {"text": "hello " * 8}}).encode()
    latencies: list[float] = []
    statuses: dict[int, int] = {}
    counter = iter(range(total))
    connector = aiohttp.TCPConnector(limit=concurrency, limit_per_host=concurrency)
    async with aiohttp.ClientSession(connector=connector) as session:

        async def worker() -> None:
            for n in counter:
                started = time.perf_counter()
                async with session.post(urls[n % len(urls)], data=body, headers=headers) as response:
                    await response.read()
                latencies.append(time.perf_counter() - started)
                statuses[response.status] = statuses.get(response.status, 0) + 1

        # Warm the pool so connection set-up is not measured.
        warm = iter(range(concurrency * 4))

        async def warm_worker() -> None:
            for n in warm:
                async with session.post(urls[n % len(urls)], data=body, headers=headers) as response:
                    await response.read()

        await asyncio.gather(*(warm_worker() for _ in range(concurrency)))
        await asyncio.to_thread(warmed.wait, 120)
        await asyncio.to_thread(go.wait, 120)
        started = time.perf_counter()
        await asyncio.gather(*(worker() for _ in range(concurrency)))
        elapsed = time.perf_counter() - started
    return elapsed, latencies, statuses


def client_process(urls: list[str], total: int, concurrency: int, warmed: Any, go: Any, results: Any) -> None:
    """One client process: fire its share, put (seconds, latencies, statuses, cpu) on ``results``."""
    cpu = time.process_time()
    elapsed, latencies, statuses = asyncio.run(fire(urls, total, concurrency, warmed, go))
    results.put((elapsed, latencies, statuses, time.process_time() - cpu))


def cpu_of(pid: int) -> float:
    """CPU seconds (user + system) used so far by process ``pid`` (Linux ``/proc``)."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def run_clients(
    urls: list[str], args: argparse.Namespace, server_pid: int, between: Callable[[], object] | None = None
) -> dict[str, Any]:
    """``--client-processes`` processes share ``--requests``; the merged result and both CPUs."""
    context = multiprocessing.get_context("spawn")
    n = args.client_processes
    warmed, go, results = context.Barrier(n + 1), context.Barrier(n + 1), context.Queue()
    shares = [args.requests // n + (1 if i < args.requests % n else 0) for i in range(n)]
    procs = [
        context.Process(target=client_process, args=(urls, share, args.concurrency, warmed, go, results))
        for share in shares
    ]
    for proc in procs:
        proc.start()
    try:
        warmed.wait(120)
        if between is not None:
            between()
        server_before = cpu_of(server_pid)
        go.wait(120)
        started = time.perf_counter()
        parts = [results.get(timeout=600) for _ in procs]
        wall = time.perf_counter() - started
        server_cpu = cpu_of(server_pid) - server_before
    finally:
        for proc in procs:
            proc.join(30)
            if proc.is_alive():
                proc.kill()
    latencies = [x for part in parts for x in part[1]]
    statuses: dict[int, int] = {}
    for part in parts:
        for status, count in part[2].items():
            statuses[status] = statuses.get(status, 0) + count
    return {
        "wall": wall,
        "latencies": latencies,
        "statuses": statuses,
        "server_cpu": server_cpu,
        "client_cpu": sum(part[3] for part in parts),
    }


def report(name: str, run: dict[str, Any]) -> float:
    """Print one result line; return requests per second."""
    latencies, wall = run["latencies"], run["wall"]
    rps = len(latencies) / wall
    ordered = sorted(latencies)
    p50 = statistics.median(ordered) * 1000
    p99 = ordered[int(len(ordered) * 0.99) - 1] * 1000
    n = len(latencies)
    server, clients = run["server_cpu"], run["client_cpu"]
    print(
        f"{name:<28} {rps:>8,.0f} req/s  p50 {p50:6.2f} ms  p99 {p99:6.2f} ms  statuses {run['statuses']}\n"
        f"{'':<28} server CPU {server / n * 1e6:5.0f} us/request ({server / wall:4.0%} of a core)  "
        f"clients CPU {clients / n * 1e6:5.0f} us/request ({clients / wall:4.0%} of a core)"
    )
    return rps


async def admin(url: str, path: str, body: dict[str, object] | None = None) -> dict[str, object]:
    """Call an emulator admin endpoint."""
    async with aiohttp.ClientSession() as session:
        method = "POST" if body is not None else "GET"
        headers = {"X-Emulator-Admin-Token": ADMIN_TOKEN}
        async with session.request(method, f"{url}{path}", json=body, headers=headers) as response:
            data: dict[str, object] = await response.json()
            return data


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--requests", type=int, default=20_000)
    parser.add_argument("--concurrency", type=int, default=64, help="in flight per client process")
    parser.add_argument("--connections", type=int, default=10_000)
    parser.add_argument("--client-processes", type=int, default=2)
    args = parser.parse_args()

    print(f"python {sys.version.split()[0]}, aiohttp {aiohttp.__version__}, {os.cpu_count()} CPUs")
    print(
        f"{args.requests:,} POSTs from {args.client_processes} client processes, {args.concurrency} in "
        f"flight each, {args.connections:,} virtual connections\n"
    )

    with server([sys.executable, "-m", "wsgateway.emulator", "--port", "0"]) as (url, pid):
        created = asyncio.run(admin(url, "/_emulator/virtual-connections", {"count": args.connections}))
        endpoint = str(created["managementEndpoint"])
        ids = created["connectionIds"]
        assert isinstance(ids, list)
        urls = [f"{endpoint}/@connections/{quote(str(cid), safe='')}" for cid in ids]
        # Zero the counters after the warm-up so "deliveries" below counts the measured run only.
        run = run_clients(urls, args, pid, lambda: asyncio.run(admin(url, "/_emulator/reset-stats", {})))
        emulator_rps = report("emulator @connections POST", run)
        stats = asyncio.run(admin(url, "/_emulator/stats"))
        delivered = stats.get("management.POST.200", 0)
        print(f"{'':<28} emulator counted {delivered:,} deliveries")

    with server([sys.executable, "-c", HELLO_SERVER]) as (url, pid):
        hello_rps = report(
            "bare aiohttp hello handler", run_clients([f"{url}/{n}" for n in range(100)], args, pid)
        )

    print(f"\nemulator / bare aiohttp throughput ratio: {emulator_rps / hello_rps:.2f}")


if __name__ == "__main__":
    main()
