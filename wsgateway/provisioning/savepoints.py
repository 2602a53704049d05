"""A savepoint around one provisioning step when it runs inside the caller's transaction.

A worker runs steps in autocommit: each write is committed at once, which is what lets a failed
run resume (provisioning/checkpoints.py). A step run inside ``transaction.atomic()`` (a model
method called by user code, ``run_inline`` in a test, an eager task) shares the caller's
transaction; a database error in the step breaks it, and recording the failure would raise
``TransactionManagementError`` and hide the original error. So the step runs under a savepoint:
after a database error (or when Django marked the transaction for rollback) the step's writes
are rolled back to it, which leaves the transaction usable to record the failure; after any
other error the savepoint is released, keeping what the step recorded (e.g. the id of an API
it created), as autocommit would.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

from django.db import DatabaseError, transaction


@contextmanager
def step_savepoint(using: str | None = None) -> Iterator[None]:
    """Run the block under a savepoint if a transaction is open (see the module docstring)."""
    connection = transaction.get_connection(using)
    if not connection.in_atomic_block:
        yield
        return
    sid = transaction.savepoint(using)
    try:
        yield
    except BaseException as err:
        if connection.needs_rollback or isinstance(err, DatabaseError):
            # Cleared first: Django refuses every query, ROLLBACK TO SAVEPOINT included, while set.
            transaction.set_rollback(False, using)
            transaction.savepoint_rollback(sid, using)
        else:
            transaction.savepoint_commit(sid, using)
        raise
    transaction.savepoint_commit(sid, using)
