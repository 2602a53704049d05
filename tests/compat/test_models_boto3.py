"""``wsgateway.models.boto3``: the name code written for django-aws-api-gateway-websockets 4.1.0
patches to stand in for AWS. ``get_boto3_client`` builds its clients with whatever that name
holds, in the reference's way: ``boto3.Session(profile_name=...)`` for a named profile, else
``boto3.client(...)`` with the access key pair or the default chain."""

from __future__ import annotations

import sys
from typing import Any

import pytest

from wsgateway import models


class _Recorder:
    """Stands in for the boto3 module: records the calls and hands out one new object per client."""

    def __init__(self) -> None:
        self.calls: list[tuple[str, tuple[Any, ...], dict[str, Any]]] = []

    def client(self, *args: Any, **kwargs: Any) -> object:
        self.calls.append(("client", args, kwargs))
        return object()

    def Session(self, **kwargs: Any) -> _Recorder:
        self.calls.append(("Session", (), kwargs))
        return self


@pytest.fixture
def stand_in(monkeypatch: pytest.MonkeyPatch, settings: Any) -> _Recorder:
    settings.AWS_GATEWAY_REGION_NAME = "eu-west-1"
    settings.AWS_IAM_PROFILE = None
    settings.AWS_ACCESS_KEY_ID = settings.AWS_SECRET_ACCESS_KEY = None
    recorder = _Recorder()
    monkeypatch.setattr(models, "boto3", recorder)
    return recorder


def test_the_name_is_boto3_itself_imported_on_first_use() -> None:
    from wsgateway.models import boto3

    assert boto3 is sys.modules["boto3"] and models.boto3 is boto3
    assert "boto3" not in vars(models)  # not bound at import: Django start-up does not pay for it
    with pytest.raises(AttributeError):
        models.no_such_name  # noqa: B018


def test_clients_are_built_with_the_patched_name_in_the_references_way(
    stand_in: _Recorder, settings: Any
) -> None:
    client = models.get_boto3_client("s3", another="param")
    assert stand_in.calls == [
        (
            "client",
            ("s3",),
            {"region_name": "eu-west-1", "another": "param", "config": stand_in.calls[0][2]["config"]},
        )
    ]
    assert models.get_boto3_client("s3", another="param") is client  # cached: built once
    assert len(stand_in.calls) == 1

    settings.AWS_ACCESS_KEY_ID, settings.AWS_SECRET_ACCESS_KEY = "AKIDEXAMPLE", "secret-example"
    models.get_boto3_client()
    name, args, kwargs = stand_in.calls[-1]
    assert (name, args) == ("client", ("apigatewayv2",))
    assert {k: v for k, v in kwargs.items() if k != "config"} == {
        "aws_access_key_id": "AKIDEXAMPLE",
        "aws_secret_access_key": "secret-example",
        "region_name": "eu-west-1",
    }
    config = kwargs["config"]
    assert (config.connect_timeout, config.read_timeout) == (5, 20)
    assert config.retries == {"mode": "standard", "max_attempts": 3}


def test_a_named_profile_gets_a_session_of_that_profile(stand_in: _Recorder, settings: Any) -> None:
    settings.AWS_IAM_PROFILE = "deploy"
    models.get_boto3_client("apigatewayv2")
    assert [(name, args) for name, args, _ in stand_in.calls] == [
        ("Session", ()),
        ("client", ("apigatewayv2",)),
    ]
    assert stand_in.calls[0][2] == {"profile_name": "deploy"}
    # A session that tells no region of its own: the configured one is passed.
    assert stand_in.calls[1][2]["region_name"] == "eu-west-1"


@pytest.fixture
def aws_config(tmp_path: Any, monkeypatch: pytest.MonkeyPatch, settings: Any) -> Any:
    """AWS config files with a profile that has a region and one that has none."""
    config = tmp_path / "config"
    config.write_text("[profile regional]\nregion = ap-southeast-2\n\n[profile regionless]\noutput = json\n")
    credentials = tmp_path / "credentials"
    credentials.write_text(
        "[regional]\naws_access_key_id = AKIDEXAMPLE\naws_secret_access_key = example\n\n"
        "[regionless]\naws_access_key_id = AKIDEXAMPLE\naws_secret_access_key = example\n"
    )
    monkeypatch.setenv("AWS_CONFIG_FILE", str(config))
    monkeypatch.setenv("AWS_SHARED_CREDENTIALS_FILE", str(credentials))
    for name in ("AWS_DEFAULT_REGION", "AWS_REGION", "AWS_PROFILE"):
        monkeypatch.delenv(name, raising=False)
    settings.AWS_ACCESS_KEY_ID = settings.AWS_SECRET_ACCESS_KEY = None
    models.clear_boto3_client_cache()
    yield
    models.clear_boto3_client_cache()


def test_a_profiles_own_region_wins_over_the_setting(aws_config: Any, settings: Any) -> None:
    settings.AWS_IAM_PROFILE = "regional"
    settings.AWS_GATEWAY_REGION_NAME = "eu-west-1"
    assert models.get_boto3_client("apigatewayv2").meta.region_name == "ap-southeast-2"
    # An explicit region_name still wins over both.
    assert models.get_boto3_client("apigatewayv2", region_name="us-east-2").meta.region_name == "us-east-2"


def test_a_profiles_region_needs_no_region_setting(aws_config: Any, settings: Any) -> None:
    settings.AWS_IAM_PROFILE = "regional"
    settings.AWS_GATEWAY_REGION_NAME = settings.AWS_REGION_NAME = None
    assert models.get_boto3_client("apigatewayv2").meta.region_name == "ap-southeast-2"


def test_a_profile_without_a_region_takes_the_setting_which_is_then_required(
    aws_config: Any, settings: Any
) -> None:
    settings.AWS_IAM_PROFILE = "regionless"
    settings.AWS_GATEWAY_REGION_NAME = "eu-west-1"
    assert models.get_boto3_client("apigatewayv2").meta.region_name == "eu-west-1"
    settings.AWS_GATEWAY_REGION_NAME = settings.AWS_REGION_NAME = None
    with pytest.raises(RuntimeError, match="AWS_GATEWAY_REGION_NAME"):
        models.get_boto3_client("route53")


def test_a_client_built_with_a_stand_in_is_never_handed_out_for_boto3(
    monkeypatch: pytest.MonkeyPatch, settings: Any
) -> None:
    settings.AWS_GATEWAY_REGION_NAME = "eu-west-1"
    recorder = _Recorder()
    with monkeypatch.context() as patched:
        patched.setattr(models, "boto3", recorder)
        fake = models.get_boto3_client("apigatewayv2")
    real = models.get_boto3_client("apigatewayv2")
    assert real is not fake and type(real).__module__.startswith("botocore")
    assert "boto3" not in vars(models)
