"""The runnable wsgateway project: Django settings, urls and the Celery app.

Importing the package loads the Celery app so ``@shared_task`` binds to it.
"""

from worker.celery import app as celery_app

__all__ = ["celery_app"]
