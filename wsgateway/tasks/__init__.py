"""Celery tasks, one module per concern: :mod:`~wsgateway.tasks.fanout`,
:mod:`~wsgateway.tasks.maintenance`, :mod:`~wsgateway.tasks.provisioning`,
:mod:`~wsgateway.tasks.recovery`.

``AppConfig.ready()`` imports each module, so every process with Django set up (a worker too:
Celery's Django fix-up sets Django up before ``app.autodiscover_tasks()`` imports this package)
has every task registered. This package imports none of them itself: importing one task module
(the sending layer imports :mod:`wsgateway.tasks.fanout`) does not drag in the others, whose
imports lead back to the sending layer. Each task names its queue on the decorator
(``provisioning``, ``fanout``, ``maintenance``), so a project gets the routing without copying
``task_routes``.
"""
