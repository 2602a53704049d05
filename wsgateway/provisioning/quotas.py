"""Control-plane quotas shared by every worker (docs/architecture.md §4, §5), in Redis.

AWS allows CreateDeployment once per 5 s, Create/Update/DeleteDomainName once per 30 s and other
control-plane calls 10 per second (burst 40), per account and region. Celery's ``rate_limit`` is
per worker, so the spacing lives in Redis: one key per quota, taken from with the package's one
rate-limit script (:mod:`wsgateway.gcra`), which runs on Redis's clock so workers on different
machines agree.

:func:`reserve` either takes a slot (returns 0) or says how long to wait without taking one.
:func:`acquire` waits short delays in place and raises :class:`QuotaWait` for long ones, so a
worker never sleeps 30 s: the task retries itself with that countdown instead.
"""

from __future__ import annotations

import time
from typing import Any

from wsgateway import gcra
from wsgateway.aws import get_region_name
from wsgateway.conf import wsgateway_settings
from wsgateway.exceptions import RegionNotConfiguredError
from wsgateway.provisioning.errors import QuotaWait

DEPLOYMENT = "deployment"
DOMAIN_NAME = "domain_name"
CONTROL = "control"

#: AWS's burst for "other" control-plane calls.
CONTROL_BURST = 40
#: Waits up to this long are slept in place; longer ones become a task retry.
INLINE_WAIT_SECONDS = 1.0

_OPERATION_KINDS = {
    "create_deployment": DEPLOYMENT,
    "create_domain_name": DOMAIN_NAME,
    "update_domain_name": DOMAIN_NAME,
    "delete_domain_name": DOMAIN_NAME,
}


def kind_of(operation: str) -> str:
    """The quota an ``apigatewayv2`` operation counts against."""
    return _OPERATION_KINDS.get(operation, CONTROL)


def _interval_and_burst(kind: str) -> tuple[float, int]:
    if kind == DEPLOYMENT:
        return float(wsgateway_settings.DEPLOYMENT_INTERVAL_SECONDS), 1
    if kind == DOMAIN_NAME:
        return float(wsgateway_settings.DOMAIN_NAME_INTERVAL_SECONDS), 1
    return 1.0 / float(wsgateway_settings.CONTROL_PLANE_CALLS_PER_SECOND), CONTROL_BURST


#: The quota bucket of calls whose region nothing tells (a caller's client without one, and no
#: region configured): they share one bucket, which spaces them at least as much as AWS does.
UNKNOWN_REGION = "unknown-region"


def region_of(client: Any) -> str:
    """The region a call goes to: the client's own (a caller may pass a client for another region,
    as the reference's ``client=`` arguments allow), else the configured one, else
    :data:`UNKNOWN_REGION` (a caller's client needs no region setting to be used)."""
    region = getattr(getattr(client, "meta", None), "region_name", None)
    if isinstance(region, str) and region:
        return region
    try:
        return get_region_name()
    except RegionNotConfiguredError:
        return UNKNOWN_REGION


def quota_key(kind: str, region: str | None = None) -> str:
    """The Redis key of a quota (per region: AWS counts per account and region)."""
    return f"wsgateway:provisioning:quota:{kind}:{region or get_region_name()}"


def reserve(kind: str, region: str | None = None) -> float:
    """Take a slot of ``kind`` now (returns 0.0) or return the seconds until one is free."""
    interval, burst = _interval_and_burst(kind)
    return gcra.take(quota_key(kind, region), interval=interval, burst=burst)


def acquire(kind: str, *, inline_wait: float = INLINE_WAIT_SECONDS, region: str | None = None) -> None:
    """Take a slot of ``kind`` (in ``region``, default the configured one), sleeping waits up to
    ``inline_wait``; raise :class:`QuotaWait` otherwise."""
    deadline = time.monotonic() + inline_wait
    for _ in range(50):  # bounded: contention could otherwise spin
        wait = reserve(kind, region)
        if wait <= 0:
            return
        if time.monotonic() + wait > deadline:
            raise QuotaWait(kind, wait)
        time.sleep(wait)
    raise QuotaWait(kind, inline_wait)
