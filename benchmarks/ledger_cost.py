"""What the delivery ledger costs per delivered message, measured inside its own calls.

One process plans broadcasts to ``--connections`` virtual connections of the emulator (in its
own process, not counted) and runs every chunk inline (``run_chunk``, no broker hop), as
``benchmarks/fanout.py --in-process`` does, on this run's own ``redis-server`` and a fresh
SQLite file (or ``--database URL``). Every entry point of :mod:`wsgateway.fanout.ledger` that
the planner and the chunks call is wrapped: the CPU (``time.process_time``) and wall time spent
inside them are summed (nested calls once; the chunks the planner's ``emit`` runs inline are
taken off) and divided by the messages delivered.

    python benchmarks/ledger_cost.py [--connections 10000] [--broadcasts 3] [--database URL]

Prints one line per broadcast and the min/median/max of the ledger's CPU µs per message.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

#: Entry points wrapped: module functions of wsgateway.fanout.ledger and PlanWriter methods.
FUNCTIONS = ("chunk_finished", "mark_done", "flush_done_marks", "close", "give_up", "follow_up_epoch")
METHODS = ("__init__", "flush", "finish")
#: ... and the planner's claim on its broadcast (wsgateway.fanout.plan_ledger).
PLAN_FUNCTIONS = ("claim",)


class Meter:
    """Sums CPU and wall seconds spent inside wrapped calls (the outermost call only)."""

    def __init__(self) -> None:
        self.cpu = self.wall = 0.0
        self.depth = 0

    def wrap(self, fn: Callable[..., Any]) -> Callable[..., Any]:
        def wrapped(*args: Any, **kwargs: Any) -> Any:
            self.depth += 1
            cpu, wall = time.process_time(), time.perf_counter()
            try:
                return fn(*args, **kwargs)
            finally:
                self.depth -= 1
                if self.depth == 0:
                    self.cpu += time.process_time() - cpu
                    self.wall += time.perf_counter() - wall

        return wrapped

    def exclude(self, fn: Callable[..., Any]) -> Callable[..., Any]:
        """``fn`` called from inside a wrapped call (the planner's ``emit`` running a chunk
        inline) is not the ledger's: its time is taken off, its own ledger calls counted."""

        def excluded(*args: Any, **kwargs: Any) -> Any:
            saved, self.depth = self.depth, 0
            cpu, wall = time.process_time(), time.perf_counter()
            try:
                return fn(*args, **kwargs)
            finally:
                self.depth = saved
                if saved:
                    self.cpu -= time.process_time() - cpu
                    self.wall -= time.perf_counter() - wall

        return excluded

    def install(self) -> None:
        from wsgateway.fanout import ledger, plan_ledger

        for name in PLAN_FUNCTIONS:
            if hasattr(plan_ledger, name):
                setattr(plan_ledger, name, self.wrap(getattr(plan_ledger, name)))
        for name in FUNCTIONS:
            if hasattr(ledger, name):  # older versions lack the batched done-marks
                setattr(ledger, name, self.wrap(getattr(ledger, name)))
        for name in METHODS:
            setattr(ledger.PlanWriter, name, self.wrap(getattr(ledger.PlanWriter, name)))


def run(args: argparse.Namespace) -> bool:
    from django.core.management import call_command

    from benchmarks.fanout import delivered, emulator, prepare
    from wsgateway.fanout.broadcast import broadcast
    from wsgateway.fanout.delivery import run_chunk
    from wsgateway.fanout.messages import encode_message
    from wsgateway.fanout.planner import POST
    from wsgateway.models import WebSocketSession

    call_command("migrate", verbosity=0)
    meter = Meter()
    meter.install()

    def once(channel: str) -> tuple[float, float]:
        message_id, body = encode_message({"text": "ledger cost"})
        cpu, wall = time.process_time(), time.perf_counter()
        queryset = WebSocketSession.objects.filter(connected=True, channel_name=channel)
        broadcast(
            queryset,
            message_id=message_id,
            op=POST,
            body=body,
            emit=meter.exclude(lambda chunk: run_chunk(chunk, lambda c, countdown: None)),
        )
        return time.process_time() - cpu, time.perf_counter() - wall

    n = args.connections
    ok = True
    per_msg: list[float] = []
    with emulator() as (base, _process):
        prepare(base, n, "bench", warm=20)
        once("warm")
        print(f"{'broadcast':<10}{'delivered':>10}{'total CPU us/msg':>18}{'ledger CPU us/msg':>19}"
              f"{'ledger wall ms':>16}{'total wall ms':>15}")  # fmt: skip
        for i in range(args.broadcasts):
            meter.cpu = meter.wall = 0.0
            before = delivered(base)
            cpu, wall = once("bench")
            got = delivered(base) - before
            ok = ok and got == n
            per_msg.append(meter.cpu / max(got, 1) * 1e6)
            print(f"{i + 1:<10}{got:>10}{cpu / max(got, 1) * 1e6:>18.1f}{per_msg[-1]:>19.2f}"
                  f"{meter.wall * 1e3:>16.1f}{wall * 1e3:>15.1f}")  # fmt: skip
    print(
        f"ledger CPU us/msg over {len(per_msg)} broadcasts: min {min(per_msg):.2f} "
        f"median {statistics.median(per_msg):.2f} max {max(per_msg):.2f}"
    )
    print(f"every connection received every message: {'yes' if ok else 'NO'}")
    return ok


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0] if __doc__ else None)
    parser.add_argument("--connections", type=int, default=10_000)
    parser.add_argument("--broadcasts", type=int, default=3)
    parser.add_argument("--database", default=None, help="database URL (default: a fresh SQLite file)")
    args = parser.parse_args()
    from benchmarks.fanout import setup_django
    from benchmarks.load import Deadline, Processes, start_redis

    workdir = Path(tempfile.mkdtemp(prefix="wsgateway-bench-ledger-"))
    procs = Processes(workdir)
    try:
        port = start_redis(procs, workdir, Deadline(30))
        setup_django(args.database, f"redis://127.0.0.1:{port}/0", workdir)
        return 0 if run(args) else 1
    finally:
        procs.stop_all_and_disconnect()


if __name__ == "__main__":
    sys.exit(main())
