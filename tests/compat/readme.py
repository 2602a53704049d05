"""The README's Python examples, run as written."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

README = Path(__file__).resolve().parents[2] / "README.md"


def python_block(containing: str) -> str:
    """The README's one ```python block that contains ``containing``."""
    blocks = [
        b for b in re.findall(r"```python\n(.*?)```", README.read_text(), flags=re.S) if containing in b
    ]
    assert len(blocks) == 1, f"expected one README python block with {containing!r}, found {len(blocks)}"
    return blocks[0]


def run_block(containing: str, module: str = "readme_example") -> dict[str, Any]:
    """Execute the block verbatim in a fresh module namespace and return it."""
    namespace: dict[str, Any] = {"__name__": module}
    exec(compile(python_block(containing), f"README.md ({containing})", "exec"), namespace)  # noqa: S102
    return namespace
