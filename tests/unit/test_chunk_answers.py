"""The fan-out retry table applied to one chunk's answers (wsgateway/fanout/delivery.py), without sending."""

from __future__ import annotations

import pytest
from django.test import override_settings

from wsgateway.aws.management import NO_ANSWER, Answer
from wsgateway.fanout.delivery import MAX_GONE_ATTEMPTS, sort_answers
from wsgateway.fanout.planner import DELETE, POST, make_chunk
from wsgateway.payloads import Recipient

pytestmark = pytest.mark.unit

NOW = 1_000_000.0
OLD = NOW - 3600  # connected an hour ago: far past any grace period


def chunk(connections: list[Recipient], *, op: str = POST, attempt: int = 0):
    endpoint = "https://api.example.com/prod"
    return make_chunk(
        message_id="m",
        op=op,
        body="{}",
        endpoint=endpoint,
        chunk="0",
        connections=connections,
        attempt=attempt,
    )


@override_settings(WSGATEWAY={"GONE_GRACE_SECONDS": 10, "FANOUT_MAX_RETRIES": 2})
def test_each_answer_lands_in_its_row_of_the_retry_table() -> None:
    recipients: list[Recipient] = [
        ["ok", OLD],
        ["gone", OLD],
        ["young-gone", NOW - 1],
        ["throttled", OLD],
        ["silent", OLD],
        ["forbidden", OLD],
        ["too-large", OLD],
    ]
    answers = [
        Answer(200),
        Answer(410),
        Answer(410),
        Answer(429),
        Answer(NO_ANSWER),
        Answer(403, "ForbiddenException"),
        Answer(413),
    ]
    out = sort_answers(chunk(recipients), answers, now=NOW)
    assert (out.counts.delivered, out.counts.gone, out.counts.failed) == (1, 1, 2)
    assert out.counts.failed_by == {"403": 1, "413": 1}
    assert out.to_mark == ["gone"]  # a POST that arrived marks nothing
    assert out.retry == [["young-gone", NOW - 1], ["throttled", OLD], ["silent", OLD]]
    assert sorted(out.errors) == [403, 413]


@override_settings(WSGATEWAY={"GONE_GRACE_SECONDS": 10, "FANOUT_MAX_RETRIES": 2})
def test_the_last_attempt_fails_what_it_would_otherwise_retry() -> None:
    recipients: list[Recipient] = [["throttled", OLD], ["silent", OLD], ["young-gone", NOW - 1]]
    out = sort_answers(chunk(recipients, attempt=2), [Answer(503), Answer(NO_ANSWER), Answer(410)], now=NOW)
    assert out.retry == [["young-gone", NOW - 1]]  # young 410s have their own, larger bound
    assert out.counts.failed_by == {"503": 1, "no_answer": 1}
    assert sorted(out.errors) == [NO_ANSWER, 503]

    out = sort_answers(chunk([["young-gone", NOW - 1]], attempt=MAX_GONE_ATTEMPTS), [Answer(410)], now=NOW)
    assert (out.retry, out.counts.gone, out.to_mark) == ([], 1, ["young-gone"])


def test_a_kick_marks_the_sessions_it_closed() -> None:
    out = sort_answers(chunk([["a", OLD], ["b", OLD]], op=DELETE), [Answer(204), Answer(410)], now=NOW)
    assert out.counts.delivered == 1 and out.counts.gone == 1
    assert out.to_mark == ["a", "b"]
