"""Django settings of the reference side of ``benchmarks/inbound.py`` (run by ``inbound_reference.py``).

The reference package 4.1.0 (``django_aws_api_gateway_websockets``) in its own virtualenv
(``benchmarks/peers.py``), with the same middleware chain as wsgateway's side (the test suite's),
``DEBUG = False``, persistent database connections, and the scratch SQLite file the parent names
in ``INBOUND_REFERENCE_DATABASE``.
"""

from __future__ import annotations

import os

from benchmarks.inbound_wsgi import HOST, SECRET
from tests import middleware_chain

DEBUG = False
SECRET_KEY = "wsgateway-benchmark-reference-side-not-for-production"  # noqa: S105 (a benchmark's)
# The reference compares the Host with ALLOWED_HOSTS literally (no wildcards).
ALLOWED_HOSTS = [HOST]
INSTALLED_APPS = [
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "django_aws_api_gateway_websockets",
]
MIDDLEWARE = list(middleware_chain.MIDDLEWARE)  # wsgateway's side runs the same chain
ROOT_URLCONF = "benchmarks.inbound_reference"
DATABASES = {
    "default": {
        "ENGINE": "django.db.backends.sqlite3",
        "NAME": os.environ.get("INBOUND_REFERENCE_DATABASE", ":memory:"),
        "CONN_MAX_AGE": None,
    }
}
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"
USE_TZ = True
TIME_ZONE = "UTC"
PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]
WEBSOCKETS = {"gateway_secret": SECRET}
