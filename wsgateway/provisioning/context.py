"""What a step works with: the gateway row, the boto3 clients and the run it belongs to."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from wsgateway.aws import get_boto3_client
from wsgateway.models import ApiGateway

#: Results a step reports for the resource it handled (also the log's ``result=``).
CREATED = "created"
REUSED = "reused"
UPDATED = "updated"
DELETED = "deleted"
SKIPPED = "skipped"


@dataclass
class StepContext:
    """The gateway (fresh from the database), its run id, and lazily created clients."""

    gateway: ApiGateway
    run_id: str
    client: Any = None
    _route53: Any = field(default=None, repr=False)

    def __post_init__(self) -> None:
        if self.client is None:
            self.client = get_boto3_client("apigatewayv2")

    @property
    def route53(self) -> Any:
        """A Route 53 client (only domain steps with a hosted zone need one)."""
        if self._route53 is None:
            self._route53 = get_boto3_client("route53")
        return self._route53

    def record(self, **fields: Any) -> None:
        """Write ``fields`` on the gateway row now (committed before the next AWS call)."""
        for name, value in fields.items():
            setattr(self.gateway, name, value)
        self.gateway.save(update_fields=list(fields))


def merge(results: list[str]) -> str:
    """One result for several resources: created > updated > reused > skipped."""
    for result in (CREATED, DELETED, UPDATED, REUSED):
        if result in results:
            return result
    return SKIPPED
