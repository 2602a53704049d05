"""Instructions per ``@connections`` request of the fan-out client, counted by callgrind.

CPU time on a shared machine moves with its neighbours (the fan-out runs in ``README.md`` were
measured at load averages of 10-22 on 2 cores); an instruction count does not. This script runs
:class:`wsgateway.aws.management.ConnectionsClient` (``call_many``: path, SigV4 signature,
request bytes, asyncio exchange on a keep-alive connection, answer parsing) under ``valgrind
--tool=callgrind`` twice, for ``--small`` and ``--large`` requests in chunks of 250 to the
emulator's virtual connections (the emulator runs outside valgrind, uncounted), and prints the
difference per request: start-up, imports and connection set-up cancel out.

    python benchmarks/client_instructions.py [--small 500] [--large 2500] [--tree PATH]

``--tree`` measures the client of another checkout (e.g. an exported older commit) with the
same emulator, for a before/after comparison. Needs ``valgrind`` on PATH; takes a few minutes
(callgrind runs Python about 50 times slower).
"""

from __future__ import annotations

import argparse
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

CHUNK = 250
BODY = b'{"message_id":"m","data":{"text":"hello from the benchmark"}}'


def child(config: Path, n: int) -> None:
    """Under callgrind: ``n`` POSTs through one ``ConnectionsClient``, every answer a 200."""
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "tests.settings")
    import django

    django.setup()
    from wsgateway.aws.management import ConnectionsClient, Endpoint, get_engine
    from wsgateway.aws.sigv4 import Credentials, Signer

    cfg = json.loads(config.read_text())
    endpoint = Endpoint.from_url(cfg["url"])
    client = ConnectionsClient(endpoint)
    signer = Signer(Credentials("AKIDBENCH", "bench-secret"), "us-east-1", endpoint.host)
    engine = get_engine()
    done = 0
    while done < n:
        ids = cfg["ids"][: min(CHUNK, n - done)]
        answers = engine.run(client.call_many("POST", ids, signer, BODY, concurrency=10, timeout=60))
        if any(a.status != 200 for a in answers):
            raise SystemExit(f"not every answer was 200: {answers[:3]}")
        done += len(ids)


def instructions(tree: Path, config: Path, n: int) -> int:
    """Instructions callgrind counted for a child of ``tree`` sending ``n`` requests."""
    with tempfile.TemporaryDirectory() as tmp:
        run = subprocess.run(
            ["valgrind", "--tool=callgrind", f"--callgrind-out-file={tmp}/out", sys.executable,
             str(tree / "benchmarks" / "client_instructions.py"), "--child", str(config), "--n", str(n)],
            capture_output=True, text=True, timeout=3600, check=False,
            env=dict(os.environ, PYTHONPATH=str(tree)), cwd=tree,
        )  # fmt: skip
    found = re.search(r"Collected\s*:\s*(\d+)", run.stderr)
    if run.returncode != 0 or not found:
        raise RuntimeError(f"callgrind run failed ({run.returncode}):\n{run.stderr[-2000:]}")
    return int(found.group(1))


def main() -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--small", type=int, default=500)
    parser.add_argument("--large", type=int, default=2500)
    parser.add_argument("--tree", type=Path, default=ROOT, help="checkout whose client is measured")
    parser.add_argument("--child", type=Path, help=argparse.SUPPRESS)
    parser.add_argument("--n", type=int, default=0, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        child(args.child, args.n)
        return 0
    if not shutil.which("valgrind"):
        print("valgrind is not installed")
        return 1
    from benchmarks.fanout import admin, emulator

    with emulator() as (base, _process), tempfile.TemporaryDirectory() as tmp:
        admin(base, "config", {"virtual_keep_messages": 1})
        info = admin(base, "virtual-connections", {"count": CHUNK})
        config = Path(tmp) / "client.json"
        config.write_text(json.dumps({"url": f"{base}/{info['apiId']}/test", "ids": info["connectionIds"]}))
        small = instructions(args.tree, config, args.small)
        large = instructions(args.tree, config, args.large)
    per_request = (large - small) / (args.large - args.small)
    print(
        f"client of {args.tree}: {per_request:,.0f} instructions per @connections request "
        f"(({large:,} - {small:,}) / ({args.large} - {args.small}) requests, HTTP, keep-alive, 10 in flight)"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
