"""Repeat the in-flight fault scenarios and tabulate sent / delivered / duplicates / lost per run.

    WSGATEWAY_TEST_REDIS_URL=redis://127.0.0.1:6379/5 \\
        .venv/bin/python benchmarks/soak_faults.py [--runs 5] [--kind redis-wipe ...]

Each kind is one test of ``tests/faults/test_inflight.py`` or ``test_planning_lost.py`` (each run
asserts that the fault hit chunks or a planning task in flight, then that nothing was lost), run
``--runs`` times in one pytest process
(``WSGATEWAY_SOAK_RUNS``). The database is SQLite unless ``WSGATEWAY_TEST_DATABASE_URL`` names
another. Exits 1 unless every run passed with lost=0, ``redis-wipe`` (Redis without persistence
restarting empty, replayed from the delivery ledger) and the planning faults included.
"""

from __future__ import annotations

import argparse
import os
import re
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
INFLIGHT = "tests/faults/test_inflight.py"
PLANNING = "tests/faults/test_planning_lost.py"
TESTS = {
    "redis-kill": (INFLIGHT, "test_redis_killed_while_chunks_run"),
    "worker-kill": (INFLIGHT, "test_worker_killed_while_chunks_run"),
    "database-down": (INFLIGHT, "test_database_unavailable_while_chunks_run"),
    # Redis without persistence restarting empty: the delivery ledger replays what it lost.
    "redis-wipe": (INFLIGHT, "test_redis_wiped_while_chunks_run"),
    # The planning task lost: queued when Redis restarts empty, or its worker killed mid-plan.
    "planning-wipe": (PLANNING, "test_redis_wiped_with_the_planning_task_still_queued"),
    "planning-kill": (PLANNING, "test_worker_killed_half_way_through_a_plan"),
}
#: Kinds whose runs must lose nothing (all of them).
LOSSLESS = tuple(TESTS)
LINE = re.compile(
    r"\[soak (?P<label>[^\]]*)\] sent=(?P<sent>\d+) delivered=(?P<delivered>\d+) "
    r"duplicates=(?P<duplicates>\d+) lost=(?P<lost>\d+)"
)


def soak(kind: str, runs: int) -> tuple[list[dict[str, str]], bool]:
    env = {**os.environ, "WSGATEWAY_SOAK_RUNS": str(runs)}
    proc = subprocess.run(
        [sys.executable, "-m", "pytest", TESTS[kind][0], "-k", TESTS[kind][1],
         "-q", "-s", "-p", "no:cacheprovider", "-o", "timeout=180"],
        cwd=ROOT, env=env, capture_output=True, text=True, timeout=runs * 200 + 120, check=False,
    )  # fmt: skip
    rows = [m.groupdict() for m in LINE.finditer(proc.stdout)]
    if proc.returncode != 0:
        print(proc.stdout[-4000:], file=sys.stderr)
    return rows, proc.returncode == 0


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--kind", nargs="+", choices=sorted(TESTS), default=list(LOSSLESS))
    args = parser.parse_args()
    ok = True
    print("| fault | run | sent | delivered | duplicates | lost | at the fault |")
    print("|---|---|---|---|---|---|---|")
    for kind in args.kind:
        rows, passed = soak(kind, args.runs)
        for row in rows:
            label = row["label"]
            run = re.search(r"run=(\d+)", label)
            print(
                f"| {kind}{' c=4' if 'c=4' in label else ''} | {run.group(1) if run else '?'} | "
                f"{row['sent']} | {row['delivered']} | {row['duplicates']} | {row['lost']} | "
                f"{label.split(': ', 1)[-1]} |"
            )
            ok = ok and (row["lost"] == "0" or kind not in LOSSLESS)
        if not passed or not rows:
            print(f"| {kind} | FAILED (see stderr) | | | | | |")
            ok = False
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
