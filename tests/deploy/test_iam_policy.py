"""``printIamPolicy``: the documents parse, use the row's ids, follow IAM's grammar (moto's IAM
accepts them), and allow every call a whole provisioning life cycle makes, and no other API's."""

from __future__ import annotations

import json
from fnmatch import fnmatchcase
from typing import Any

import pytest
from django.core.management import CommandError

from wsgateway.aws import get_boto3_client
from wsgateway.emulator.testing import boto3_client
from wsgateway.models import ApiGateway
from wsgateway.provisioning import run_inline

from .conftest import CERT_ARN, add_chat_route, run

pytestmark = pytest.mark.django_db

ACCOUNT = "123456789012"


def policy(gateway: ApiGateway, role: str, *extra: str) -> dict[str, Any]:
    document: dict[str, Any] = json.loads(
        run("printIamPolicy", "--pk", str(gateway.pk), "--role", role, *extra)
    )
    return document


def assert_grammar(document: dict[str, Any]) -> None:
    assert document["Version"] == "2012-10-17"
    assert document["Statement"], "a policy without statements allows nothing"
    for statement in document["Statement"]:
        assert statement["Effect"] == "Allow"
        assert statement["Action"] and all(a.count(":") == 1 for a in statement["Action"])
        assert statement["Resource"] and all(r.startswith("arn:aws:") for r in statement["Resource"])
        assert set(statement) <= {"Sid", "Effect", "Action", "Resource", "Condition"}


def allows(
    document: dict[str, Any], action: str, resource: str, record: dict[str, Any] | None = None
) -> bool:
    """IAM's evaluation for Allow statements: wildcard match of action and resource, and the
    Route 53 record conditions of ChangeResourceRecordSets when ``record`` is given."""
    for statement in document["Statement"]:
        if not any(fnmatchcase(action, a) for a in statement["Action"]):
            continue
        if not any(fnmatchcase(resource, r) for r in statement["Resource"]):
            continue
        condition = statement.get("Condition", {}).get("ForAllValues:StringEquals", {})
        if record is not None and condition:
            name = record["ResourceRecordSet"]["Name"].rstrip(".").lower()
            if name not in condition["route53:ChangeResourceRecordSetsNormalizedRecordNames"]:
                continue
            if (
                record["ResourceRecordSet"]["Type"]
                not in condition["route53:ChangeResourceRecordSetsRecordTypes"]
            ):
                continue
            if record["Action"] not in condition["route53:ChangeResourceRecordSetsActions"]:
                continue
        return True
    return False


def test_an_unprovisioned_row_gets_a_control_plane_policy_for_any_api_and_no_worker_policy(
    aws: Any, gateway: ApiGateway
) -> None:
    document = policy(gateway, "provisioning")
    assert_grammar(document)
    resources = {r for s in document["Statement"] for r in s["Resource"]}
    assert "arn:aws:apigateway:us-east-1::/apis" in resources
    assert "arn:aws:apigateway:us-east-1::/apis/*" in resources
    assert not any("domainnames" in r or "route53" in r for r in resources)  # no custom domain
    with pytest.raises(CommandError, match="no API id yet"):
        policy(gateway, "worker")
    with pytest.raises(CommandError, match="12-digit"):
        policy(gateway, "provisioning", "--account", "12345")
    with pytest.raises(CommandError, match="No ApiGateway"):
        run("printIamPolicy", "--pk", "999999")


def test_policies_name_the_rows_api_stage_domain_zone_and_account(aws: Any, gateway: ApiGateway) -> None:
    ApiGateway.objects.filter(pk=gateway.pk).update(
        api_id="a1b2c3d4e5", domain_name="ws.Example.com", certificate_arn=CERT_ARN, hosted_zone_id="Z123"
    )
    both = json.loads(run("printIamPolicy", "--pk", str(gateway.pk), "--account", ACCOUNT))
    assert set(both) == {"provisioning", "worker"}
    for document in both.values():
        assert_grammar(document)
    worker = both["worker"]
    assert worker["Statement"] == [
        {
            "Sid": "PostGetDeleteConnections",
            "Effect": "Allow",
            "Action": ["execute-api:ManageConnections"],
            "Resource": [
                f"arn:aws:execute-api:us-east-1:{ACCOUNT}:a1b2c3d4e5/production/{method}/@connections/*"
                for method in ("POST", "GET", "DELETE")
            ],
        }
    ]
    control = both["provisioning"]
    resources = {r for s in control["Statement"] for r in s["Resource"]}
    assert "arn:aws:apigateway:us-east-1::/apis/a1b2c3d4e5/*" in resources
    assert "arn:aws:apigateway:us-east-1::/apis/*" not in resources  # scoped to the row's API
    assert "arn:aws:apigateway:us-east-1::/domainnames/ws.Example.com/apimappings/*" in resources
    assert "arn:aws:route53:::hostedzone/Z123" in resources
    route53 = next(s for s in control["Statement"] if s["Action"] == ["route53:ChangeResourceRecordSets"])
    names = route53["Condition"]["ForAllValues:StringEquals"][
        "route53:ChangeResourceRecordSetsNormalizedRecordNames"
    ]
    assert names == ["ws.example.com"]  # Route 53's normalised form: lower case, no trailing dot
    # Without a hosted zone there is no Route 53 statement at all.
    ApiGateway.objects.filter(pk=gateway.pk).update(hosted_zone_id="")
    assert not any(
        "route53" in r for s in policy(gateway, "provisioning")["Statement"] for r in s["Resource"]
    )


