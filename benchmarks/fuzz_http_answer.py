"""Fuzz the ``@connections`` answer parser with random and hostile byte streams.

    .venv/bin/python benchmarks/fuzz_http_answer.py [--count 100000] [--seed 1]

Prints how the inputs ended (answer / malformed / incomplete) and the slowest parse; exits 1 if
any single input took longer than ``--max-seconds`` (a hang shows up as the run never ending,
which ``--budget`` bounds: the script stops and fails after that many seconds).
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "tests.settings")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--count", type=int, default=100_000)
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--max-seconds", type=float, default=0.5, help="slowest allowed single parse")
    parser.add_argument("--budget", type=float, default=600.0, help="whole run, seconds")
    args = parser.parse_args()

    import signal

    from tests.fanout.answer_fuzz import run

    signal.signal(signal.SIGALRM, lambda *_: sys.exit(f"FAIL: not done within {args.budget}s (a hang?)"))
    signal.alarm(int(args.budget))
    start = time.monotonic()
    stats = run(args.seed, args.count)
    elapsed = time.monotonic() - start
    signal.alarm(0)
    print(
        f"inputs={stats.inputs} answers={stats.answers} malformed={stats.malformed} "
        f"incomplete={stats.incomplete} slowest={stats.slowest * 1000:.1f}ms total={elapsed:.1f}s"
    )
    return 0 if stats.slowest <= args.max_seconds else 1


if __name__ == "__main__":
    sys.exit(main())
