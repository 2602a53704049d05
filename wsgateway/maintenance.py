"""Housekeeping run by celery-beat: plain functions the maintenance tasks call.

Each function returns plain counts (what it removed, disconnected or probed) so the task can
return them as its result and log them in one structured line.

Stale sessions (docs/architecture.md §4: ``$disconnect`` is best effort, so rows can outlive their sockets):

- a live row older than API Gateway's connection lifetime (2 h) cannot be open any more: one
  bulk ``UPDATE`` marks every such row disconnected;
- a live row with no event for longer than the idle timeout (10 min) *may* be closed, but server
  pushes keep a socket alive without the client sending anything, so it is asked about:
  ``GET @connections/{id}``, at most ``probe_limit`` rows per run, oldest first, grouped by
  management endpoint. 410 → disconnected (bulk); 200 → alive, ``last_seen_at`` moves to now so
  the row is not probed again before another idle period; anything else (429, 5xx, 403, no
  answer) is counted and the row is left for the next run.

Every session marked disconnected loses its channel subscriptions, and a user left without a
connection on a presence channel is removed from it with a ``member_removed`` event
(:mod:`wsgateway.subscriptions`, :mod:`wsgateway.presence`).
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable
from dataclasses import asdict, dataclass, field
from datetime import timedelta
from typing import Any, cast

from django.db.models import Q
from django.utils import timezone

from wsgateway import disconnect, ratelimit, subscriptions
from wsgateway.aws.management import NO_ANSWER, Endpoint, get_engine, signer_for
from wsgateway.conf import wsgateway_settings
from wsgateway.fanout.limiter import RateLimitTimeout, SharedTokenBucket
from wsgateway.models import ApiGateway, ConnectionRateLimit, WebSocketSession, WebSocketToken
from wsgateway.payloads import SweepReport

#: Idle sessions probed per sweep run unless the caller says otherwise.
DEFAULT_PROBE_LIMIT = 1000
#: Probes sent per request to the shared account budget (and per ``call_many``).
PROBE_BATCH = 100
#: Longest wait for the shared budget before the rest of a run is counted as errors.
PROBE_BUDGET_WAIT_SECONDS = 10.0


def cleanup_tokens() -> int:
    """Delete used tokens and tokens older than ``TOKEN_RETENTION_SECONDS``."""
    deleted, _ = WebSocketToken.cleanup_expired(
        max_age_seconds=int(wsgateway_settings.TOKEN_RETENTION_SECONDS)
    )
    return deleted


def cleanup_rate_limits() -> int:
    """Delete rate-limit rows older than ``RATE_LIMIT_RETENTION_DAYS`` and the counters of ended
    windows (:mod:`wsgateway.ratelimit`)."""
    deleted, _ = ConnectionRateLimit.cleanup_old_records(days=wsgateway_settings.RATE_LIMIT_RETENTION_DAYS)
    return deleted + ratelimit.cleanup()


def purge_disconnected_sessions() -> int:
    """Delete disconnected session rows older than ``DISCONNECTED_RETENTION_DAYS``."""
    cutoff = timezone.now() - timedelta(days=wsgateway_settings.DISCONNECTED_RETENTION_DAYS)
    deleted, _ = WebSocketSession.objects.filter(connected=False, updated_on__lt=cutoff).delete()
    return deleted


@dataclass
class SweepResult:
    """What one stale-session sweep did."""

    #: live rows past the connection lifetime, marked disconnected without asking AWS
    expired: int = 0
    #: idle rows asked about with ``GET @connections``
    probed: int = 0
    #: probed rows API Gateway answered 410 for, marked disconnected
    gone: int = 0
    #: probed rows that are still open (their ``last_seen_at`` moved to now)
    alive: int = 0
    #: probes that got neither 200 nor 410 (throttled, 5xx, 403, no answer); rows left as they were
    errors: int = 0
    #: ``errors`` by cause: HTTP status, ``no_answer`` or ``budget``
    errors_by: dict[str, int] = field(default_factory=dict)

    def error(self, cause: str, n: int = 1) -> None:
        self.errors += n
        self.errors_by[cause] = self.errors_by.get(cause, 0) + n

    def as_dict(self) -> SweepReport:
        return cast("SweepReport", asdict(self))  # the TypedDict names these fields one to one


def disconnect_expired_sessions(now: Any = None) -> int:
    """Mark live rows connected longer than ``CONNECTION_LIFETIME_SECONDS`` disconnected (one UPDATE)."""
    now = now or timezone.now()
    cutoff = now - timedelta(seconds=float(wsgateway_settings.CONNECTION_LIFETIME_SECONDS))
    return WebSocketSession.objects.filter(connected_at__lt=cutoff).mark_disconnected(now)


def probe_endpoints() -> dict[int, str]:
    """Management endpoint URL by gateway pk, for every gateway that has one (gateways are few)."""
    urls: dict[int, str] = {}
    gateways = ApiGateway.objects.filter(~Q(api_endpoint="") | Q(custom_domain_created=True))
    for gateway in gateways:
        url = gateway.management_endpoint_url
        if url:
            urls[gateway.pk] = url
    return urls


def idle_candidates(limit: int, gateway_ids: Iterable[int], now: Any = None) -> list[tuple[str, int]]:
    """``(connection_id, api_gateway_id)`` of the ``limit`` longest-idle live rows on ``gateway_ids``.

    Only gateways with a management endpoint are passed: rows that cannot be probed are left to
    the lifetime sweep, so they never take slots from probeable rows run after run.
    """
    gateway_ids = list(gateway_ids)
    if limit <= 0 or not gateway_ids:
        return []
    now = now or timezone.now()
    cutoff = now - timedelta(seconds=float(wsgateway_settings.IDLE_TIMEOUT_SECONDS))
    rows = (
        WebSocketSession.objects.filter(
            connected=True, last_seen_at__lt=cutoff, api_gateway_id__in=gateway_ids
        )
        .order_by("last_seen_at", "id")
        .values_list("connection_id", "api_gateway_id")[:limit]
    )
    return [(connection_id, gateway_id) for connection_id, gateway_id in rows if gateway_id is not None]


def probe_connections(endpoint_url: str, connection_ids: list[str]) -> list[int]:
    """``GET @connections/{id}`` for each id on one endpoint; the HTTP statuses (0 = no answer).

    Uses the fan-out's pooled SigV4 client and takes its requests from the shared account budget
    (:class:`~wsgateway.fanout.limiter.SharedTokenBucket`).
    """
    endpoint = Endpoint.from_url(endpoint_url)
    engine = get_engine()
    client = engine.client(endpoint)
    signer = signer_for(endpoint)
    limiter = SharedTokenBucket()
    statuses: list[int] = []
    for start in range(0, len(connection_ids), PROBE_BATCH):
        batch = connection_ids[start : start + PROBE_BATCH]
        limiter.take(len(batch), max_wait=PROBE_BUDGET_WAIT_SECONDS)
        answers = engine.run(
            client.call_many(
                "GET",
                batch,
                signer,
                concurrency=int(wsgateway_settings.FANOUT_CONCURRENCY),
                timeout=float(wsgateway_settings.FANOUT_REQUEST_TIMEOUT_SECONDS),
            )
        )
        statuses.extend(a.status for a in answers)
    return statuses


def sweep_stale_sessions(probe_limit: int = DEFAULT_PROBE_LIMIT) -> SweepResult:
    """Disconnect rows past the lifetime; probe up to ``probe_limit`` idle rows (see module doc)."""
    result = SweepResult()
    now = timezone.now()
    result.expired = disconnect_expired_sessions(now)

    endpoints = probe_endpoints()
    by_endpoint: dict[str, list[str]] = defaultdict(list)
    for connection_id, gateway_id in idle_candidates(probe_limit, endpoints, now):
        url = endpoints.get(gateway_id)
        if url:
            by_endpoint[url].append(connection_id)

    gone: list[str] = []
    alive: list[str] = []
    for url, connection_ids in by_endpoint.items():
        try:
            statuses = probe_connections(url, connection_ids)
        except ValueError:  # a malformed endpoint URL: nothing on it can be probed
            result.error("bad_endpoint", len(connection_ids))
            continue
        except RateLimitTimeout:  # the account budget is exhausted by fan-out: try next run
            result.error("budget", len(connection_ids))
            continue
        result.probed += len(statuses)
        for connection_id, status in zip(connection_ids, statuses, strict=True):
            if status == 410:
                gone.append(connection_id)
            elif 200 <= status < 300:
                alive.append(connection_id)
            else:
                result.error("no_answer" if status == NO_ANSWER else str(status))

    marked = timezone.now()
    result.gone = disconnect.mark_disconnected(gone, marked)
    # An alive row counts as seen now, so it is probed again only after another idle period.
    result.alive = len(alive)
    disconnect.update_live(alive, last_seen_at=marked)
    # The marks above released their sessions' subscriptions and presence; this also catches
    # rows marked disconnected some other way (e.g. a project's own UPDATE), so no stale
    # subscriber is planned for and no stale member stays listed (wsgateway.subscriptions).
    subscriptions.release_disconnected()
    return result
