"""Flower's configuration for this project: ``celery -A worker flower --conf=worker/flowerconfig.py``.

Flower executes this file and takes every top-level name that is one of its options.

- Authentication is required: Flower refuses to start unless ``FLOWER_BASIC_AUTH``
  (``user:password``, several comma separated) or ``FLOWER_AUTH`` (OAuth) is set. Without it
  anyone who reaches the port reads every task and, through the JSON API, can revoke tasks and
  shut workers down. The JSON API answers the same credentials, so ``FLOWER_UNAUTHENTICATED_API``
  stays unset: that variable opens the API to anyone (and to any web page, via CORS) and belongs
  only on a machine nobody else can reach.
- Task arguments and keyword arguments are hidden on every task page and list: they hold
  connection ids (enough to post to or close a socket with the management API's credentials)
  and message bodies. Results (delivery counts) stay visible.
- Read-only: no revoking, terminating or pool changes from the web page.
"""

from __future__ import annotations

from typing import Any

from tornado.options import options as _flower_options

#: What a hidden argument shows as.
HIDDEN = "(hidden)"


def _refuse_without_authentication() -> None:
    import flower.options  # noqa: F401  (defines the options read below; Flower has imported it)

    if not (_flower_options.basic_auth or _flower_options.auth):
        raise SystemExit(
            "Flower needs authentication: set FLOWER_BASIC_AUTH=user:password "
            "(see docs/security.md); FLOWER_UNAUTHENTICATED_API does not replace it."
        )


def format_task(task: Any) -> Any:
    """Flower's hook (option ``format_task``): blank what a task was called with."""
    for name in ("args", "kwargs"):
        if getattr(task, name, None) not in (None, ""):
            setattr(task, name, HIDDEN)
    return task


if __name__ != "worker.flowerconfig":  # run by Flower (exec'd as a file), not imported by a test
    _refuse_without_authentication()
read_only = True
tasks_columns = "name,uuid,state,received,started,runtime,worker,retries,result"
