"""Named points inside the steps where a test can inject a failure.

Every step calls :func:`checkpoint` right after an AWS call that creates something (label
``<what>:created``, before the id is saved) and after saving it (``<what>:recorded``). A test
installs a hook with :func:`fault_hook` that raises at a chosen label, which reproduces a worker
dying between "AWS made it" and "we wrote it down" — the case resumption must survive.
Production code never installs a hook; the call is a no-op then.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager

_hook: Callable[[str], None] | None = None


def checkpoint(label: str) -> None:
    """Give an installed test hook the chance to fail here."""
    if _hook is not None:
        _hook(label)


@contextmanager
def fault_hook(hook: Callable[[str], None]) -> Iterator[None]:
    """Install ``hook`` (called with each checkpoint label) for the duration of the block."""
    global _hook
    previous = _hook
    _hook = hook
    try:
        yield
    finally:
        _hook = previous
