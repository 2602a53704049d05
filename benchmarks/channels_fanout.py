"""Fan-out to N real websockets: wsgateway through its Celery worker vs Django Channels, one run.

Both sides hold ``--sockets`` real ``websockets`` clients of this process and deliver one message
to every one of them, ``--rounds`` times each, the two sides taking turns (a busy neighbour on
the machine slows both alike), after one unmeasured warm-up broadcast each.

- **wsgateway**: the stack of ``benchmarks/load.py`` (its own Redis, the emulator as API
  Gateway's stand-in holding the sockets, Django under gunicorn for ``$connect``, one Celery
  worker ``-Q fanout`` prefork ``-c 2``); a broadcast is ``send_message.delay(…,
  api_gateway_id=…)`` (``load.broadcast``). **CPU counted** = the caller's enqueue + the worker's
  whole process group from the send until the broadcast's summary says complete.
- **Django Channels** (the ``channels`` peer of ``benchmarks/peers.py``: channels,
  channels_redis and uvicorn[standard] from PyPI in their own virtualenv, never a project
  dependency): ``uvicorn`` (one process) serving ``benchmarks/channels_peer.py``'s consumer, every
  socket in group ``bench``; a sender process calls ``group_send`` (``async_to_sync``, as a
  Django view would). Its own ``redis-server``. **CPU counted** = the sender's CPU during the call
  + uvicorn's from the send until every client has the message.

The emulator's CPU (it stands for AWS, which holds the sockets) is counted on neither side; it
and each side's Redis are printed separately. Latency (client receive time - send time) is
printed for both, for information.

    python benchmarks/channels_fanout.py [--sockets 2000] [--rounds 3] [--database URL] [--timeout 900]

Exit status 0 when every socket got every measured message from both sides (no loss).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from collections import Counter
from pathlib import Path
from typing import IO, Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from benchmarks.load import (  # noqa: E402  (after the path set-up)
    Client,
    Deadline,
    Processes,
    broadcast,
    choose_database,
    connect_all,
    free_port,
    measure,
    raise_fd_limit,
    start_redis,
    start_stack,
    wait_for_port,
)
from benchmarks.peers import peer_python, peer_version  # noqa: E402


class ChannelsSide:
    """uvicorn serving the Channels consumer, its Redis, and the ``group_send`` sender process."""

    def __init__(self, procs: Processes, workdir: Path, deadline: Deadline) -> None:
        python = str(peer_python("channels"))
        self.versions = {d: peer_version("channels", d) for d in ("channels", "channels-redis", "uvicorn")}
        redis_port, self.port = start_redis(procs, workdir, deadline, "channels-redis"), free_port()
        # The peer's interpreter sees only its own packages and benchmarks/channels_peer.py.
        env = dict(os.environ, CHANNELS_REDIS_URL=f"redis://127.0.0.1:{redis_port}/0", PYTHONPATH="")
        procs.start(
            "uvicorn",
            [python, "-m", "uvicorn", "channels_peer:application", "--app-dir", str(ROOT / "benchmarks"),
             "--host", "127.0.0.1", "--port", str(self.port), "--lifespan", "off", "--no-access-log",
             "--log-level", "warning"],
            env,
        )  # fmt: skip
        wait_for_port(self.port, deadline, procs)
        self.sender = subprocess.Popen(
            [python, str(ROOT / "benchmarks" / "channels_peer.py")],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            text=True,
            env=env,
            cwd=ROOT,
        )
        self.url = f"ws://127.0.0.1:{self.port}/ws/"

    def group_send(self, message_id: str) -> dict[str, Any]:
        """One ``group_send`` by the sender process; its answer (started_at, cpu, seconds)."""
        stdin: IO[str] | None = self.sender.stdin
        stdout: IO[str] | None = self.sender.stdout
        assert stdin is not None and stdout is not None
        stdin.write(message_id + "\n")
        stdin.flush()
        line = stdout.readline()
        if not line:
            raise RuntimeError(f"the Channels sender exited with {self.sender.wait(5)}")
        return dict(json.loads(line))

    def close(self) -> None:
        if self.sender.stdin:
            self.sender.stdin.close()
        try:
            self.sender.wait(10)
        except subprocess.TimeoutExpired:
            self.sender.kill()
            self.sender.wait(5)


async def channels_broadcast(
    side: ChannelsSide, clients: list[Client], deadline: Deadline, procs: Processes
) -> dict[str, Any]:
    """One ``group_send`` to every socket; latency as the clients saw it and ``cpu_seconds``:
    the sender's call + uvicorn's process from the send until every client has the message."""
    message_id = uuid.uuid4().hex
    server_before = procs.cpu_seconds()["uvicorn"]
    answer = await asyncio.to_thread(side.group_send, message_id)
    stats = await measure(clients, message_id, answer["started_at"], deadline)
    stats["caller_cpu_seconds"] = answer["cpu"]
    stats["cpu_seconds"] = answer["cpu"] + procs.cpu_seconds()["uvicorn"] - server_before
    return stats


async def with_redis(procs: Processes, redis_name: str, run: Any) -> dict[str, Any]:
    """``await run()``'s stats plus the CPU of ``redis_name`` and of the emulator meanwhile."""
    before = procs.cpu_seconds()
    stats: dict[str, Any] = await run()
    after = procs.cpu_seconds()
    stats["redis_cpu_seconds"] = after[redis_name] - before[redis_name]
    stats["emulator_cpu_seconds"] = after["emulator"] - before["emulator"]
    return stats


