"""The package's imports run one way: a module imports what it uses at
module level. An import inside a function is allowed only where a layer below has to reach one
above it (the reference API's model facade) or where the import must wait for Django or Celery
to be set up. This test lists the exceptions, so a new lazy import is a decision, not a habit."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

pytestmark = pytest.mark.unit

PACKAGE = Path(__file__).resolve().parents[2] / "wsgateway"

#: (module, imported module) pairs allowed inside functions, and why.
ALLOWED = {
    # The reference API's model facade: ApiGateway / ApiGatewayAdditionalRoute methods and
    # WebSocketSession(.objects).send_message enqueue through the layers above the models.
    ("wsgateway/models.py", "wsgateway"),
    ("wsgateway/models.py", "wsgateway.provisioning"),
    ("wsgateway/models.py", "wsgateway.aws.errors"),
    ("wsgateway/models.py", "wsgateway.exceptions"),
    ("wsgateway/querysets.py", "wsgateway"),
    # AppConfig.ready(): imported once the app registry is ready, by Django's rule.
    ("wsgateway/apps.py", "wsgateway"),
    ("wsgateway/apps.py", "wsgateway.provisioning"),
    # System checks run after start-up; importing the views (and the project's URLs) there
    # would load the sending layer and Celery for every management command.
    ("wsgateway/checks.py", "wsgateway.views"),
    ("wsgateway/checks.py", "wsgateway.views.handlers"),
    # A Celery bootstep, loaded with the Celery app before Django is set up.
    ("wsgateway/fanout/lease.py", "wsgateway.fanout"),
    ("wsgateway/fanout/lease.py", "wsgateway.tasks.fanout"),
    ("wsgateway/fanout/lease.py", "wsgateway.tasks.queues"),
    # The provisioning package enqueues its own task chain; the task module imports the runner.
    ("wsgateway/provisioning/chains.py", "wsgateway.tasks.provisioning"),
}


def function_level_imports() -> set[tuple[str, str]]:
    found: set[tuple[str, str]] = set()
    for path in sorted(PACKAGE.rglob("*.py")):
        if "migrations" in path.parts or "emulator" in path.parts:
            continue
        tree = ast.parse(path.read_text(encoding="utf-8"))
        name = path.relative_to(PACKAGE.parent).as_posix()
        for function in ast.walk(tree):
            if not isinstance(function, ast.FunctionDef | ast.AsyncFunctionDef):
                continue
            for node in ast.walk(function):
                if isinstance(node, ast.ImportFrom) and (node.module or "").startswith("wsgateway"):
                    found.add((name, str(node.module)))
                elif isinstance(node, ast.Import):
                    found.update((name, a.name) for a in node.names if a.name.startswith("wsgateway"))
    return found


def test_imports_inside_functions_are_only_the_listed_exceptions() -> None:
    assert function_level_imports() - ALLOWED == set()


def test_every_listed_exception_is_still_needed() -> None:
    assert ALLOWED - function_level_imports() == set()
