"""Planning (keyset streaming, chunks per endpoint, queryset compilation), custom domains and the
shared Redis token bucket."""

from __future__ import annotations

import multiprocessing
import time

import pytest
from django.db import connection
from django.test import override_settings
from django.test.utils import CaptureQueriesContext

from tests.fanout.conftest import (
    make_gateway,
    make_sessions,
    received,
    virtual_connections,
    wsgateway_overrides,
)
from wsgateway import gcra
from wsgateway.emulator.testing import boto3_client
from wsgateway.fanout.limiter import SharedTokenBucket
from wsgateway.fanout.planner import plan_broadcast, stream_recipients
from wsgateway.fanout.recipients import epoch_seconds
from wsgateway.fanout.results import get_broadcast_summary
from wsgateway.fanout.targets import Target, compile_queryset
from wsgateway.models import ApiGateway, WebSocketSession

CERT = "arn:aws:acm:us-east-1:123456789012:certificate/abcd-1234"


def gateway(name: str, **fields) -> ApiGateway:
    return ApiGateway.objects.create(api_name=name, stage_name="prod", **fields)


@pytest.mark.django_db
def test_recipients_stream_in_id_order_one_query_per_page():
    gw = gateway("a", api_endpoint="wss://a.execute-api.us-east-1.amazonaws.com")
    make_sessions(gw, [f"c{i:02d}=" for i in range(10)])
    WebSocketSession.objects.filter(connection_id="c03=").update(connected=False)
    with CaptureQueriesContext(connection) as queries:
        rows = list(stream_recipients(WebSocketSession.objects.filter(connected=True), page_size=3))
    assert [r[1] for r in rows] == [f"c{i:02d}=" for i in range(10) if i != 3]
    assert [r[0] for r in rows] == sorted(r[0] for r in rows)
    assert len(queries) == 4  # three full pages of 3, then an empty page ends the stream
    assert all("LIMIT 3" in q["sql"] for q in queries.captured_queries)


@pytest.mark.django_db
def test_the_database_computes_each_recipients_creation_time_in_seconds():
    """The planner reads ``created_on`` as seconds since the epoch computed in SQL (SQLite and
    PostgreSQL), not as datetimes Django converts row by row (most of its CPU per recipient)."""
    gw = gateway("a", api_endpoint="wss://a.execute-api.us-east-1.amazonaws.com")
    make_sessions(gw, [f"c{i:02d}=" for i in range(5)])
    created = dict(WebSocketSession.objects.values_list("connection_id", "created_on"))
    rows = list(stream_recipients(WebSocketSession.objects.filter(connected=True), page_size=2))
    assert [type(r[3]) for r in rows] == [float] * 5
    for _, connection_id, _, seconds in rows:
        assert abs(seconds - created[connection_id].timestamp()) < 0.002  # SQLite: to the ms


@pytest.mark.django_db
def test_without_use_tz_creation_times_are_the_local_times_django_reads():
    """With ``USE_TZ = False`` rows hold naive local times: a creation time computed in SQL as if
    they were UTC would be off by the zone's offset (5 h here), and that number decides the 410
    grace period. Such rows are read as Django reads them."""
    with override_settings(USE_TZ=False, TIME_ZONE="America/New_York"):
        gw = gateway("a", api_endpoint="wss://a.execute-api.us-east-1.amazonaws.com")
        make_sessions(gw, [f"c{i:02d}=" for i in range(3)])
        created = dict(WebSocketSession.objects.values_list("connection_id", "created_on"))
        rows = list(stream_recipients(WebSocketSession.objects.filter(connected=True), page_size=2))
        assert len(rows) == 3
        for _, connection_id, _, value in rows:
            assert abs(epoch_seconds(value) - created[connection_id].timestamp()) < 0.002
            assert abs(epoch_seconds(value) - (time.time() - 60)) < 30  # make_sessions: 60 s old


