"""Virtualenvs for the real peers the benchmarks compare against, built on first use.

Each peer is installed from PyPI into its own virtualenv under ``benchmarks/.peers/`` (ignored by
git), next to the same Django version wsgateway runs on, so one benchmark run measures both sides
on one machine. Nothing of a peer is vendored: a benchmark starts the peer's interpreter and drives
it through a small script of its own.

    python benchmarks/peers.py reference   # prints the interpreter path, building it if needed
"""

from __future__ import annotations

import subprocess
import sys
import venv
from pathlib import Path

import django

PEERS_DIR = Path(__file__).resolve().parent / ".peers"

#: What each peer's virtualenv holds besides Django (pinned: a benchmark names what it measured).
PEERS: dict[str, list[str]] = {
    # The package wsgateway succeeds, exactly the release the compatibility promise names.
    "reference": ["django-aws-api-gateway-websockets==4.1.0", "boto3"],
    # Django Channels on its usual deployment: channels_redis as the layer, uvicorn as the server.
    "channels": ["channels>=4", "channels-redis>=4", "uvicorn[standard]", "redis>=5"],
}


def peer_python(name: str) -> Path:
    """The interpreter of peer ``name``'s virtualenv, created and installed on first use."""
    if name not in PEERS:
        raise KeyError(f"unknown peer {name!r}; known: {', '.join(sorted(PEERS))}")
    home = PEERS_DIR / name
    python = home / "bin" / "python"
    marker = home / ".installed"
    wanted = " ".join([f"Django=={django.get_version()}", *PEERS[name]])
    if marker.exists() and marker.read_text() == wanted:
        return python
    print(f"[peers] installing {name} into {home}: {wanted}", file=sys.stderr)
    venv.EnvBuilder(with_pip=True, clear=True).create(home)
    subprocess.run(
        [str(python), "-m", "pip", "install", "-q", "--disable-pip-version-check", *wanted.split()],
        check=True,
    )
    marker.write_text(wanted)
    return python


def peer_version(name: str, distribution: str) -> str:
    """The installed version of ``distribution`` in peer ``name``'s virtualenv (for labels)."""
    out = subprocess.run(
        [str(peer_python(name)), "-c", f"import importlib.metadata as m; print(m.version({distribution!r}))"],
        check=True,
        capture_output=True,
        text=True,
    )
    return out.stdout.strip()


if __name__ == "__main__":
    print(peer_python(sys.argv[1] if len(sys.argv) > 1 else "reference"))
