"""Send-to-receive latency through the real stack on localhost, for channels of several sizes.

The path of a chat message, every hop a real process started by this script (the helpers of
``benchmarks/load.py``): a ``websockets`` client sends ``{"action": "probe", …}`` → the emulator
(``python -m wsgateway.emulator``, API Gateway's stand-in) → Django under gunicorn
(``--workers 2 --threads 4``, :mod:`benchmarks.latency_settings`), whose handler calls
``send_to_channel`` → the broker (this run's own ``redis-server``) → one Celery worker
(``-Q fanout``, prefork ``-c 2``) → ``POST @connections`` to the emulator → every client of the
channel, the sender included.

For each ``--sizes`` entry N, N clients join channel ``lat-N``; one of them sends ``--probes``
probes one after another (the next once every client has the previous one or ``--probe-timeout``
passed; the worker is idle between probes), after ``--warm-up`` unmeasured ones. Latency is a
recipient's receive time minus the send time, one clock (this process). Printed per size:
min/p25/p50/p75/p90/p99/max over every (probe, recipient) (for 250 sockets the p50 is the
median recipient, not a probe's last one), the median over probes of the fastest and of the
slowest recipient, this process's CPU per received message (the clients run on the same cores
as the stack: about 40 us each here, with the ``websockets`` client or a hand-written one
alike), lost deliveries, and the load average at the start and the end.

Targets (issue 16): p50 <= 25 ms and p99 <= 100 ms for channels of up to 250 recipients.

    python benchmarks/latency.py [--sizes 1,250,10000] [--probes 30] [--database URL] [--timeout 300]

Bounded: each probe waits at most ``--probe-timeout`` seconds and the whole run at most ``--timeout``.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import os
import resource
import statistics
import sys
import tempfile
import time
import uuid
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from benchmarks.load import (  # noqa: E402
    Deadline,
    Processes,
    choose_database,
    percentile,
    raise_fd_limit,
    start_stack,
)

P50_TARGET_MS = 25.0
P99_TARGET_MS = 100.0
#: Channels up to this size are held to the targets.
TARGET_MAX_SIZE = 250


@dataclass
class Probe:
    """One probe in flight: when it was sent, who got it when."""

    expected: int
    sent_at: float
    received: list[float] = field(default_factory=list)
    duplicates: int = 0
    seen: set[int] = field(default_factory=set)
    done: asyncio.Event = field(default_factory=asyncio.Event)


class Listener:
    """Reads every client's frames and records probe arrivals (first arrival per client)."""

    def __init__(self) -> None:
        self.probes: dict[str, Probe] = {}
        self.tasks: list[asyncio.Task[None]] = []

    def follow(self, index: int, ws: Any) -> None:
        self.tasks.append(asyncio.create_task(self._read(index, ws)))

    async def _read(self, index: int, ws: Any) -> None:
        with contextlib.suppress(Exception):
            async for frame in ws:
                now = time.perf_counter()
                try:
                    probe_id = json.loads(frame).get("probe")
                except (ValueError, AttributeError):
                    continue
                probe = self.probes.get(probe_id) if isinstance(probe_id, str) else None
                if probe is None:
                    continue
                if index in probe.seen:
                    probe.duplicates += 1
                    continue
                probe.seen.add(index)
                probe.received.append(now)
                if len(probe.received) >= probe.expected:
                    probe.done.set()


async def connect_channel(url: str, n: int, concurrency: int, listener: Listener) -> list[Any]:
    """``n`` sockets on ``url``, ``concurrency`` handshakes in flight; refusals raise."""
    from websockets.asyncio.client import connect

    gate = asyncio.Semaphore(concurrency)
    sockets: list[Any] = []
    refused: list[str] = []

    async def one() -> None:
        async with gate:
            try:
                ws = await connect(url, open_timeout=30, max_queue=None, ping_interval=None)
            except Exception as err:  # a refused or timed-out handshake: reported, not measured
                refused.append(f"{type(err).__name__}: {err}")
                return
        listener.follow(len(sockets), ws)
        sockets.append(ws)

    await asyncio.gather(*(one() for _ in range(n)))
    if refused:
        await asyncio.gather(*(ws.close() for ws in sockets), return_exceptions=True)
        raise ConnectionError(f"{len(refused)} of {n} sockets could not connect (first: {refused[0]})")
    return sockets


async def send_probe(sender: Any, listener: Listener, expected: int, timeout: float) -> Probe:
    probe_id = uuid.uuid4().hex
    probe = Probe(expected=expected, sent_at=time.perf_counter())
    listener.probes[probe_id] = probe
    await sender.send(json.dumps({"action": "probe", "probe": probe_id}))
    with contextlib.suppress(TimeoutError):
        await asyncio.wait_for(probe.done.wait(), timeout)
    return probe


