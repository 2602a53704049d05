"""Bulk marking of sessions API Gateway no longer holds (410 after the grace period, kicks).

The implementation is :func:`wsgateway.disconnect.mark_disconnected`, shared with the sweep.
"""

from __future__ import annotations

from wsgateway.disconnect import mark_disconnected

__all__ = ["mark_disconnected"]