def per_message_us(stats: dict[str, Any], key: str = "cpu_seconds") -> float:
    return float(stats[key]) / max(int(stats["delivered"]), 1) * 1e6


def run(args: argparse.Namespace, procs: Processes, workdir: Path, deadline: Deadline) -> dict[str, Any]:
    """Start both sides, measure them in turns, stop everything (every step bounded)."""
    database, drop = choose_database(args.database, workdir)
    try:
        stack = start_stack(procs, workdir, database, deadline, "benchmarks.load_settings")
        side = ChannelsSide(procs, workdir, deadline)
        try:
            measured = asyncio.run(
                asyncio.wait_for(measure_both(args, procs, stack, side, deadline), deadline.left())
            )
        finally:
            side.close()
        return measured | {"database": database.split("://")[0], "versions": side.versions}
    finally:
        procs.stop_all()
        from django.db import connections

        connections.close_all()
        drop()


async def measure_both(
    args: argparse.Namespace, procs: Processes, stack: Any, side: ChannelsSide, deadline: Deadline
) -> dict[str, Any]:
    n = args.sockets
    ours_clients, ours_refused, _ = await connect_all(stack.ws_url, n, args.connect_concurrency)
    theirs_clients, theirs_refused, _ = await connect_all(side.url, n, args.connect_concurrency)
    if ours_refused or theirs_refused:
        raise RuntimeError(f"refused handshakes: wsgateway {ours_refused}, Channels {theirs_refused}")
    try:

        def ours() -> Any:
            return with_redis(
                procs, "redis", lambda: broadcast(ours_clients, stack.gateway_pk, deadline, procs)
            )

        def theirs() -> Any:
            return with_redis(
                procs, "channels-redis", lambda: channels_broadcast(side, theirs_clients, deadline, procs)
            )

        await ours()  # warm-up: the worker's children, connections, imports
        await theirs()
        rounds = []
        for _ in range(args.rounds):
            rounds.append({"wsgateway": await ours(), "channels": await theirs()})
        # A socket the server closed (e.g. a missed ping under load) explains a loss: say so.
        closed = {
            name: Counter(str(c.ws.close_code) for c in group if c.ws.close_code is not None)
            for name, group in (("wsgateway", ours_clients), ("channels", theirs_clients))
        }
        return {"sockets": n, "rounds": rounds, "closed_by_code": closed}
    finally:
        for group in (ours_clients, theirs_clients):
            await asyncio.gather(*(c.ws.close() for c in group), return_exceptions=True)
            for c in group:
                if c.reader:
                    c.reader.cancel()


