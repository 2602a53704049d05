"""Backoff and retry policy: the one full-jitter backoff function and the policies built on it.

Every retry in wsgateway waits a full-jitter exponential backoff (a uniform draw between 0 and
``base * 2**attempt``, capped): fan-out chunks (:mod:`wsgateway.fanout.delivery`), provisioning
steps in the worker and in-process (:mod:`wsgateway.provisioning.retrying`). Full jitter spreads
the retries of many callers that failed together instead of sending them back in a burst.
"""

from __future__ import annotations

import random
from dataclasses import dataclass


def full_jitter(attempt: int, *, base: float, cap: float, floor: float = 0.0) -> float:
    """Seconds to wait before retry number ``attempt`` (0-based): uniform in
    ``[0, min(cap, base * 2**attempt)]``, and never less than ``floor``."""
    ceiling = min(cap, base * (2 ** max(0, attempt)))
    return max(floor, random.uniform(0, ceiling))  # noqa: S311 (jitter, not security)


@dataclass(frozen=True)
class RetryPolicy:
    """How often and how patiently one kind of failure is retried.

    ``max_retries`` retries follow the first try; retry ``n`` (0-based) waits
    :func:`full_jitter` of ``n`` with this policy's ``base``, ``cap`` and ``floor``.
    """

    max_retries: int
    base: float
    cap: float
    floor: float = 0.0

    def delay(self, attempt: int) -> float:
        """Seconds to wait before retry ``attempt`` (0-based)."""
        return full_jitter(attempt, base=self.base, cap=self.cap, floor=self.floor)

    def exhausted(self, retries_done: int) -> bool:
        """True once ``retries_done`` retries have used the whole budget."""
        return retries_done >= self.max_retries
