"""What a step works with: the gateway row, the boto3 clients and the run it belongs to."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from wsgateway.aws import apigatewayv2_client, route53_client
from wsgateway.models import ApiGateway

if TYPE_CHECKING:
    from mypy_boto3_apigatewayv2 import ApiGatewayV2Client
    from mypy_boto3_route53 import Route53Client

#: Results a step reports for the resource it handled (also the log's ``result=``).
CREATED = "created"
REUSED = "reused"
UPDATED = "updated"
DELETED = "deleted"
SKIPPED = "skipped"


class StepContext:
    """The gateway (fresh from the database), its run id, and its clients: the control-plane
    client given (else the configured one) and a Route 53 client created when first needed."""

    def __init__(self, gateway: ApiGateway, run_id: str, client: ApiGatewayV2Client | None = None) -> None:
        self.gateway = gateway
        self.run_id = run_id
        self.client: ApiGatewayV2Client = client if client is not None else apigatewayv2_client()
        self._route53: Route53Client | None = None

    @property
    def route53(self) -> Route53Client:
        """A Route 53 client (only domain steps with a hosted zone need one)."""
        if self._route53 is None:
            self._route53 = route53_client()
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
