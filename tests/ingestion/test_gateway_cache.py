"""The cached ApiGateway lookup: no query when warm, invalidated on save and delete."""

from __future__ import annotations

import pytest
from django.db import connection
from django.test import override_settings
from django.test.utils import CaptureQueriesContext

from tests.ingestion.conftest import wsgateway
from wsgateway.gateway_cache import get_gateway
from wsgateway.models import ApiGateway

pytestmark = pytest.mark.django_db


def lookup(api_id: str) -> tuple[ApiGateway | None, int]:
    with CaptureQueriesContext(connection) as queries:
        found = get_gateway(api_id)
    return found, len(queries)


def test_warm_lookup_costs_no_query(gateway: ApiGateway) -> None:
    assert lookup("abc123defg") == (gateway, 1)
    assert lookup("abc123defg") == (gateway, 0)


def test_unknown_and_malformed_ids(gateway: ApiGateway) -> None:
    assert lookup("zzzzzzzzzz") == (None, 1)
    assert lookup("not an id; drop") == (None, 0)  # cannot be a row: no query
    assert lookup("") == (None, 0)


def test_save_invalidates_old_and_new_id(gateway: ApiGateway) -> None:
    assert get_gateway("abc123defg") == gateway
    gateway.api_id = "newid12345"
    gateway.save()
    assert lookup("abc123defg") == (None, 1)
    found, _ = lookup("newid12345")
    assert found == gateway
    # A change made on another instance (e.g. the admin) invalidates too.
    other = ApiGateway.objects.get(pk=gateway.pk)
    other.default_channel_name = "changed"
    other.save()
    found, queries = lookup("newid12345")
    assert found is not None and found.default_channel_name == "changed" and queries == 1


def test_delete_invalidates(gateway: ApiGateway) -> None:
    assert get_gateway("abc123defg") == gateway
    ApiGateway.objects.get(pk=gateway.pk).delete()
    assert lookup("abc123defg") == (None, 1)


@override_settings(WSGATEWAY=wsgateway(GATEWAY_CACHE_SECONDS=0))
def test_zero_seconds_disables_the_cache(gateway: ApiGateway) -> None:
    assert lookup("abc123defg") == (gateway, 1)
    assert lookup("abc123defg") == (gateway, 1)
