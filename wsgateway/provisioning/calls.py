"""Every control-plane call of the chain goes through :func:`call`: quota first, then the call
with AWS errors translated at the boundary (``wsgateway.aws.aws_call``).

Calls take the boto3 method itself (``call(client.get_route, ApiId=…, RouteId=…)``), so the type
checker holds the arguments and the answer to the method's signature in ``boto3-stubs``; the
operation's name (for its quota and in errors) is the method's name.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any, Generic, NotRequired, ParamSpec, TypedDict, TypeVar, cast

from wsgateway.aws import aws_call
from wsgateway.exceptions import NotFoundError
from wsgateway.provisioning import quotas

_MAX_PAGES = 1000  # bounded pagination: 1000 pages of 100 items is far beyond AWS's limits

P = ParamSpec("P")
R = TypeVar("R")
T = TypeVar("T")


class Page(TypedDict, Generic[T]):
    """The shape every paginated ``get_*s`` answer of ``apigatewayv2`` shares."""

    Items: list[T]
    NextToken: NotRequired[str]


def call(operation: Callable[P, R], /, *args: P.args, **params: P.kwargs) -> R:
    """Call ``operation(**params)`` (a boto3 client method) within its quota; errors become
    wsgateway exceptions."""
    name = operation_name(operation)
    # The client's own region: a caller may pass a client for another region (reference ``client=``).
    quotas.acquire(quotas.kind_of(name), region=quotas.region_of(getattr(operation, "__self__", None)))
    with aws_call(name, api_id=params.get("ApiId")):
        return operation(*args, **params)


def operation_name(operation: Callable[..., Any]) -> str:
    """The AWS operation a client method performs (its quota kind and its name in errors).

    A stand-in client (``unittest.mock``, which code and tests written for the reference pass as
    ``client=``) has methods without ``__name__``; the mock keeps the attribute's name instead.
    """
    name = getattr(operation, "__name__", None) or getattr(operation, "_mock_name", None)
    return name if isinstance(name, str) and name else "unknown_operation"


def get_or_none(operation: Callable[P, R], /, *args: P.args, **params: P.kwargs) -> R | None:
    """A ``get_*`` call answering ``None`` for NotFound."""
    try:
        return call(operation, *args, **params)
    except NotFoundError:
        return None


def items(operation: Callable[P, Page[T]], /, *args: P.args, **params: P.kwargs) -> Iterator[T]:
    """Every item of a paginated ``get_*s`` call (``Items`` / ``NextToken``)."""
    # NextToken is not among the caller's parameters: the follow-up pages are called untyped.
    untyped = cast(Callable[..., Page[T]], operation)
    token: str | None = None
    for _ in range(_MAX_PAGES):
        extra: dict[str, Any] = {"NextToken": token} if token else {}
        page = call(untyped, *args, **params, **extra)
        yield from page.get("Items", [])
        token = page.get("NextToken")
        if not token:
            return
