"""How many WebSocket handshakes are lost or refused for reasons that are not the backend's?

Two measurements, each bounded in count, on localhost only:

``wss`` (the default): ``--handshakes`` wss handshakes per client against the emulator (TLS with
a throw-away CA) while ``--burners`` processes keep the CPUs busy, the two clients interleaved:
``websockets.sync`` as it is (with only wsclient's shutdown-on-timeout, so a lost handshake
fails instead of hanging) and ``wsgateway.wsclient``. A handshake is *lost* when the client
times out (``--open-timeout``) and the emulator's ``connections.attempted`` counter shows it
never saw the request (wsgateway/wsclient.py explains why the plain client loses some).

``keepalive``: ``--handshakes`` handshakes in ``--rounds`` rounds of ``--concurrency`` at a
time against an emulator whose ``$connect`` backend is gunicorn (gthread, 2 s keep-alive),
with ``--gap`` seconds between rounds, close to that keep-alive: counts the 5xx answers
(the emulator's retry of a request that failed on a kept-alive connection, data_plane.py).

    python benchmarks/handshake_reliability.py [wss|keepalive] [--handshakes 2000] [--burners 3]
"""

from __future__ import annotations

import argparse
import asyncio
import collections
import contextlib
import multiprocessing
import socket
import subprocess
import sys
import tempfile
import textwrap
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import aiohttp
import websockets.sync.client

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from benchmarks.load import free_port
from wsgateway import wsclient
from wsgateway.emulator.server import EmulatorServer
from wsgateway.emulator.testing import RecordingBackend, create_websocket_api
from wsgateway.emulator.tls import local_ca_files

WSGI_APP = textwrap.dedent(
    """
    import time

    def app(environ, start_response):
        environ["wsgi.input"].read()
        time.sleep(0.02)  # a view's work: requests overlap, so gunicorn keeps many connections
        start_response("200 OK", [("Content-Length", "0")])
        return [b""]
    """
)


class ShutdownOnlyConnection(websockets.sync.client.ClientConnection):
    """The plain client plus the shutdown that ends a read blocked after a timeout."""

    def close_socket(self) -> None:
        with contextlib.suppress(OSError):
            socket.socket.shutdown(self.socket, socket.SHUT_RDWR)
        super().close_socket()


def _plain_connect(url: str, **options: Any) -> Any:
    return websockets.sync.client.connect(url, create_connection=ShutdownOnlyConnection, **options)


def _burn() -> None:
    while True:
        sum(range(10000))


@contextlib.contextmanager
def _burners(count: int) -> Iterator[None]:
    processes = [multiprocessing.Process(target=_burn, daemon=True) for _ in range(count)]
    for process in processes:
        process.start()
    try:
        yield
    finally:
        for process in processes:
            process.terminate()
            process.join(5)


def measure_wss(handshakes: int, burners: int, open_timeout: float) -> dict[str, collections.Counter[str]]:
    clients: dict[str, Callable[..., Any]] = {
        "websockets.sync": _plain_connect,
        "wsgateway.wsclient": wsclient.connect,
    }
    results: dict[str, collections.Counter[str]] = {name: collections.Counter() for name in clients}
    with (
        tempfile.TemporaryDirectory() as folder,
        RecordingBackend() as backend,
        EmulatorServer(tls_files=local_ca_files(folder)) as emu,
    ):
        api = create_websocket_api(emu.url, backend.url("ws/"), client=emu.client("apigatewayv2"))
        url = emu.ws_url(api.api_id, api.stage)
        with _burners(burners):
            for i in range(handshakes):
                order = list(clients) if i % 2 == 0 else list(reversed(clients))
                for name in order:
                    before = emu.stats().get("connections.attempted", 0)
                    try:
                        with clients[name](url, ssl=emu.ssl_context, open_timeout=open_timeout):
                            results[name]["opened"] += 1
                    except TimeoutError:
                        seen = emu.stats().get("connections.attempted", 0) != before
                        results[name]["timed out, seen by the emulator" if seen else "lost"] += 1
    return results


async def _handshake(session: aiohttp.ClientSession, url: str, gate: asyncio.Semaphore) -> str:
    async with gate:
        try:
            async with session.ws_connect(url):
                return "opened"
        except aiohttp.WSServerHandshakeError as err:
            return f"HTTP {err.status}"


async def _rounds(
    url: str, handshakes: int, rounds: int, concurrency: int, gap: float
) -> collections.Counter[str]:
    gate = asyncio.Semaphore(concurrency)
    counts: collections.Counter[str] = collections.Counter()
    async with aiohttp.ClientSession(connector=aiohttp.TCPConnector(limit=0)) as session:
        for _ in range(rounds):
            counts.update(
                await asyncio.gather(*(_handshake(session, url, gate) for _ in range(handshakes // rounds)))
            )
            await asyncio.sleep(gap)  # idle pooled connections near the backend's keep-alive
    return counts


def measure_keepalive(handshakes: int, rounds: int, concurrency: int, gap: float) -> dict[str, Any]:
    port = free_port()
    with tempfile.TemporaryDirectory() as folder:
        Path(folder, "keepalive_app.py").write_text(WSGI_APP)
        gunicorn = subprocess.Popen(
            [sys.executable, "-m", "gunicorn", "--chdir", folder, "-b", f"127.0.0.1:{port}",
             "--workers", "2", "--threads", "4", "--keep-alive", "2", "keepalive_app:app"],
            stderr=subprocess.DEVNULL,
        )  # fmt: skip
        try:
            deadline = time.monotonic() + 30
            while time.monotonic() < deadline:
                with contextlib.suppress(OSError), socket.create_connection(("127.0.0.1", port), timeout=1):
                    break
                time.sleep(0.1)
            with EmulatorServer() as emu:
                api = create_websocket_api(emu.url, f"http://127.0.0.1:{port}/ws/")
                url = emu.ws_url(api.api_id, api.stage)
                counts = asyncio.run(_rounds(url, handshakes, rounds, concurrency, gap))
                retries = emu.stats().get("forward.stale_connection_retries", 0)
        finally:
            gunicorn.terminate()
            gunicorn.wait(10)
    return {"answers": dict(counts), "stale_connection_retries": retries}


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("mode", nargs="?", choices=["wss", "keepalive"], default="wss")
    parser.add_argument("--handshakes", type=int, default=2000)
    parser.add_argument("--burners", type=int, default=3)
    parser.add_argument("--open-timeout", type=float, default=5.0)
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--concurrency", type=int, default=100)
    parser.add_argument("--gap", type=float, default=1.9)
    args = parser.parse_args()
    started = time.monotonic()
    if args.mode == "wss":
        print(
            {
                name: dict(counts)
                for name, counts in measure_wss(args.handshakes, args.burners, args.open_timeout).items()
            }
        )
    else:
        print(measure_keepalive(args.handshakes, args.rounds, args.concurrency, args.gap))
    print(f"{time.monotonic() - started:.0f} s")


if __name__ == "__main__":
    main()
