"""Fault injection for @connections and control-plane requests.

Decisions come from one ``random.Random`` so a run with ``seed`` set is reproducible (for a
given request order). A fault is decided *before* delivery: a 429/500 means "not delivered".
"""

from __future__ import annotations

import asyncio
import random
import time

from .config import EmulatorConfig
from .errors import AwsError, too_many_requests


class FaultInjector:
    """Draws fault decisions and control-plane throttling according to an :class:`EmulatorConfig`."""

    def __init__(self, config: EmulatorConfig) -> None:
        self.config = config
        self._seed = config.seed
        # Not for security: reproducible test/benchmark faults.
        self._rng = random.Random(config.seed)  # noqa: S311
        self._last_call: dict[str, float] = {}

    def _sync_seed(self) -> None:
        # The seed can be changed at runtime; reseeding makes the next draws reproducible.
        if self.config.seed != self._seed:
            self._seed = self.config.seed
            self._rng.seed(self._seed)

    def reseed(self) -> None:
        """Restart the random sequence from the configured seed."""
        self._seed = self.config.seed
        self._rng.seed(self._seed)

    @property
    def active(self) -> bool:
        """Whether any management fault or latency is configured (the hot path skips us if not)."""
        cfg = self.config
        return bool(cfg.fail_429 or cfg.fail_500 or cfg.latency_ms or cfg.latency_max_ms)

    def management_fault(self) -> int:
        """0 for "no fault", or the status (429/500) to answer instead of delivering."""
        cfg = self.config
        if not (cfg.fail_429 or cfg.fail_500):
            return 0
        self._sync_seed()
        draw = self._rng.random()
        if draw < cfg.fail_429:
            return 429
        if draw < cfg.fail_429 + cfg.fail_500:
            return 500
        return 0

    def latency(self) -> float:
        """Seconds to wait before answering (0 when no latency is configured)."""
        cfg = self.config
        low = cfg.latency_ms
        high = cfg.latency_max_ms
        if high is not None and high > low:
            self._sync_seed()
            return self._rng.uniform(low, high) / 1000.0
        return low / 1000.0

    async def delay(self) -> None:
        """Sleep for the configured latency, if any."""
        seconds = self.latency()
        if seconds > 0:
            await asyncio.sleep(seconds)

    def control_plane_fault(self) -> AwsError | None:
        """A TooManyRequestsException for a configured fraction of control-plane calls."""
        if not self.config.control_plane_fail:
            return None
        self._sync_seed()
        if self._rng.random() < self.config.control_plane_fail:
            return too_many_requests("Too Many Requests (injected fault)")
        return None

    def throttle(self, bucket: str, interval: float) -> AwsError | None:
        """AWS's per-operation control-plane rate limits (when ``throttle_control_plane`` is on)."""
        if not self.config.throttle_control_plane:
            return None
        now = time.monotonic()
        last = self._last_call.get(bucket)
        if last is not None and now - last < interval:
            return too_many_requests("Too Many Requests", limit_type=bucket)
        self._last_call[bucket] = now
        return None
