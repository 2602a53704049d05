"""The account-wide request budget, shared by every worker through Redis (docs/architecture.md §5).

Celery's ``rate_limit`` is per worker; API Gateway's 10,000 requests/s (burst 5,000) is per
account and region, shared with all other API Gateway traffic. A token bucket in one Redis hash,
refilled and drawn from atomically by a Lua script using Redis' own clock (so workers on hosts
with skewed clocks still agree), enforces it across processes and machines.

Workers take tokens in batches (``token_batch`` in the client) to keep Redis round-trips far
below the request rate.
"""

from __future__ import annotations

import asyncio
import time

from wsgateway.conf import wsgateway_settings
from wsgateway.fanout.redis_client import get_redis

BUCKET_KEY = "wsgateway:fanout:bucket"

# Returns {granted, wait_seconds_as_string}: all-or-nothing for n tokens.
_TAKE = """
local t = redis.call('TIME')
local now = tonumber(t[1]) + tonumber(t[2]) / 1000000
local rate = tonumber(ARGV[1])
local burst = tonumber(ARGV[2])
local n = tonumber(ARGV[3])
local state = redis.call('HMGET', KEYS[1], 'tokens', 'ts')
local tokens = tonumber(state[1])
local ts = tonumber(state[2])
if tokens == nil or ts == nil then
  tokens = burst
  ts = now
end
local elapsed = now - ts
if elapsed < 0 then elapsed = 0 end
tokens = math.min(burst, tokens + elapsed * rate)
local granted = 0
local wait = 0
if tokens >= n then
  tokens = tokens - n
  granted = n
else
  wait = (n - tokens) / rate
end
redis.call('HSET', KEYS[1], 'tokens', tostring(tokens), 'ts', tostring(now))
redis.call('PEXPIRE', KEYS[1], math.ceil(burst / rate * 1000) + 1000)
return {granted, tostring(wait)}
"""


class RateLimitTimeout(Exception):
    """Tokens were not available within the allowed wait."""


class SharedTokenBucket:
    """A token bucket in Redis; ``rate`` tokens per second, at most ``burst`` stored."""

    def __init__(self, rate: float | None = None, burst: float | None = None, key: str = BUCKET_KEY) -> None:
        self.rate = float(rate if rate is not None else wsgateway_settings.ACCOUNT_REQUESTS_PER_SECOND)
        self.burst = float(burst if burst is not None else wsgateway_settings.ACCOUNT_BURST)
        self.key = key
        self._script = get_redis().register_script(_TAKE)

    def try_take(self, n: int) -> float:
        """Take ``n`` tokens now if available: returns 0.0, else the seconds to wait first."""
        n = max(1, min(int(n), int(self.burst)))
        granted, wait = self._script(keys=[self.key], args=[self.rate, self.burst, n])
        return 0.0 if int(granted) else max(float(wait), 0.001)

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
