"""The README stays true: every setting documented, the quick-start commands exist."""

from __future__ import annotations

import re
from pathlib import Path

from wsgateway.conf import SETTINGS

ROOT = Path(__file__).resolve().parents[2]
README = (ROOT / "README.md").read_text()


def test_every_setting_is_in_the_configuration_table() -> None:
    missing = [key for key in SETTINGS if f"| `{key}` |" not in README]
    assert not missing, f"README configuration table lacks {missing}"


def test_quick_start_has_exactly_two_setup_commands_that_dev_py_knows() -> None:
    block = README.split("## Quick start", 1)[1].split("```bash", 1)[1].split("```", 1)[0]
    commands = [line.split("#", 1)[0].strip() for line in block.strip().splitlines()]
    assert commands == ["python3 dev.py demo", "python3 dev.py test"]
    dev = (ROOT / "dev.py").read_text()
    for name in ("demo", "test"):
        assert re.search(rf'"{name}": cmd_{name}', dev)


def test_every_check_id_is_documented() -> None:
    source = (ROOT / "wsgateway" / "checks.py").read_text()
    for check_id in set(re.findall(r'id="(wsgateway\.[EW]\d{3})"', source)):
        assert f"`{check_id}`" in README, check_id


def test_python_snippets_compile_and_their_imports_resolve() -> None:
    import ast
    import importlib

    blocks = re.findall(r"```python\n(.*?)```", README, flags=re.S)
    assert len(blocks) >= 3
    for block in blocks:
        tree = ast.parse(block)
        for node in ast.walk(tree):
            if isinstance(node, ast.ImportFrom) and node.module and node.module.startswith("wsgateway"):
                module = importlib.import_module(node.module)
                for alias in node.names:
                    assert hasattr(module, alias.name), f"{node.module}.{alias.name} (README)"
