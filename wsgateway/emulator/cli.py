"""Command line: ``python -m wsgateway.emulator`` / ``wsgateway-emulator``.

Prints exactly one line ``wsgateway emulator listening on http(s)://HOST:PORT`` to stdout
(flushed) once the socket is bound, so a parent process started with ``--port 0`` can read the
port.

Secrets come from the environment rather than the command line (which ``ps`` shows):
``WSGATEWAY_EMULATOR_ADMIN_TOKEN``, ``WSGATEWAY_EMULATOR_ACCESS_KEY`` /
``WSGATEWAY_EMULATOR_SECRET_KEY`` (or ``--credentials-from-env`` for ``AWS_ACCESS_KEY_ID`` /
``AWS_SECRET_ACCESS_KEY``, the variables the clients use). A generated admin token is printed
to stderr. Off loopback the emulator refuses to start without credentials and an admin token
(or ``--no-admin``): see :mod:`wsgateway.emulator.security`.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import logging
import os
import signal
import sys
from collections.abc import Sequence

from . import security
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
    parser.add_argument(
        "--access-key",
        default=os.environ.get("WSGATEWAY_EMULATOR_ACCESS_KEY"),
        help="verify SigV4 signatures made with this key id (env WSGATEWAY_EMULATOR_ACCESS_KEY)",
    )
    parser.add_argument(
        "--secret-key",
        default=os.environ.get("WSGATEWAY_EMULATOR_SECRET_KEY"),
        help="... and this secret key (env WSGATEWAY_EMULATOR_SECRET_KEY)",
    )
    parser.add_argument(
        "--credentials-from-env",
        action="store_true",
        help="verify signatures made with AWS_ACCESS_KEY_ID / AWS_SECRET_ACCESS_KEY",
    )
    parser.add_argument(
        "--no-admin", action="store_true", help="turn the /_emulator admin API off (health stays)"
    )
    parser.add_argument(
        "--allowed-host",
        action="append",
        default=[],
        metavar="NAME",
        help="accept this Host header name too (repeatable; loopback names are always accepted)",
    )
    parser.add_argument("--tls-cert", default=None, help="PEM certificate chain: serve HTTPS/WSS")
    parser.add_argument("--tls-key", default=None, help="PEM private key of --tls-cert")
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
        access_key=os.environ.get("AWS_ACCESS_KEY_ID") if args.credentials_from_env else args.access_key,
        secret_key=(
            os.environ.get("AWS_SECRET_ACCESS_KEY") if args.credentials_from_env else args.secret_key
        ),
        admin_token=os.environ.get("WSGATEWAY_EMULATOR_ADMIN_TOKEN") or None,
        admin_enabled=not args.no_admin,
        allowed_hosts=tuple(args.allowed_host),
        tls_cert=args.tls_cert,
        tls_key=args.tls_key,
    )


async def _main(config: EmulatorConfig) -> None:
    generated = config.admin_enabled and not config.admin_token
    runner, port, _emulator = await serve(config)
    if generated:
        # Like a notebook server's token: the operator's console is where it is needed.
        print(f"wsgateway emulator admin token: {config.admin_token}", file=sys.stderr, flush=True)
    scheme = "https" if config.tls_cert else "http"
    print(f"wsgateway emulator listening on {scheme}://{config.host}:{port}", flush=True)
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
    if bool(config.tls_cert) != bool(config.tls_key):
        build_parser().error("--tls-cert and --tls-key go together")
    try:
        security.check_listen_address(config)
    except security.InsecureConfigurationError as err:
        build_parser().error(str(err))
    with contextlib.suppress(KeyboardInterrupt):
        asyncio.run(_main(config))
    return 0
