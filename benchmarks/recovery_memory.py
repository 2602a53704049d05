"""Redis memory of the recovery window (docs/recovery.md): 1,000 channels x 2 minutes at 10 msg/s.

A channel sending 10 messages a second keeps 1,200 of them in a 2-minute window. This script
starts its own ``redis-server`` (no persistence), then per run: empties it, writes 1,200 messages
to each of ``--channels`` channels through the real record script of :mod:`wsgateway.recovery`
(the same Lua the planning task runs: XADD, marker, trimming; pipelined to save round trips, not
paced in real time, so the window is raised for the run and nothing is trimmed by age), and
reads ``used_memory`` from ``INFO memory`` before and after, and ``MEMORY USAGE`` (every
element sampled) of one channel's stream and marker.

The payload is a chat-like message: ``{"type": "chat", "user": ..., "text": <N chars>,
"sent_at": ISO time, "message_id": uuid hex}``, about ``--payload-bytes`` bytes of JSON (200 by
default; the stamp with the recovery id is added when sent, not stored).

    python benchmarks/recovery_memory.py [--channels 1000] [--per-channel 1200] \
        [--payload-bytes 200] [--runs 3]

Prints each run and the min/median/max of the total and per-channel memory.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

#: Messages per pipeline round trip.
BATCH = 500


def payload(size: int, number: int) -> str:
    """A chat-like message body of about ``size`` bytes (compact JSON, as sent)."""
    from wsgateway.fanout.messages import encode_message

    base = {
        "type": "chat",
        "user": f"user{number % 97:02d}",
        "text": "",
        "sent_at": "2026-12-02T08:00:00.000Z",
    }
    _, empty = encode_message(base)
    text = ("hello from the benchmark " * 20)[: max(1, size - len(empty))]
    return encode_message({**base, "text": text})[1]


def used_memory(client: Any) -> int:
    return int(client.info("memory")["used_memory"])


def run_once(args: argparse.Namespace, number: int) -> dict[str, float]:
    from wsgateway import recovery
    from wsgateway.conf import wsgateway_settings
    from wsgateway.redis_client import get_redis

    client = get_redis()
    client.flushall()
    before = used_memory(client)
    script = client.register_script(recovery._RECORD)
    window_ms = 3600 * 1000  # written faster than real time: nothing may be trimmed by age
    limits = [
        window_ms,
        int(wsgateway_settings.RECOVERY_MAX_MESSAGES),
        int(wsgateway_settings.RECOVERY_MAX_BYTES),
    ]
    body = payload(args.payload_bytes, number)
    started = time.perf_counter()
    pipe = client.pipeline(transaction=False)
    queued = 0
    # Interleaved across channels, as live traffic is: message i of every channel, then i+1.
    for i in range(args.per_channel):
        for channel_number in range(args.channels):
            channel = f"room-{channel_number:05d}"
            keys = [recovery.stream_key(channel), recovery.marker_key(channel)]
            message_id = f"{number:04x}{i:08x}{channel_number:020x}"  # 32 hex digits, as a uuid4().hex
            script(
                keys=keys, args=[message_id, body, "", *limits, 86400, recovery.RETRY_LOOKBACK], client=pipe
            )
            queued += 1
            if queued == BATCH:
                pipe.execute()
                queued = 0
    if queued:
        pipe.execute()
    seconds = time.perf_counter() - started
    after = used_memory(client)
    sample = "room-00000"
    stream = int(client.memory_usage(recovery.stream_key(sample), samples=0) or 0)
    marker = int(client.memory_usage(recovery.marker_key(sample), samples=0) or 0)
    lengths = {
        client.xlen(recovery.stream_key(f"room-{c:05d}")) for c in (0, args.channels // 2, args.channels - 1)
    }
    assert lengths == {args.per_channel}, lengths
    total = after - before
    messages = args.channels * args.per_channel
    return {
        "total_mib": total / 2**20,
        "per_channel_kib": total / args.channels / 1024,
        "per_message_bytes": total / messages,
        "stream_kib": stream / 1024,
        "marker_bytes": marker,
        "record_us": seconds / messages * 1e6,
        "body_bytes": len(body.encode()),
    }


def summary(name: str, values: list[float], unit: str) -> str:
    return (
        f"{name}: min {min(values):.1f} median {statistics.median(values):.1f} max {max(values):.1f} {unit}"
    )


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0] if __doc__ else None)
    parser.add_argument("--channels", type=int, default=1000)
    parser.add_argument(
        "--per-channel", type=int, default=1200, help="messages kept per channel (2 min x 10/s)"
    )
    parser.add_argument("--payload-bytes", type=int, default=200)
    parser.add_argument("--runs", type=int, default=3)
    args = parser.parse_args()
    from benchmarks.fanout import setup_django
    from benchmarks.load import Deadline, Processes, start_redis

    workdir = Path(tempfile.mkdtemp(prefix="wsgateway-bench-recovery-"))
    procs = Processes(workdir)
    try:
        port = start_redis(procs, workdir, Deadline(30))
        setup_django(None, f"redis://127.0.0.1:{port}/0", workdir)
        from wsgateway.redis_client import get_redis

        version = get_redis().info("server")["redis_version"]
        print(
            f"redis {version}: {args.channels} channels x {args.per_channel} messages "
            f"(2 min at 10 msg/s), payload {args.payload_bytes} B"
        )
        results = []
        for number in range(1, args.runs + 1):
            result = run_once(args, number)
            results.append(result)
            print(
                f"run {number}: {result['total_mib']:.1f} MiB total, "
                f"{result['per_channel_kib']:.1f} KiB/channel, "
                f"{result['per_message_bytes']:.0f} B/message (body {result['body_bytes']} B); one stream "
                f"{result['stream_kib']:.1f} KiB + marker {result['marker_bytes']} B (MEMORY USAGE); "
                f"record {result['record_us']:.1f} us/message pipelined"
            )
        print(summary("total", [r["total_mib"] for r in results], "MiB"))
        print(summary("per channel", [r["per_channel_kib"] for r in results], "KiB"))
        print(summary("per message", [r["per_message_bytes"] for r in results], "B"))
        return 0
    finally:
        procs.stop_all_and_disconnect()


if __name__ == "__main__":
    sys.exit(main())
