"""Keeping a deployed API Gateway and its rows in line: the reference package's ``sync`` module.

:func:`push_gateway` writes the rows' values to AWS and :func:`pull_gateway` reads AWS's values
into the rows; both return one plain sentence per change (empty when the two sides match).

In wsgateway nothing in a web request calls AWS: the admin's "Sync to AWS" / "Sync from AWS",
``ApiGateway.sync_to_aws()`` / ``sync_from_aws()`` and a ``save()`` of a deployed gateway
*enqueue* these operations (:mod:`wsgateway.provisioning`). The functions here run the same
operations in this process, as a worker does, on top of the provisioning steps: the work itself
lives in :mod:`wsgateway.provisioning.steps` and :mod:`wsgateway.provisioning.reconcile`.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import TYPE_CHECKING, Any

from wsgateway.aws import translate_error  # the one place botocore errors are read
from wsgateway.exceptions import ApiGatewaySyncError, AwsError, NotFoundError, WsGatewayError
from wsgateway.models import SYNCED_GATEWAY_FIELDS, ApiGateway
from wsgateway.payloads import StepResult
from wsgateway.provisioning import spec
from wsgateway.provisioning.calls import items
from wsgateway.provisioning.errors import LockBusy
from wsgateway.provisioning.runner import STOP, run_inline

if TYPE_CHECKING:
    from wsgateway.aws.types import ApiGatewayV2Client, IntegrationTypeDef, RouteTypeDef

__all__ = [
    "API_FIELDS",
    "DEFAULT_ROUTE_KEYS",
    "SYNCED_GATEWAY_FIELDS",
    "ApiGatewaySyncError",
    "describe_error",
    "describe_pull",
    "describe_push",
    "integration_id_of",
    "is_not_found",
    "list_integrations",
    "list_routes",
    "pull_gateway",
    "push_gateway",
]

#: The routes every gateway has, in the reference's order.
DEFAULT_ROUTE_KEYS = tuple(route.route_key for route in spec.BUILTIN_ROUTES)

#: Row field → the member of the AWS API that holds it (the reference's orientation).
API_FIELDS = {attribute: member for member, attribute in spec.API_FIELDS.items()}

_INTEGRATION_PREFIX = "integrations/"


def describe_error(error: BaseException) -> str:
    """A short description of an AWS error, safe to show to a user and to store.

    The exception's class name and, when AWS gave one, its error code; never AWS's message
    (it can echo request values).
    """
    code = getattr(error, "aws_code", None) if isinstance(error, WsGatewayError) else _aws_code(error)
    return f"{type(error).__name__}: {code}" if code else type(error).__name__


def _aws_code(error: BaseException) -> str | None:
    if not isinstance(error, Exception):
        return None
    try:
        return translate_error(error).aws_code
    except TypeError:  # not an AWS error at all
        return None


def is_not_found(error: BaseException) -> bool:
    """``True`` if AWS reports that the thing asked for does not exist."""
    if isinstance(error, NotFoundError):
        return True
    return _aws_code(error) == "NotFoundException"


def integration_id_of(route: dict[str, Any]) -> str:
    """The integration id a route targets (``integrations/<id>``), or ``""``."""
    target = str(route.get("Target") or "")
    return target[len(_INTEGRATION_PREFIX) :] if target.startswith(_INTEGRATION_PREFIX) else ""


def list_routes(client: ApiGatewayV2Client, api_id: str) -> list[RouteTypeDef]:
    """Every route of the API (all pages), each call within the control-plane quota."""
    return list(items(client.get_routes, ApiId=api_id))


def list_integrations(client: ApiGatewayV2Client, api_id: str) -> dict[str, IntegrationTypeDef]:
    """Every integration of the API, by integration id."""
    return {item["IntegrationId"]: item for item in items(client.get_integrations, ApiId=api_id)}


def _run(operation: str, gateway: ApiGateway, client: ApiGatewayV2Client | None) -> list[StepResult]:
    """Run ``operation`` here; AWS failures and a busy gateway become :class:`ApiGatewaySyncError`."""
    try:
        results = run_inline(operation, int(gateway.pk), client=client)
    except (AwsError, LockBusy) as err:
        raise ApiGatewaySyncError(describe_error(err)) from err
    if results and results[-1].get(STOP):
        raise ApiGatewaySyncError(str(results[-1].get("message") or "the run stopped"))
    return results


def push_gateway(
    gateway: ApiGateway, client: ApiGatewayV2Client | None = None, fields: Iterable[str] | None = None
) -> list[str]:
    """Write a deployed gateway's row values to AWS, then deploy the stage if anything changed.

    Runs the ``push_changes`` operation in this process: the API's name, description and
    selection expressions, the built-in integrations (``target_base_endpoint``), the built-in
    and additional routes (created when missing), the stage description, and a deployment
    when AWS's configuration changed. Routes that exist only in AWS are left alone (the
    admin's "Sync to AWS" removes them).

    :param gateway: The saved ``ApiGateway``.
    :param client: An ``apigatewayv2`` client; wsgateway's configured one when ``None``.
    :param fields: Names of the row fields that changed. Every field is compared anyway (each
        step brings AWS in line field by field); a set naming none of the fields AWS holds
        returns ``[]`` without calling AWS.
    :returns: One sentence per change made in AWS.
    :raises ApiGatewaySyncError: AWS refused a change or could not be reached, or another run
        holds the gateway.
    """
    if fields is not None and not set(fields) & set(SYNCED_GATEWAY_FIELDS):
        return []
    return describe_push(gateway, _run("push_changes", gateway, client))


def pull_gateway(gateway: ApiGateway, client: ApiGatewayV2Client | None = None) -> list[str]:
    """Read a deployed gateway from AWS into its rows; AWS is not changed.

    Runs the ``sync_from_aws`` operation in this process. Nothing is deleted locally; a route
    that exists only in AWS is reported, not added.

    :returns: One sentence per difference found (and, where the row can hold it, pulled).
    :raises ApiGatewaySyncError: AWS could not be read, or another run holds the gateway.
    """
    return describe_pull(_run("sync_from_aws", gateway, client))


def describe_push(gateway: ApiGateway, results: list[StepResult]) -> list[str]:
    """Sentences for the step results of a push (``push_changes`` or ``sync_to_aws``) run."""
    base = gateway.target_base_endpoint or ""
    sentences: list[str] = []
    for result in results:
        name = str(result.get("step", "")).partition(":")[0]
        outcome = result.get("result")
        if name == "create_api":
            if outcome == "created":
                sentences.append("Created the API")
            sentences.extend(f"Updated the API {member}" for member in result.get("changed", []))
        elif name == "integrations":
            for key, done in result.get("integrations", {}).items():
                if done in ("created", "updated"):
                    sentences.append(f"Pointed the {key} route at {base}{key.lstrip('$')}")
        elif name in ("routes", "additional_routes"):
            for key, done in result.get("routes", {}).items():
                if done == "created":
                    sentences.append(f"Created the {key} route")
                elif done == "updated":
                    sentences.append(f"Updated the {key} route")
        elif name == "prune_routes":
            sentences.extend(f"Deleted the {key} route" for key in result.get("deleted_routes", []))
        elif name == "stage" and outcome in ("created", "updated"):
            sentences.append("Created the stage" if outcome == "created" else "Updated the stage description")
        elif name == "deploy" and outcome == "created":
            sentences.append("Deployed the stage")
    return sentences


def describe_pull(results: list[StepResult]) -> list[str]:
    """Sentences for the differences a ``sync_from_aws`` run found."""
    sentences: list[str] = []
    for difference in results[-1].get("differences", []) if results else []:
        field = str(difference["field"])
        if field.startswith("route["):
            key, _, attribute = field[len("route[") :].partition("]")
            if difference["row"] is None and not attribute:
                sentences.append(f"The {key} route is only in AWS")
            else:
                sentences.append(f"Updated the {key} route ({attribute.lstrip('.')})")
        else:
            sentences.append(f"Updated {field}")
    return sentences
