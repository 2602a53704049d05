"""Every control-plane call of the chain goes through :func:`call`: quota first, then the call
with AWS errors translated at the boundary (``wsgateway.aws.aws_call``)."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from wsgateway.aws import aws_call
from wsgateway.exceptions import NotFoundError
from wsgateway.provisioning import quotas

_MAX_PAGES = 1000  # bounded pagination: 1000 pages of 100 items is far beyond AWS's limits


def call(client: Any, operation: str, *, api_id: str | None = None, **params: Any) -> dict[str, Any]:
    """Call ``client.<operation>(**params)`` within its quota; errors become wsgateway exceptions."""
    quotas.acquire(quotas.kind_of(operation), region=quotas.region_of(client))
    with aws_call(operation, api_id=api_id or params.get("ApiId")):
        result: dict[str, Any] = getattr(client, operation)(**params)
    return result


def get_or_none(client: Any, operation: str, **params: Any) -> dict[str, Any] | None:
    """A ``get_*`` call answering ``None`` for NotFound."""
    try:
        return call(client, operation, **params)
    except NotFoundError:
        return None


def items(client: Any, operation: str, **params: Any) -> Iterator[dict[str, Any]]:
    """Every item of a paginated ``get_*s`` call (``Items`` / ``NextToken``)."""
    token: str | None = None
    for _ in range(_MAX_PAGES):
        page = call(client, operation, **params, **({"NextToken": token} if token else {}))
        yield from page.get("Items", [])
        token = page.get("NextToken")
        if not token:
            return