def test_moto_iam_accepts_the_documents_and_refuses_a_broken_one(
    moto_server: str, aws: Any, gateway: ApiGateway
) -> None:
    ApiGateway.objects.filter(pk=gateway.pk).update(
        api_id="a1b2c3d4e5", domain_name="ws.example.com", certificate_arn=CERT_ARN, hosted_zone_id="Z123"
    )
    iam = boto3_client("iam", moto_server)
    for role, document in json.loads(
        run("printIamPolicy", "--pk", str(gateway.pk), "--account", ACCOUNT)
    ).items():
        created = iam.create_policy(PolicyName=f"wsgateway-{role}", PolicyDocument=json.dumps(document))
        assert created["Policy"]["Arn"].endswith(f"policy/wsgateway-{role}")
    broken = {"Version": "2012-10-17", "Statement": [{"Action": ["apigateway:GET"], "Resource": ["*"]}]}
    with pytest.raises(iam.exceptions.MalformedPolicyDocumentException):
        iam.create_policy(PolicyName="broken", PolicyDocument=json.dumps(broken))


def test_every_call_of_a_provisioning_life_cycle_is_allowed_by_the_printed_policy(
    aws: Any, gateway: ApiGateway, hosted_zone: tuple[Any, str]
) -> None:
    _route53, zone_id = hosted_zone
    add_chat_route(gateway)
    ApiGateway.objects.filter(pk=gateway.pk).update(
        domain_name="ws.example.com", certificate_arn=CERT_ARN, hosted_zone_id=zone_id, api_mapping_key="v1"
    )
    calls: list[tuple[str, str, dict[str, Any]]] = []
    api_params: list[dict[str, Any]] = [{}]

    def keep_params(params: dict[str, Any], **kwargs: Any) -> None:
        api_params[0] = dict(params)  # the call's own parameters; before-call sees the wire form

    def record(model: Any, params: dict[str, Any], **kwargs: Any) -> None:
        service = model.service_model.service_name
        path = params["url_path"].split("?", 1)[0]
        if service == "apigatewayv2":
            # IAM authorises the REST path without its /v2 prefix, the HTTP verb as the action.
            resource = f"arn:aws:apigateway:us-east-1::{path.removeprefix('/v2')}"
            calls.append((f"apigateway:{model.http['method']}", resource, api_params[0]))
        else:
            zone = path.split("/hostedzone/", 1)[1].split("/", 1)[0]
            calls.append((f"route53:{model.name}", f"arn:aws:route53:::hostedzone/{zone}", api_params[0]))

    for service in ("apigatewayv2", "route53"):
        events = get_boto3_client(service).meta.events  # the steps' cached clients
        events.register("before-parameter-build", keep_params)
        events.register("before-call", record)

    run_inline("create_gateway", gateway.pk)
    gateway.refresh_from_db()
    document = policy(gateway, "provisioning")  # printed once the API exists, as the docs say
    run_inline("create_custom_domain", gateway.pk)
    aws.update_api(ApiId=gateway.api_id, Description="changed at the console")
    for operation in ("sync_to_aws", "sync_from_aws", "rotate_secret", "redeploy", "delete_from_aws"):
        run_inline(operation, gateway.pk)

    operations = {(action, resource.rsplit("::", 1)[-1]) for action, resource, _ in calls}
    assert ("apigateway:POST", "/apis") in operations and (
        "apigateway:DELETE",
        f"/apis/{gateway.api_id}",
    ) in operations
    assert any(action == "route53:ChangeResourceRecordSets" for action, _ in operations)
    assert len(calls) > 40
    denied = [
        (action, resource)
        for action, resource, params in calls
        if not allows(
            document, action, resource, *(params.get("ChangeBatch", {}).get("Changes") or [None])[:1]
        )
    ]
    assert denied == []

    # The evaluation can fail: another API, another record name, and a row without a domain.
    assert not allows(document, "apigateway:DELETE", "arn:aws:apigateway:us-east-1::/apis/otherapi1")
    other_record = {"Action": "UPSERT", "ResourceRecordSet": {"Name": "evil.example.com.", "Type": "A"}}
    assert not allows(
        document, "route53:ChangeResourceRecordSets", f"arn:aws:route53:::hostedzone/{zone_id}", other_record
    )
    ApiGateway.objects.filter(pk=gateway.pk).update(api_id="a1b2c3d4e5", domain_name="", hosted_zone_id="")
    without_domain = policy(gateway, "provisioning")
    assert [c for c in calls if allows(without_domain, c[0], c[1])] != calls


def test_china_and_govcloud_regions_use_their_partition(aws: Any, gateway: ApiGateway, settings: Any) -> None:
    ApiGateway.objects.filter(pk=gateway.pk).update(api_id="a1b2c3d4e5")
    for region, partition in (
        ("cn-north-1", "aws-cn"),
        ("us-gov-west-1", "aws-us-gov"),
        ("eu-west-1", "aws"),
    ):
        settings.AWS_REGION_NAME = region
        resources = [
            r
            for d in json.loads(run("printIamPolicy", "--pk", str(gateway.pk))).values()
            for s in d["Statement"]
            for r in s["Resource"]
        ]
        assert all(r.startswith(f"arn:{partition}:") and f":{region}:" in r for r in resources), resources
