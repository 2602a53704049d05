"""Round trips on a send's path before its planning task is published (wsgateway/sending.py,
wsgateway/fanout/plan_ledger.py): the send's ledger row outside a transaction is one query on
PostgreSQL (an implicit transaction of two statements), not BEGIN / SET LOCAL / INSERT / COMMIT."""

from __future__ import annotations

import pytest
from django.db import connection, transaction
from django.test.utils import CaptureQueriesContext

from wsgateway.fanout.plan_ledger import record_request
from wsgateway.ledger_models import FanoutBroadcast

pytestmark = [pytest.mark.django_db(transaction=True)]


def test_the_send_row_outside_a_transaction_is_one_round_trip_on_postgresql(clean_redis):
    with CaptureQueriesContext(connection) as queries:
        record_request("m-1", "wsgateway.send_to_sessions", [{"channel_name": "room"}, "m-1", "{}"], {})
    sql = [q["sql"] for q in queries.captured_queries]
    if connection.vendor == "postgresql":
        assert len(sql) == 1, sql
        assert sql[0].startswith("SET LOCAL synchronous_commit TO OFF; INSERT INTO")
        assert "ON CONFLICT DO NOTHING" in sql[0]
        with connection.cursor() as cursor:  # the setting held for that statement alone
            cursor.execute("SHOW synchronous_commit")
            assert cursor.fetchone()[0] == "on"
    else:
        assert not [s for s in sql if "synchronous_commit" in s]
    row = FanoutBroadcast.objects.get(message_id="m-1")
    assert (row.task, row.planned, row.open, row.planner, row.emitted) == (
        "wsgateway.send_to_sessions",
        False,
        True,
        "",
        0,
    )
    assert row.epoch and row.enqueued_on is not None and row.created_on is not None
    # Idempotent: a second request for the same message keeps the first row.
    record_request("m-1", "other.task", [], {})
    assert FanoutBroadcast.objects.get(message_id="m-1").task == "wsgateway.send_to_sessions"


def test_inside_the_callers_transaction_the_row_commits_with_it(clean_redis):
    with transaction.atomic():
        with CaptureQueriesContext(connection) as queries:
            record_request("m-2", "wsgateway.send_to_sessions", [], {})
        assert not [q["sql"] for q in queries.captured_queries if "synchronous_commit" in q["sql"]]
        transaction.set_rollback(True)
    assert not FanoutBroadcast.objects.filter(message_id="m-2").exists()
