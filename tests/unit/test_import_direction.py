"""The package's imports run one way: a module imports what it uses at
module level. An import inside a function is allowed only where a layer below has to reach one
above it (the reference API's model facade) or where the import must wait for Django or Celery
to be set up. This test lists the exceptions, so a new lazy import is a decision, not a habit.

The tasks depend on the logic packages (``wsgateway/fanout/``, ``wsgateway/provisioning/``), never
the other way: what the logic calls above itself is handed to it by ``AppConfig.ready()``
(wsgateway/apps.py). The module-level import graph has no cycle."""

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
    ("wsgateway/apps.py", "wsgateway.fanout"),
    ("wsgateway/apps.py", "wsgateway.tasks"),
    # System checks run after start-up; importing the views (and the project's URLs) there
    # would load the sending layer and Celery for every management command.
    ("wsgateway/checks.py", "wsgateway.views"),
    ("wsgateway/checks.py", "wsgateway.views.handlers"),
    # A Celery bootstep, loaded with the Celery app before Django is set up.
    ("wsgateway/fanout/lease.py", "wsgateway.fanout"),
}


#: The logic packages, and the package they must never import (at any level, even for typing).
LOGIC = ("wsgateway/fanout/", "wsgateway/provisioning/")
TASKS = "wsgateway.tasks"


def sources() -> dict[str, ast.Module]:
    """Every module of the package but the emulator and the migrations, by its path."""
    found: dict[str, ast.Module] = {}
    for path in sorted(PACKAGE.rglob("*.py")):
        if "migrations" in path.parts or "emulator" in path.parts:
            continue
        found[path.relative_to(PACKAGE.parent).as_posix()] = ast.parse(path.read_text(encoding="utf-8"))
    return found


def module_name(path: str) -> str:
    return path.removesuffix(".py").removesuffix("/__init__").replace("/", ".")


def imported(node: ast.Import | ast.ImportFrom, modules: set[str]) -> set[str]:
    """The wsgateway modules ``node`` imports (``from a import b`` imports ``a.b`` when it is one)."""
    if isinstance(node, ast.Import):
        return {a.name for a in node.names if a.name.startswith("wsgateway")}
    base = str(node.module)
    assert node.level == 0, "the package uses absolute imports only"
    if not base.startswith("wsgateway"):
        return set()
    return {f"{base}.{a.name}" if f"{base}.{a.name}" in modules else base for a in node.names}


def runtime_module_imports(tree: ast.Module) -> list[ast.Import | ast.ImportFrom]:
    """Imports run when the module is imported: not inside a function, not under TYPE_CHECKING."""
    found: list[ast.Import | ast.ImportFrom] = []
    todo: list[ast.AST] = list(tree.body)
    while todo:
        node = todo.pop()
        if isinstance(node, ast.Import | ast.ImportFrom):
            found.append(node)
        elif isinstance(node, ast.If) and "TYPE_CHECKING" in ast.unparse(node.test):
            todo.extend(node.orelse)
        elif not isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef | ast.Lambda):
            todo.extend(ast.iter_child_nodes(node))
    return found


def import_graph() -> dict[str, set[str]]:
    """Module -> the wsgateway modules it imports at module level (a package's ``__init__`` too)."""
    trees = {module_name(path): tree for path, tree in sources().items()}
    graph: dict[str, set[str]] = {}
    for name, tree in trees.items():
        targets = set().union(*(imported(n, set(trees)) for n in runtime_module_imports(tree)))
        # Importing a.b.c runs a/__init__.py and a/b/__init__.py first (but those of packages
        # holding this module already ran, or are running, when it is imported).
        parents = {".".join(t.split(".")[:i]) for t in targets for i in range(2, t.count(".") + 1)}
        parents = {p for p in parents if not name.startswith(p + ".")}
        graph[name] = {t for t in targets | parents if t in trees and t != name}
    return graph


def cycles(graph: dict[str, set[str]]) -> list[set[str]]:
    """The strongly connected components of more than one node (Tarjan, iterative)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    found: list[set[str]] = []
    for root in sorted(graph):
        if root in index:
            continue
        work = [(root, iter(sorted(graph[root])))]
        index[root] = low[root] = len(index)
        stack.append(root)
        while work:
            node, children = work[-1]
            child = next(children, None)
            if child is not None:
                if child not in index:
                    index[child] = low[child] = len(index)
                    stack.append(child)
                    work.append((child, iter(sorted(graph.get(child, ())))))
                elif child in stack:
                    low[node] = min(low[node], index[child])
                continue
            work.pop()
            if work:
                low[work[-1][0]] = min(low[work[-1][0]], low[node])
            if low[node] == index[node]:
                component = set()
                while True:
                    member = stack.pop()
                    component.add(member)
                    if member == node:
                        break
                if len(component) > 1:
                    found.append(component)
    return found


def reachable(graph: dict[str, set[str]], start: str) -> set[str]:
    seen, todo = set(), [start]
    while todo:
        for nxt in graph.get(todo.pop(), ()):
            if nxt not in seen:
                seen.add(nxt)
                todo.append(nxt)
    return seen


def function_level_imports() -> set[tuple[str, str]]:
    found: set[tuple[str, str]] = set()
    for name, tree in sources().items():
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


def test_the_logic_packages_never_import_the_tasks() -> None:
    """Not at module level, not inside a function, not for type checking."""
    trees = sources()
    modules = {module_name(path) for path in trees}
    found = set()
    for path, tree in trees.items():
        if path.startswith(LOGIC):
            for node in ast.walk(tree):
                if isinstance(node, ast.Import | ast.ImportFrom):
                    found |= {(path, m) for m in imported(node, modules) if m.startswith(TASKS)}
    assert found == set()


def test_the_logic_packages_do_not_reach_the_tasks_through_other_modules() -> None:
    graph = import_graph()
    found = {
        (module, target)
        for module in graph
        if module.startswith(tuple(p.rstrip("/").replace("/", ".") for p in LOGIC))
        for target in reachable(graph, module)
        if target.startswith(TASKS)
    }
    assert found == set()


def test_the_module_level_imports_have_no_cycle() -> None:
    """Imports run when a module is imported (a package's ``__init__`` included) form no cycle:
    not between two top-level packages or modules of ``wsgateway``, not inside a subpackage."""
    assert [sorted(c) for c in cycles(import_graph())] == []


def test_the_cycle_finder_finds_cycles() -> None:
    graph = {"a.x": {"b.y"}, "b.y": {"c"}, "c": {"a.x"}, "a.z": {"a.w"}, "a.w": {"a.z"}, "d": {"a.x"}}
    assert sorted(sorted(c) for c in cycles(graph)) == [["a.w", "a.z"], ["a.x", "b.y", "c"]]
