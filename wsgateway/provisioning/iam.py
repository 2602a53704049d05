"""Least-privilege IAM policy documents for one gateway row (``printIamPolicy``).

Two roles, two policies:

- **provisioning** (the worker consuming the ``provisioning`` queue): the ``apigatewayv2`` control
  plane. API Gateway authorises it with the HTTP verb as the action (``apigateway:GET``, ``POST``,
  ``PATCH``, ``DELETE``) on the resource path as the ARN, ``arn:aws:apigateway:{region}::/apis``,
  ``…/apis/{api_id}/…``, ``…/domainnames/{domain}/apimappings/…`` (the path of the REST call
  without ``/v2``). Route 53 only when the row names a hosted zone, and then only the A alias of
  the row's domain.
- **worker** (the ``fanout`` queue): ``execute-api:ManageConnections`` on the ``@connections``
  resources of the row's API and stage, ``arn:aws:execute-api:{region}:{account}:{api_id}/
  {stage}/{POST|GET|DELETE}/@connections/*``.

Every call the provisioning steps make maps onto exactly one statement below; the deploy tests
record the calls of a whole life cycle against the emulator and check each against this policy.
"""

from __future__ import annotations

from typing import Any

from wsgateway.models import ApiGateway

POLICY_VERSION = "2012-10-17"
ROLES = ("provisioning", "worker")

#: ``@connections`` verbs fan-out uses: POST sends, DELETE disconnects, GET reads a connection.
CONNECTION_METHODS = ("POST", "GET", "DELETE")


def partition_of(region: str) -> str:
    """The ARN partition of ``region`` (China and GovCloud regions have their own)."""
    if region.startswith("cn-"):
        return "aws-cn"
    if region.startswith("us-gov-"):
        return "aws-us-gov"
    return "aws"


def _statement(sid: str, actions: list[str], resources: list[str], **extra: Any) -> dict[str, Any]:
    return {"Sid": sid, "Effect": "Allow", "Action": actions, "Resource": resources, **extra}


def _document(statements: list[dict[str, Any]]) -> dict[str, Any]:
    return {"Version": POLICY_VERSION, "Statement": statements}


def provisioning_policy(gateway: ApiGateway, region: str) -> dict[str, Any]:
    """The control-plane policy the provisioning worker needs for ``gateway``.

    Scoped to the row's API id once it has one; before the first run the API's id is unknown,
    so the API statements cover ``/apis/*`` (print the policy again after provisioning).
    """
    base = f"arn:{partition_of(region)}:apigateway:{region}::"
    api = f"{base}/apis/{gateway.api_id}" if gateway.api_id else f"{base}/apis/*"
    statements = [
        # get_apis finds an API by name; create_api (re)creates it.
        _statement("FindAndCreateTheApi", ["apigateway:GET", "apigateway:POST"], [f"{base}/apis"]),
        _statement(
            "ReadUpdateDeleteTheApi", ["apigateway:GET", "apigateway:PATCH", "apigateway:DELETE"], [api]
        ),
        # Integrations, routes, stages and deployments live under the API.
        _statement(
            "ManageRoutesIntegrationsStagesDeployments",
            ["apigateway:GET", "apigateway:POST", "apigateway:PATCH", "apigateway:DELETE"],
            [f"{api}/*"],
        ),
    ]
    if gateway.tags:
        # Tags given to create_api are authorised on the tags resource of the new API.
        statements.append(_statement("TagTheApiOnCreate", ["apigateway:POST"], [f"{base}/tags/*"]))
    if gateway.domain_name:
        domain = f"{base}/domainnames/{gateway.domain_name}"
        statements += [
            _statement("CreateTheDomainName", ["apigateway:POST"], [f"{base}/domainnames"]),
            _statement(
                "ReadUpdateDeleteTheDomainName",
                ["apigateway:GET", "apigateway:PATCH", "apigateway:DELETE"],
                [domain],
            ),
            _statement(
                "ListAndCreateApiMappings", ["apigateway:GET", "apigateway:POST"], [f"{domain}/apimappings"]
            ),
            _statement(
                "ReadUpdateDeleteTheApiMapping",
                ["apigateway:GET", "apigateway:PATCH", "apigateway:DELETE"],
                [f"{domain}/apimappings/*"],
            ),
        ]
    if gateway.domain_name and gateway.hosted_zone_id:
        zone = f"arn:{partition_of(region)}:route53:::hostedzone/{gateway.hosted_zone_id}"
        record = gateway.domain_name.rstrip(".").lower()  # Route 53's normalised form
        statements += [
            _statement("FindTheAliasRecord", ["route53:ListResourceRecordSets"], [zone]),
            _statement(
                "UpsertAndDeleteOnlyTheAliasRecord",
                ["route53:ChangeResourceRecordSets"],
                [zone],
                Condition={
                    "ForAllValues:StringEquals": {
                        "route53:ChangeResourceRecordSetsNormalizedRecordNames": [record],
                        "route53:ChangeResourceRecordSetsRecordTypes": ["A"],
                        "route53:ChangeResourceRecordSetsActions": ["UPSERT", "DELETE"],
                    }
                },
            ),
        ]
    return _document(statements)


def worker_policy(gateway: ApiGateway, region: str, account: str) -> dict[str, Any]:
    """``execute-api:ManageConnections`` on the ``@connections`` of the row's API and stage.

    Raises ``ValueError`` while the row has no API id: there is nothing to scope it to yet.
    """
    if not gateway.api_id:
        raise ValueError(
            f"Gateway {gateway.pk} has no API id yet: provision it before printing the worker policy."
        )
    prefix = (
        f"arn:{partition_of(region)}:execute-api:{region}:{account}:{gateway.api_id}/{gateway.stage_name}"
    )
    resources = [f"{prefix}/{method}/@connections/*" for method in CONNECTION_METHODS]
    return _document([_statement("PostGetDeleteConnections", ["execute-api:ManageConnections"], resources)])


def policies(gateway: ApiGateway, role: str, region: str, account: str) -> dict[str, dict[str, Any]]:
    """The policies of ``role`` (``provisioning``, ``worker`` or ``all``), by role name."""
    if role not in (*ROLES, "all"):
        raise ValueError(f"Unknown role {role!r}: choose provisioning, worker or all.")
    documents: dict[str, dict[str, Any]] = {}
    if role in ("provisioning", "all"):
        documents["provisioning"] = provisioning_policy(gateway, region)
    if role in ("worker", "all"):
        documents["worker"] = worker_policy(gateway, region, account)
    return documents
