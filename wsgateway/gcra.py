"""The one rate-limit script kept in Redis: GCRA, the token bucket as a single timestamp.

Both shared budgets use it: the account's data-plane request budget
(:mod:`wsgateway.fanout.limiter`, docs/architecture.md §5) and the control-plane quotas
(:mod:`wsgateway.provisioning.quotas`, docs/architecture.md §4). Celery's ``rate_limit`` is per
worker; these limits are per AWS account and region, so they live in Redis and are evaluated
atomically by a Lua script with Redis's own clock (workers on hosts with skewed clocks agree).

GCRA ("generic cell rate algorithm") stores one number per limit, the *theoretical arrival time*
(TAT): when the bucket would be full again. A bucket of ``burst`` tokens refilled at one token
per ``interval`` holds ``burst - (TAT - now) / interval`` tokens, so taking ``n`` tokens is
allowed when ``TAT - now <= (burst - n) * interval`` and moves the TAT ``n * interval`` ahead.
That is exactly a token bucket's all-or-nothing take; a refused take changes nothing and answers
how long until it would succeed.
"""

from __future__ import annotations

from wsgateway.redis_client import get_redis

# KEYS[1]: the limit's key. ARGV: interval (µs per token), burst (tokens), n (tokens wanted).
# Returns 0 when the n tokens were taken, else the µs to wait (rounded up: never a false 0).
# Times are in µs as Lua doubles: exact below 2^53 µs (the year 2255).
_SCRIPT = """
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000000 + tonumber(t[2])
local interval = tonumber(ARGV[1])
local burst = tonumber(ARGV[2])
local n = tonumber(ARGV[3])
local tat = tonumber(redis.call('GET', KEYS[1]) or '0')
if tat < now then tat = now end
local allowed_at = tat - (burst - n) * interval
if now < allowed_at then return math.ceil(allowed_at - now) end
local new_tat = tat + n * interval
redis.call('SET', KEYS[1], string.format('%.0f', new_tat), 'PX', math.ceil((new_tat - now) / 1000) + 1000)
return 0
"""


def take(key: str, *, interval: float, burst: float, n: int = 1) -> float:
    """Take ``n`` tokens from the limit at ``key`` now (returns 0.0), else return the seconds to wait.

    The limit refills one token every ``interval`` seconds and holds at most ``burst`` tokens;
    ``n`` must not exceed ``burst`` (such a take could never succeed). ``interval <= 0`` means
    no limit.
    """
    if interval <= 0:
        return 0.0
    if n > burst:
        raise ValueError(f"cannot take {n} tokens from a burst of {burst}")
    # EVALSHA (register_script) so the hot path does not send the script on every take.
    script = get_redis().register_script(_SCRIPT)
    waited = script(keys=[key], args=[interval * 1_000_000, burst, n])
    return int(waited) / 1_000_000
