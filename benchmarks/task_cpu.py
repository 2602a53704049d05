"""Per-task CPU of a Celery worker's children, for ``fanout.py --breakdown``.

Loaded by :mod:`benchmarks.load_settings` when ``WSGATEWAY_BENCH_TASK_CPU`` names a file: every
task appends one line ``<pid> <task name> <process CPU at start> <process CPU at end>`` (the
child's own ``time.process_time()``). :func:`summarize` then splits the children's CPU into the
task bodies (per task name) and what the child spent between tasks (Celery's per-task work
outside the body: receiving, acknowledging, storing the result).
"""

from __future__ import annotations

import itertools
import os
import time
from collections import defaultdict
from pathlib import Path
from typing import Any

from celery.signals import task_postrun, task_prerun

_started: dict[str, float] = {}


def install(path: str) -> None:
    """Log every task's CPU to ``path`` (one line per task, appended)."""

    def pre(task_id: str | None = None, **_: Any) -> None:
        _started[task_id or ""] = time.process_time()

    def post(task_id: str | None = None, task: Any = None, **_: Any) -> None:
        end = time.process_time()
        start = _started.pop(task_id or "", end)
        with open(path, "a") as out:
            out.write(f"{os.getpid()} {getattr(task, 'name', '?')} {start:.6f} {end:.6f}\n")

    task_prerun.connect(pre, weak=False)
    task_postrun.connect(post, weak=False)


def summarize(path: Path, since: dict[int, float]) -> dict[str, Any]:
    """CPU seconds of the tasks that started after ``since[pid]`` (each child's process CPU when
    the measure began): ``{"bodies": {task name: (count, seconds)}, "between": seconds}``,
    ``between`` being each child's CPU from one task's end to its next task's start."""
    bodies: dict[str, list[float]] = defaultdict(lambda: [0, 0.0])
    by_pid: dict[int, list[tuple[float, float]]] = defaultdict(list)
    for line in path.read_text().splitlines():
        pid_text, name, start_text, end_text = line.split()
        pid, start, end = int(pid_text), float(start_text), float(end_text)
        if pid not in since or start < since[pid]:
            continue
        bodies[name][0] += 1
        bodies[name][1] += end - start
        by_pid[pid].append((start, end))
    between = 0.0
    for spans in by_pid.values():
        spans.sort()
        between += sum(nxt[0] - prev[1] for prev, nxt in itertools.pairwise(spans))
    return {"bodies": {k: (int(v[0]), v[1]) for k, v in bodies.items()}, "between": between}
