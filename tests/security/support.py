"""What the security tests share: the repository root and a clean environment for subprocesses."""

from __future__ import annotations

import os
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
#: Variables that configure the project, Flower or boto3: a subprocess gets only those a test sets.
CONFIGURING = ("DJANGO_", "WSGATEWAY_", "AWS_", "FLOWER_")


def clean_env(**env: str) -> dict[str, str]:
    """This process's environment without any configuring variable, plus ``env``."""
    kept = {k: v for k, v in os.environ.items() if not k.startswith(CONFIGURING)}
    return {**kept, **env}
