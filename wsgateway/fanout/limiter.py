"""The account-wide request budget, shared by every worker through Redis (docs/architecture.md §5).

Celery's ``rate_limit`` is per worker; API Gateway's 10,000 requests/s (burst 5,000) is per
account and region, shared with all other API Gateway traffic. A token bucket in one Redis key,
drawn from with the package's one rate-limit script (:mod:`wsgateway.gcra`, Redis's own clock, so
workers on hosts with skewed clocks still agree), enforces it across processes and machines.

Workers take tokens in batches (``token_batch`` in the client) to keep Redis round-trips far
below the request rate.
"""

from __future__ import annotations

import asyncio
import time

from wsgateway import gcra
from wsgateway.conf import wsgateway_settings

# A string (the GCRA's arrival time); the name differs from the earlier hash-shaped bucket's
# ("wsgateway:fanout:bucket") so workers of both versions during an upgrade never share a key.
BUCKET_KEY = "wsgateway:fanout:budget"


class RateLimitTimeout(Exception):
    """Tokens were not available within the allowed wait."""


class SharedTokenBucket:
    """A token bucket in Redis; ``rate`` tokens per second, at most ``burst`` stored."""

    def __init__(self, rate: float | None = None, burst: float | None = None, key: str = BUCKET_KEY) -> None:
        self.rate = float(rate if rate is not None else wsgateway_settings.ACCOUNT_REQUESTS_PER_SECOND)
        self.burst = float(burst if burst is not None else wsgateway_settings.ACCOUNT_BURST)
        self.key = key

    def try_take(self, n: int) -> float:
        """Take ``n`` tokens now if available: returns 0.0, else the seconds to wait first."""
        n = max(1, min(int(n), int(self.burst)))
        wait = gcra.take(self.key, interval=1.0 / self.rate, burst=self.burst, n=n)
        return 0.0 if wait <= 0 else max(wait, 0.001)

    def _wait_or_raise(self, n: int, deadline: float, max_wait: float) -> float:
        wait = self.try_take(n)
        if wait and time.monotonic() + wait > deadline:
            raise RateLimitTimeout(f"no {n} tokens within {max_wait}s")
        return wait

    def take(self, n: int, max_wait: float = 60.0) -> None:
        """Block until ``n`` tokens are taken (at most ``max_wait`` seconds)."""
        deadline = time.monotonic() + max_wait
        while wait := self._wait_or_raise(n, deadline, max_wait):
            time.sleep(wait)

    async def atake(self, n: int, max_wait: float = 60.0) -> None:
        """Like :meth:`take` without blocking the event loop while waiting."""
        deadline = time.monotonic() + max_wait
        while wait := self._wait_or_raise(n, deadline, max_wait):
            await asyncio.sleep(wait)