async def measure_size(
    ws_url: str, size: int, args: argparse.Namespace, deadline: Deadline
) -> dict[str, Any]:
    """Connect ``size`` clients to one channel, send the probes, close; the distribution."""
    listener = Listener()
    separator = "&" if "?" in ws_url else "?"
    url = f"{ws_url}{separator}channel=lat-{size}"
    sockets = await asyncio.wait_for(
        connect_channel(url, size, args.connect_concurrency, listener), deadline.left()
    )
    latencies: list[float] = []
    firsts: list[float] = []
    lasts: list[float] = []
    lost = duplicates = 0
    probes = args.probes if size <= TARGET_MAX_SIZE else max(3, args.probes // 6)
    cpu_start = 0.0
    try:
        for number in range(args.warm_up + probes):
            timeout = min(args.probe_timeout, deadline.left())
            if number == args.warm_up:
                cpu_start = _own_cpu()
            probe = await send_probe(sockets[0], listener, size, timeout)
            if number < args.warm_up:
                continue
            got = [(t - probe.sent_at) * 1000 for t in probe.received]
            latencies += got
            if got:
                firsts.append(min(got))
                lasts.append(max(got))
            lost += size - len(got)
            duplicates += probe.duplicates
            await asyncio.sleep(args.pause)  # an idle worker before the next probe
        receiver_cpu = _own_cpu() - cpu_start
    finally:
        await asyncio.gather(*(ws.close() for ws in sockets), return_exceptions=True)
        for task in listener.tasks:
            task.cancel()
    nan = float("nan")
    return {
        "size": size,
        "probes": probes,
        "samples": len(latencies),
        "lost": lost,
        "duplicates": duplicates,
        "min_ms": min(latencies) if latencies else nan,
        "p25_ms": percentile(latencies, 0.25) if latencies else nan,
        "p50_ms": statistics.median(latencies) if latencies else nan,
        "p75_ms": percentile(latencies, 0.75) if latencies else nan,
        "p90_ms": percentile(latencies, 0.90) if latencies else nan,
        "p99_ms": percentile(latencies, 0.99) if latencies else nan,
        "max_ms": max(latencies) if latencies else nan,
        "first_p50_ms": statistics.median(firsts) if firsts else nan,
        "last_p50_ms": statistics.median(lasts) if lasts else nan,
        # This process's CPU per received message (every client's, and the probes' sends),
        # measured probes only: the receivers share the machine with the stack they measure.
        "receiver_cpu_us": receiver_cpu / len(latencies) * 1e6 if latencies else nan,
    }


def _load() -> str:
    return " ".join(f"{x:.2f}" for x in os.getloadavg())


def _own_cpu() -> float:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


async def run_sizes(ws_url: str, args: argparse.Namespace, deadline: Deadline) -> list[dict[str, Any]]:
    results = []
    for size in args.sizes:
        try:
            results.append(await measure_size(ws_url, size, args, deadline))
        except TimeoutError:
            results.append({"size": size, "error": "the run reached its --timeout"})
            break
        except ConnectionError as err:
            results.append({"size": size, "error": str(err)})
    return results


def main() -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--sizes", default="1,250", help="channel sizes, comma-separated (e.g. 1,250,10000)")
    parser.add_argument("--probes", type=int, default=30, help="measured probes per size (<= 250 sockets)")
    parser.add_argument("--warm-up", type=int, default=2, help="unmeasured probes first")
    parser.add_argument("--pause", type=float, default=0.05, help="seconds between probes (idle worker)")
    parser.add_argument("--probe-timeout", type=float, default=15.0)
    parser.add_argument("--connect-concurrency", type=int, default=100)
    parser.add_argument("--database", default=None, help="database URL (default: a fresh PostgreSQL db)")
    parser.add_argument("--timeout", type=float, default=300.0, help="seconds for the whole run")
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args()
    args.sizes = [int(s) for s in args.sizes.split(",") if s.strip()]

    deadline = Deadline(args.timeout)
    raise_fd_limit(max(args.sizes))
    workdir = Path(tempfile.mkdtemp(prefix="wsgateway-latency-"))
    procs = Processes(workdir)
    database, drop_database = choose_database(args.database, workdir)
    results: list[dict[str, Any]] = []
    try:
        ws_url = start_stack(procs, workdir, database, deadline, "benchmarks.latency_settings").ws_url
        print(f"database {database.split('://')[0]}, {os.cpu_count()} CPUs, "
              f"load average {_load()}, logs in {workdir}")  # fmt: skip
        results = asyncio.run(run_sizes(ws_url, args, deadline))
        print(f"load average at the end {_load()}")
    finally:
        procs.stop_all_and_disconnect()
        drop_database()

    ok = True
    print("latency = a recipient's receive time - the probe's send time, over every (probe, recipient);")
    print("first/last p50 = median over probes of the fastest/slowest recipient; rcv CPU = this process's")
    print("CPU per received message (the receivers share the cores with the stack)")
    columns = ("min", "p25", "p50", "p75", "p90", "p99", "max", "first_p50", "last_p50")
    print(f"{'sockets':>8} {'probes':>6} " + " ".join(f"{c.replace('_', ' '):>9}" for c in columns)
          + f" {'rcv CPU us':>10} {'lost':>5} {'dup':>4}  target")  # fmt: skip
    for r in results:
        if "error" in r:
            print(f"{r['size']:>8} error: {r['error']}")
            ok = False
            continue
        verdict = ""
        if r["size"] <= TARGET_MAX_SIZE:
            met = r["p50_ms"] <= P50_TARGET_MS and r["p99_ms"] <= P99_TARGET_MS and r["lost"] == 0
            verdict = f"p50<={P50_TARGET_MS:.0f} p99<={P99_TARGET_MS:.0f}: {'met' if met else 'MISSED'}"
            ok = ok and met
        print(
            f"{r['size']:>8} {r['probes']:>6} " + " ".join(f"{r[c + '_ms']:>9.1f}" for c in columns)
            + f" {r['receiver_cpu_us']:>10.0f} {r['lost']:>5} {r['duplicates']:>4}  {verdict}"
        )  # fmt: skip
    if args.json:
        print(json.dumps(results))
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