@pytest.mark.django_db
def test_chunks_are_grouped_by_management_endpoint():
    regional = gateway("regional", api_endpoint="wss://abc.execute-api.eu-west-1.amazonaws.com")
    custom = gateway(
        "custom",
        api_endpoint="wss://def.execute-api.eu-west-1.amazonaws.com",
        domain_name="ws.example.com",
        custom_domain_created=True,
        api_mapping_key="v1",
    )
    for i in range(5):  # interleaved ids
        make_sessions(regional, [f"r{i}="])
        make_sessions(custom, [f"c{i}="])
    chunks = []
    with wsgateway_overrides(FANOUT_CHUNK_SIZE=2):
        plan, unreachable = plan_broadcast(
            WebSocketSession.objects.all(), message_id="m", op="post", body="{}", emit=chunks.append
        )
    assert (plan.targeted, plan.chunks, unreachable.failed) == (10, 6, 0)
    by_endpoint: dict[str, list[str]] = {}
    for chunk in chunks:
        assert len(chunk["connections"]) <= 2
        by_endpoint.setdefault(chunk["endpoint"], []).extend(c for c, _ in chunk["connections"])
    assert by_endpoint == {
        "https://abc.execute-api.eu-west-1.amazonaws.com/prod": [f"r{i}=" for i in range(5)],
        "https://ws.example.com/v1": [f"c{i}=" for i in range(5)],
    }
    assert sorted(c["chunk"] for c in chunks) == [str(i) for i in range(6)]
    assert all(isinstance(created, float) for c in chunks for _, created in c["connections"])


@pytest.mark.django_db
def test_custom_domain_endpoint_through_the_emulator(emulator, inline, settings):
    info = virtual_connections(emulator, 3)
    apigw = boto3_client("apigatewayv2", emulator.url)
    apigw.create_domain_name(
        DomainName="ws.example.com",
        DomainNameConfigurations=[{"CertificateArn": CERT, "EndpointType": "REGIONAL"}],
    )
    apigw.create_api_mapping(
        DomainName="ws.example.com", ApiId=info["apiId"], Stage="test", ApiMappingKey="v1"
    )
    gw = make_gateway(emulator, info["apiId"])
    gw.domain_name, gw.custom_domain_created, gw.api_mapping_key = "ws.example.com", True, "v1"
    gw.save()
    make_sessions(gw, info["connectionIds"])
    with wsgateway_overrides(MANAGEMENT_ENDPOINT_OVERRIDES={"ws.example.com": emulator.url}):
        message_id = inline.send(WebSocketSession.objects.all(), {"via": "custom domain"})
    assert get_broadcast_summary(message_id)["delivered"] == 3
    assert received(emulator, info["connectionIds"][0]) == [
        {"via": "custom domain", "message_id": message_id}
    ]


@pytest.mark.django_db
def test_querysets_compile_to_targets_only_when_exact():
    objects = WebSocketSession.objects
    assert compile_queryset(objects.filter(channel_name="x"), ("s",)) == Target(
        channel_name="x", exclude=("s",)
    )
    assert compile_queryset(objects.for_user(5)) == Target(user_id=5)
    assert compile_queryset(objects.filter(api_gateway_id=3, channel_name="a")) == Target(
        channel_name="a", api_gateway_id=3
    )
    assert compile_queryset(objects.all()) == Target()
    for qs in (
        objects.filter(channel_name__startswith="x"),
        objects.filter(user__username="x"),
        objects.filter(connected=False),
        objects.exclude(channel_name="x"),
        objects.filter(user=None),
        objects.filter(channel_name="a")[:5],
        objects.filter(channel_name="a") | objects.filter(channel_name="b"),
    ):
        assert compile_queryset(qs) is None, qs.query


def test_target_round_trips_as_plain_data():
    target = Target(channel_name="room", api_gateway_id=2, exclude=("b=", "a="))
    assert Target.from_dict(target.to_dict()) == Target(
        channel_name="room", api_gateway_id=2, exclude=("a=", "b=")
    )
    with pytest.raises(ValueError, match="Unknown target keys"):
        Target.from_dict({"channel": "room"})


def _drain(key: str, seconds: float, out) -> None:
    bucket = SharedTokenBucket(rate=200, burst=20, key=key)
    granted = 0
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        wait = bucket.try_take(1)
        if wait:
            time.sleep(min(wait, 0.01))
        else:
            granted += 1
    out.put(granted)


@pytest.mark.timeout(30)
def test_token_bucket_is_shared_by_processes(clean_redis):
    ctx = multiprocessing.get_context("fork")
    out = ctx.Queue()
    start = time.monotonic()
    workers = [ctx.Process(target=_drain, args=("wsgateway:test:bucket", 1.0, out)) for _ in range(2)]
    for p in workers:
        p.start()
    for p in workers:
        p.join(20)
    elapsed = time.monotonic() - start
    counts = [out.get(timeout=5) for _ in workers]
    total = sum(counts)
    # at most the burst plus the refill over the run; both processes got a share
    assert total <= 20 + 200 * elapsed + 5, (counts, elapsed)
    assert total >= 150, counts
    assert all(c > 20 for c in counts), counts


