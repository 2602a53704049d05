"""wsgateway: a Django app and Celery workers behind an AWS API Gateway WebSocket API."""

__version__ = "0.1.0"
