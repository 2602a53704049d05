"""Smoke test of ``benchmarks/inbound.py``: a tiny run end to end on the suite's database kind.

The script configures Django itself, so it runs in a child process (this one already has the
test settings). With ``WSGATEWAY_TEST_DATABASE_URL`` set (the PostgreSQL CI run) the script
creates and drops its own scratch database on that server.
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

SCRIPT = Path(__file__).resolve().parents[2] / "benchmarks" / "inbound.py"


def test_tiny_run_prints_the_table_and_checks_the_rows() -> None:
    command = [sys.executable, str(SCRIPT), "--events", "5", "--timeout", "40"]
    url = os.environ.get("WSGATEWAY_TEST_DATABASE_URL")
    if url:
        command += ["--database-url", url]
    done = subprocess.run(command, capture_output=True, text=True, timeout=60, check=False)
    assert done.returncode == 0, done.stdout + done.stderr
    rows = {
        m["event"].strip(): (int(m["n"]), m["q"])
        for m in re.finditer(r"^(?P<event>\S.*?)\s+(?P<n>\d+)\s+(?P<q>\d+(?:-\d+)?)\s+-\s", done.stdout, re.M)
    }
    # The floor view runs exactly one read and one UPDATE: the statement counter works.
    assert rows["floor: plain view, 1 read + 1 UPDATE"] == (5, "2"), done.stdout
    assert rows["$connect"][0] == 5 and 1 <= int(rows["$connect"][1].split("-")[-1]) <= 7, done.stdout
    assert rows["message (handler without SQL)"] == (5, "1"), done.stdout
    assert rows["$connect refused (bad token)"][0] == 5, done.stdout
    assert rows["$disconnect"][0] == 5, done.stdout
    assert "still connected 0" in done.stdout
    assert done.stdout.rstrip().splitlines()[-1].startswith("inbound on "), done.stdout
