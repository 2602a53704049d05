"""How fast does the emulator answer @connections POSTs, compared with a bare aiohttp handler?

Starts the emulator (``python -m wsgateway.emulator --port 0``) in a subprocess, creates
virtual connections through ``/_emulator/virtual-connections``, fires N signed-looking
``POST /{api}/{stage}/@connections/{id}`` requests from one aiohttp client (a connection pool,
``--concurrency`` requests in flight) and prints requests/s with p50/p99 latency. The same load
is then sent to a bare aiohttp "hello" handler in another subprocess on the same machine, and
the ratio of the two is printed, so the number means something on any machine.

    python benchmarks/emulator_throughput.py [--requests 20000] [--concurrency 64] [--connections 10000]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import secrets
import statistics
import subprocess
import sys
import textwrap
import time
from collections.abc import Awaitable, Callable, Iterator
from contextlib import contextmanager
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
def server(command: list[str]) -> Iterator[str]:
    """Run a server subprocess that prints '... listening on URL'; yield the URL."""
    env = dict(os.environ, PYTHONUNBUFFERED="1", WSGATEWAY_EMULATOR_ADMIN_TOKEN=ADMIN_TOKEN)
    process = subprocess.Popen(command, stdout=subprocess.PIPE, text=True, env=env)
    try:
        assert process.stdout is not None
        line = process.stdout.readline()
        if "listening on" not in line:
            raise RuntimeError(f"server did not start: {line!r}")
        yield line.split()[-1]
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
    urls: list[str],
    total: int,
    concurrency: int,
    after_warm_up: Callable[[], Awaitable[object]] | None = None,
) -> tuple[float, list[float], dict[int, int]]:
    """POST ``total`` requests round-robin over ``urls``; return (seconds, latencies, statuses).

    ``after_warm_up`` runs between the warm-up and the measured run (e.g. to zero counters).
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
        if after_warm_up is not None:
            await after_warm_up()
        started = time.perf_counter()
        await asyncio.gather(*(worker() for _ in range(concurrency)))
        elapsed = time.perf_counter() - started
    return elapsed, latencies, statuses


def report(name: str, elapsed: float, latencies: list[float], statuses: dict[int, int]) -> float:
    """Print one result line; return requests per second."""
    rps = len(latencies) / elapsed
    ordered = sorted(latencies)
    p50 = statistics.median(ordered) * 1000
    p99 = ordered[int(len(ordered) * 0.99) - 1] * 1000
    print(f"{name:<34} {rps:>9,.0f} req/s   p50 {p50:6.2f} ms   p99 {p99:6.2f} ms   statuses {statuses}")
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
    parser.add_argument("--concurrency", type=int, default=64)
    parser.add_argument("--connections", type=int, default=10_000)
    args = parser.parse_args()

    print(f"python {sys.version.split()[0]}, aiohttp {aiohttp.__version__}, {os.cpu_count()} CPUs")
    print(
        f"{args.requests:,} POSTs, {args.concurrency} in flight, {args.connections:,} virtual connections\n"
    )

    with server([sys.executable, "-m", "wsgateway.emulator", "--port", "0"]) as url:
        created = asyncio.run(admin(url, "/_emulator/virtual-connections", {"count": args.connections}))
        endpoint = str(created["managementEndpoint"])
        ids = created["connectionIds"]
        assert isinstance(ids, list)
        urls = [f"{endpoint}/@connections/{quote(str(cid), safe='')}" for cid in ids]
        # Zero the counters after the warm-up so "deliveries" below counts the measured run only.
        elapsed, latencies, statuses = asyncio.run(
            fire(urls, args.requests, args.concurrency, lambda: admin(url, "/_emulator/reset-stats", {}))
        )
        emulator_rps = report("emulator @connections POST", elapsed, latencies, statuses)
        stats = asyncio.run(admin(url, "/_emulator/stats"))
        delivered = stats.get("management.POST.200", 0)
        print(f"{'':<34} emulator counted {delivered:,} deliveries")

    with server([sys.executable, "-c", HELLO_SERVER]) as url:
        urls = [f"{url}/{n}" for n in range(100)]
        elapsed, latencies, statuses = asyncio.run(fire(urls, args.requests, args.concurrency))
        hello_rps = report("bare aiohttp hello handler", elapsed, latencies, statuses)

    print(f"\nemulator / bare aiohttp throughput ratio: {emulator_rps / hello_rps:.2f}")


if __name__ == "__main__":
    main()