def spread(values: list[float]) -> str:
    return f"{min(values):.1f} / {statistics.median(values):.1f} / {max(values):.1f}"


def report(result: dict[str, Any], load_average: tuple[float, float, float]) -> bool:
    n, rounds = result["sockets"], result["rounds"]
    v = result["versions"]
    print(
        f"fan-out to {n} real websockets, {len(rounds)} measured rounds per side (interleaved); "
        f"wsgateway on {result['database']}; Channels {v['channels']}, channels_redis "
        f"{v['channels-redis']}, uvicorn {v['uvicorn']}; load average at the end "
        + " ".join(f"{x:.1f}" for x in load_average)
    )
    header = f"{'round':<6}{'side':<11}{'delivered':>10}{'lost':>6}{'dup':>5}{'CPU us/msg':>12}"
    print(header + f"{'redis us/msg':>14}{'emulator us/msg':>17}{'p50 ms':>9}{'p99 ms':>9}")
    ratios, ok = [], True
    for i, r in enumerate(rounds, 1):
        for name in ("wsgateway", "channels"):
            s = r[name]
            ok = ok and s["lost"] == 0 and s["delivered"] == n
            print(
                f"{i:<6}{name:<11}{s['delivered']:>10}{s['lost']:>6}{s['duplicates']:>5}"
                f"{per_message_us(s):>12.1f}{per_message_us(s, 'redis_cpu_seconds'):>14.1f}"
                f"{per_message_us(s, 'emulator_cpu_seconds'):>17.1f}{s['p50_ms']:>9.1f}{s['p99_ms']:>9.1f}"
            )
        ratios.append(per_message_us(r["channels"]) / per_message_us(r["wsgateway"]))
    ours = [per_message_us(r["wsgateway"]) for r in rounds]
    theirs = [per_message_us(r["channels"]) for r in rounds]
    print(
        f"CPU us per delivered message, min / median / max: wsgateway {spread(ours)}, "
        f"Channels {spread(theirs)}"
    )
    print(
        f"Channels / wsgateway CPU per delivered message (server side: caller + worker vs sender + uvicorn): "
        f"{' '.join(f'{x:.2f}' for x in ratios)}; min / median / max {spread(ratios)}x"
    )
    print("every socket got every measured message from both sides: " + ("yes" if ok else "NO"))
    print(f"sockets closed by the server during the run, by close code: {result.get('closed_by_code')}")
    return ok


def main() -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--sockets", type=int, default=2000)
    parser.add_argument("--rounds", type=int, default=3, help="measured broadcasts per side")
    parser.add_argument("--connect-concurrency", type=int, default=50, help="handshakes in flight")
    parser.add_argument("--database", default=None, help="database URL (default: a fresh PostgreSQL db)")
    parser.add_argument("--timeout", type=float, default=900.0, help="seconds for the whole run")
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args()
    deadline = Deadline(args.timeout)
    raise_fd_limit(args.sockets * 2)
    workdir = Path(tempfile.mkdtemp(prefix="wsgateway-channels-"))
    procs = Processes(workdir)
    load_before = os.getloadavg()
    result = run(args, procs, workdir, deadline)
    print("load average at the start " + " ".join(f"{x:.1f}" for x in load_before))
    ok = report(result, os.getloadavg())
    if args.json:
        print(json.dumps(result, default=str))
    return 0 if ok else 1


if __name__ == "__main__":
    started = time.monotonic()
    status = main()
    print(f"({time.monotonic() - started:.0f} s)")
    sys.exit(status)
