"""The settings mypy's Django plugin loads (``[tool.django-stubs]`` in pyproject.toml).

The test settings, without the Redis a test run starts for itself: mypy leaves with
``os._exit``, so the ``atexit`` hook that stops that server never runs, and every type check
left a ``redis-server`` behind. Nothing connects to the URL given here.
"""

import os

os.environ.setdefault("WSGATEWAY_TEST_REDIS_URL", "redis://127.0.0.1:9/0")

from tests.settings import *  # noqa: F403
