"""The fast signer gives exactly botocore's SigV4Auth headers for the same request and time."""

from __future__ import annotations

import datetime as dt
from unittest import mock
from urllib.parse import quote

import pytest
from botocore.auth import SigV4Auth
from botocore.awsrequest import AWSRequest
from botocore.credentials import Credentials as BotoCredentials
from django.core.exceptions import ImproperlyConfigured

from wsgateway.aws.management import Endpoint
from wsgateway.aws.sigv4 import Credentials, Signer, amz_date, canonical_path, payload_hash

WHEN = dt.datetime(2026, 11, 23, 22, 30, 5, tzinfo=dt.UTC)

CONNECTION_IDS = [
    "L0SM9cOFvHcCIhw=",
    "ab+cd/ef==",
    "a b%c~d",
    "plain",
    "..",
    "ümlaut=",
]


def botocore_headers(creds: Credentials, method: str, url: str, host: str, body: bytes, region: str):
    request = AWSRequest(method=method, url=url, data=body, headers={"Host": host})
    boto_creds = BotoCredentials(creds.access_key, creds.secret_key, creds.token)
    with mock.patch("botocore.auth.get_current_datetime", return_value=WHEN.replace(tzinfo=None)):
        SigV4Auth(boto_creds, "execute-api", region).add_auth(request)
    return {
        k: request.headers[k]
        for k in ("Authorization", "X-Amz-Date", "X-Amz-Security-Token")
        if k in request.headers
    }


@pytest.mark.parametrize("token", [None, "FwoGZXIvYXdzE//token+with/chars=="])
@pytest.mark.parametrize("connection_id", CONNECTION_IDS)
@pytest.mark.parametrize("method", ["POST", "DELETE", "GET"])
def test_signature_equals_botocore(settings, token, connection_id, method):
    settings.WSGATEWAY = {**settings.WSGATEWAY, "MANAGEMENT_ENDPOINT_OVERRIDES": {}}
    endpoint = Endpoint.from_url("https://abc123.execute-api.eu-west-1.amazonaws.com/prod")
    creds = Credentials("AKIDEXAMPLE", "wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY", token)
    body = b'{"hello": "world", "message_id": "m1"}' if method == "POST" else b""
    path = endpoint.path(connection_id)
    ours = dict(
        Signer(creds, "eu-west-1", endpoint.host).sign(
            method, path, payload_hash(body), amz_date(WHEN.timestamp())
        )
    )
    url = f"https://{endpoint.host}{path}"
    assert ours == botocore_headers(creds, method, url, endpoint.host, body, "eu-west-1")


def test_signature_equals_botocore_with_port_and_custom_domain():
    creds = Credentials("AKID", "secret")
    for url in (
        "http://127.0.0.1:4510/abcdefghij/test",
        "https://ws.example.com/v1",
        "https://ws.example.com",
    ):
        endpoint = Endpoint.from_url(url)
        path = endpoint.path("Zm9v=")
        body = b"{}"
        ours = dict(
            Signer(creds, "us-east-1", endpoint.host).sign(
                "POST", path, payload_hash(body), amz_date(WHEN.timestamp())
            )
        )
        expected = botocore_headers(
            creds, "POST", f"{endpoint.scheme}://{endpoint.host}{path}", endpoint.host, body, "us-east-1"
        )
        assert ours == expected


def test_connection_ids_are_url_encoded_and_double_encoded_in_canonical_uri():
    endpoint = Endpoint.from_url("https://x.execute-api.us-east-1.amazonaws.com/prod")
    assert endpoint.path("ab+cd/ef==") == "/prod/@connections/ab%2Bcd%2Fef%3D%3D"
    assert canonical_path("/prod/@connections/ab%2B") == "/prod/%40connections/ab%252B"


def test_signing_key_is_derived_once_per_day():
    signer = Signer(Credentials("AKID", "secret"), "us-east-1", "h")
    with mock.patch(
        "wsgateway.aws.sigv4.derive_signing_key",
        wraps=__import__("wsgateway.aws.sigv4", fromlist=["derive_signing_key"]).derive_signing_key,
    ) as derive:
        for second in range(50):
            signer.sign("POST", "/p", payload_hash(b"x"), amz_date(WHEN.timestamp() + second))
        signer.sign("POST", "/p", payload_hash(b"x"), amz_date(WHEN.timestamp() + 86400))
    assert derive.call_count == 2


def test_override_keeps_host_and_connects_elsewhere(settings):
    settings.WSGATEWAY = {
        **settings.WSGATEWAY,
        "MANAGEMENT_ENDPOINT_OVERRIDES": {"ws.example.com": "http://127.0.0.1:4599"},
    }
    endpoint = Endpoint.from_url("https://ws.example.com/v1")
    assert (endpoint.scheme, endpoint.connect_host, endpoint.connect_port) == ("http", "127.0.0.1", 4599)
    assert endpoint.host == "ws.example.com"
    assert endpoint.base_path == "/v1"


def test_bad_endpoint_is_a_clear_error():
    with pytest.raises(ValueError, match="management endpoint"):
        Endpoint.from_url("ws://nope")


def test_override_must_be_a_url(settings):
    settings.WSGATEWAY = {**settings.WSGATEWAY, "MANAGEMENT_ENDPOINT_OVERRIDES": {"ws.example.com": "nope"}}
    # the settings accessor refuses it first; the endpoint parser would too
    with pytest.raises((ValueError, ImproperlyConfigured), match="MANAGEMENT_ENDPOINT_OVERRIDES"):
        Endpoint.from_url("https://ws.example.com/v1")


@pytest.mark.parametrize("connection_id", [*CONNECTION_IDS, ".", "x", "a%2Fb", "-_.~", "é+/="])
@pytest.mark.parametrize(
    "url", ["https://x.execute-api.us-east-1.amazonaws.com/prod", "http://127.0.0.1:4510/a/./b/../test/"]
)
def test_request_paths_equal_path_and_its_canonical_form(settings, connection_id, url):
    settings.WSGATEWAY = {**settings.WSGATEWAY, "MANAGEMENT_ENDPOINT_OVERRIDES": {}}
    endpoint = Endpoint.from_url(url)
    path, canonical = endpoint.request_paths(connection_id)
    assert path == endpoint.path(connection_id)
    assert path == f"{endpoint.base_path}/@connections/{quote(connection_id, safe='-_.~')}"
    assert canonical == canonical_path(path)


@pytest.mark.parametrize("token", [None, "FwoGZXIvYXdzE//token+with/chars=="])
def test_header_lines_are_the_signed_headers(token):
    signer = Signer(Credentials("AKID", "secret", token), "us-east-1", "h")
    for second in (0, 1, 86400):
        stamp = amz_date(WHEN.timestamp() + second)
        signed = signer.sign("POST", "/p/@connections/a%3D", payload_hash(b"x"), stamp)
        lines = signer.header_lines(
            "POST", "/p/@connections/a%3D", payload_hash(b"x"), stamp, canonical="/p/%40connections/a%253D"
        )
        assert lines == "".join(f"{k}: {v}\r\n" for k, v in signed)
