"""Celery tasks, one module per concern.

Importing this package imports each module so ``app.autodiscover_tasks()`` registers every task.
Each task names its queue on the decorator (``provisioning``, ``fanout``, ``maintenance``), so a
project gets the routing without copying ``task_routes``.
"""

from wsgateway.tasks import fanout, maintenance, provisioning, recovery

__all__ = ["fanout", "maintenance", "provisioning", "recovery"]
