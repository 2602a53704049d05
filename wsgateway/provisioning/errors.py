"""Control-flow signals of the provisioning chain (not AWS errors: those live in ``wsgateway.exceptions``)."""

from __future__ import annotations

from wsgateway.exceptions import ProvisioningError


class QuotaWait(Exception):
    """A control-plane quota does not allow the call yet; retry the step after ``seconds``."""

    def __init__(self, kind: str, seconds: float) -> None:
        super().__init__(f"{kind} quota: next call allowed in {seconds:.2f}s")
        self.kind = kind
        self.seconds = seconds


class LockBusy(ProvisioningError):
    """Another run holds the gateway's provisioning lock."""

    def __init__(self, holder: str) -> None:
        super().__init__(f"locked by run {holder}")
        self.holder = holder


__all__ = ["LockBusy", "ProvisioningError", "QuotaWait"]