def test_token_bucket_grants_all_or_nothing_and_says_how_long_to_wait(clean_redis):
    bucket = SharedTokenBucket(rate=100, burst=50, key="wsgateway:test:bucket2")
    started = time.monotonic()
    assert bucket.try_take(50) == 0.0
    wait = bucket.try_take(10)
    # 10 tokens at 100/s is 0.1 s, less what refilled between the two calls (Redis' clock, so
    # bounded by ours): a stalled test process makes the wait shorter, never longer.
    between = time.monotonic() - started
    assert max(0.0, 0.1 - between) - 0.005 <= wait <= 0.105
    time.sleep(wait + 0.01)
    assert bucket.try_take(10) == 0.0


def test_the_rate_limit_script_refuses_impossible_takes_and_ignores_disabled_limits(clean_redis):
    # More tokens than the burst could never be granted: an error, not an endless wait.
    with pytest.raises(ValueError, match="cannot take 4 tokens"):
        gcra.take("wsgateway:test:gcra", interval=0.01, burst=3, n=4)
    assert gcra.take("wsgateway:test:gcra", interval=0.0, burst=1, n=1) == 0.0
    assert clean_redis.exists("wsgateway:test:gcra") == 0
    # A refused take leaves the limit as it was: the wait it answers is the real one.
    assert gcra.take("wsgateway:test:gcra", interval=10.0, burst=1) == 0.0
    before = clean_redis.get("wsgateway:test:gcra")
    assert 9.0 < gcra.take("wsgateway:test:gcra", interval=10.0, burst=1) <= 10.0
    assert clean_redis.get("wsgateway:test:gcra") == before


def test_retry_countdown_stays_below_the_visibility_timeout(clean_redis):
    import json as _json
    from datetime import datetime

    from tests.celery_app import app
    from wsgateway.tasks.fanout import _requeue

    previous = app.conf.broker_transport_options
    app.conf.broker_transport_options = {"visibility_timeout": 10}
    try:
        before = time.time()
        _requeue({"message_id": "m", "chunk": "0.1", "connections": []}, 100.0)
    finally:
        app.conf.broker_transport_options = previous
    message = _json.loads(clean_redis.lindex("fanout", 0))
    eta = datetime.fromisoformat(message["headers"]["eta"]).timestamp()
    assert before + 4 <= eta <= time.time() + 5.5


@pytest.mark.django_db
def test_a_compiled_queryset_selects_exactly_the_live_sessions_of_the_queryset():
    from django.contrib.auth import get_user_model
    from hypothesis import HealthCheck, given, settings
    from hypothesis import strategies as st

    users = [get_user_model().objects.create_user(f"u{i}") for i in range(2)]
    gateways = [
        gateway(f"g{i}", api_endpoint=f"wss://g{i}.execute-api.us-east-1.amazonaws.com") for i in range(2)
    ]
    n = 0
    for channel in ("a", "b", ""):
        for user in (None, *users):
            for gw in gateways:
                make_sessions(gw, [f"s{n}=", f"s{n + 1}="], channel=channel, user=user)
                WebSocketSession.objects.filter(connection_id=f"s{n + 1}=").update(connected=False)
                n += 2
    filters = st.fixed_dictionaries(
        {},
        optional={
            "channel_name": st.sampled_from(["a", "b", ""]),
            "user": st.sampled_from(users),
            "api_gateway_id": st.sampled_from([g.pk for g in gateways]),
            "connected": st.just(True),
            "connection_id": st.sampled_from(["s0=", "s1=", "s12=", "nope="]),
        },
    )

    @settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
    @given(first=filters, second=filters)
    def check(first, second):
        qs = WebSocketSession.objects.filter(**first).filter(**second)
        target = compile_queryset(qs)
        expected = set(qs.filter(connected=True).values_list("pk", flat=True))
        if target is None:  # only conflicting values on the same field refuse to compile
            assert any(k in second and first[k] != second[k] for k in first)
            return
        assert set(target.queryset().values_list("pk", flat=True)) == expected

    check()
