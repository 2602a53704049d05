"""Command line: ``python -m wsgateway.emulator`` / ``wsgateway-emulator``.

Prints exactly one line ``wsgateway emulator listening on http://HOST:PORT`` to stdout (flushed)
once the socket is bound, so a parent process started with ``--port 0`` can read the port.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import logging
import signal
import sys
from collections.abc import Sequence

from .config import EmulatorConfig
from .server import serve


def build_parser() -> argparse.ArgumentParser:
    """The argument parser (also used to document the flags)."""
    parser = argparse.ArgumentParser(
        prog="wsgateway-emulator",
        description="Local AWS API Gateway WebSocket emulator (control plane, data plane, @connections).",
    )
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=4510, help="0 picks a free port")
    parser.add_argument("--region", default="us-east-1", help="region when requests carry no SigV4 scope")
    parser.add_argument("--idle-timeout", type=float, default=600.0, help="seconds (AWS: 600)")
    parser.add_argument("--max-lifetime", type=float, default=7200.0, help="seconds (AWS: 7200)")
    parser.add_argument("--frame-limit", type=int, default=32 * 1024, help="bytes (AWS: 32 KiB)")
    parser.add_argument("--message-limit", type=int, default=128 * 1024, help="bytes (AWS: 128 KiB)")
    parser.add_argument("--fail-429", type=float, default=0.0, help="fraction of @connections answered 429")
    parser.add_argument("--fail-500", type=float, default=0.0, help="fraction of @connections answered 500")
    parser.add_argument("--latency-ms", type=float, default=0.0, help="added @connections latency (ms)")
    parser.add_argument(
        "--latency-max-ms", type=float, default=None, help="uniform latency in [latency-ms, this]"
    )
    parser.add_argument(
        "--control-plane-fail", type=float, default=0.0, help="fraction of control-plane calls answered 429"
    )
    parser.add_argument(
        "--throttle-control-plane",
        action="store_true",
        help="emulate AWS rate limits: CreateDeployment 1/5 s, domain names 1/30 s",
    )
    parser.add_argument("--seed", type=int, default=None, help="seed of the fault-injection RNG")
    parser.add_argument(
        "--state-file", default=None, help="persist the control-plane state in this JSON file"
    )
    parser.add_argument("--access-key", default=None, help="verify SigV4 signatures made with this key id")
    parser.add_argument("--secret-key", default=None, help="... and this secret key")
    parser.add_argument("--log-level", default="WARNING")
    return parser


def config_from_args(args: argparse.Namespace) -> EmulatorConfig:
    """Map parsed arguments to an :class:`EmulatorConfig`."""
    return EmulatorConfig(
        host=args.host,
        port=args.port,
        region=args.region,
        idle_timeout=args.idle_timeout,
        max_lifetime=args.max_lifetime,
        frame_limit=args.frame_limit,
        message_limit=args.message_limit,
        fail_429=args.fail_429,
        fail_500=args.fail_500,
        latency_ms=args.latency_ms,
        latency_max_ms=args.latency_max_ms,
        control_plane_fail=args.control_plane_fail,
        throttle_control_plane=args.throttle_control_plane,
        seed=args.seed,
        state_file=args.state_file,
        access_key=args.access_key,
        secret_key=args.secret_key,
    )


async def _main(config: EmulatorConfig) -> None:
    runner, port, _emulator = await serve(config)
    print(f"wsgateway emulator listening on http://{config.host}:{port}", flush=True)
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        with contextlib.suppress(NotImplementedError, RuntimeError):
            loop.add_signal_handler(sig, stop.set)
    try:
        await stop.wait()
    finally:
        await runner.cleanup()


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the ``wsgateway-emulator`` console script; returns the exit status."""
    args = build_parser().parse_args(argv)
    logging.basicConfig(level=args.log_level.upper(), stream=sys.stderr)
    config = config_from_args(args)
    for name in ("fail_429", "fail_500", "control_plane_fail"):
        if not 0.0 <= getattr(config, name) <= 1.0:
            build_parser().error(f"--{name.replace('_', '-')} must be within 0..1")
    with contextlib.suppress(KeyboardInterrupt):
        asyncio.run(_main(config))
    return 0
