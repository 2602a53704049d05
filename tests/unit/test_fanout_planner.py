"""The fan-out planner's pure logic over in-memory recipients and endpoints (no database)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from django.test import override_settings

from wsgateway.fanout import planner
from wsgateway.fanout.planner import DELETE, POST, make_chunk, plan_broadcast, stream_recipients
from wsgateway.fanout.targets import Target
from wsgateway.payloads import Chunk

pytestmark = pytest.mark.unit

EPOCH = datetime(2026, 1, 1, tzinfo=UTC)


class FakeSessions:
    """The slice of a session queryset the planner uses: ``filter(id__gt=)``, ``order_by("id")``,
    ``values_list(...)`` and a ``[:n]`` slice; counts the pages read."""

    def __init__(self, rows: list[tuple[int, str, int | None, datetime]], pages: list[int] | None = None):
        self.rows = rows
        self.pages = pages if pages is not None else []

    def filter(self, *, id__gt: int) -> FakeSessions:
        return FakeSessions([r for r in self.rows if r[0] > id__gt], self.pages)

    def order_by(self, field: str) -> FakeSessions:
        assert field == "id"
        return FakeSessions(sorted(self.rows), self.pages)

    db = "default"

    def values_list(self, *fields: Any) -> FakeSessions:
        # created_on as it is, or as seconds computed by the database (rows here keep datetimes)
        created = fields[3]
        assert fields[:3] == ("id", "connection_id", "api_gateway_id")
        assert created == "created_on" or created.source_expressions[0].name == "created_on"
        return self

    def __getitem__(self, window: slice) -> list[tuple[int, str, int | None, datetime]]:
        self.pages.append(len(self.rows[window]))
        return self.rows[window]


class FakeEndpoints:
    """Management endpoint per gateway id, from a dict (gateways not in it have none)."""

    urls: dict[int | None, str] = {}

    def __getitem__(self, gateway_id: int | None) -> str:
        return self.urls.get(gateway_id, "")


@pytest.fixture
def endpoints(monkeypatch: pytest.MonkeyPatch) -> type[FakeEndpoints]:
    FakeEndpoints.urls = {1: "https://a.example/prod", 2: "https://b.example/v1", 3: ""}
    monkeypatch.setattr(planner, "_Endpoints", FakeEndpoints)
    return FakeEndpoints


def rows(spec: list[int | None]) -> list[tuple[int, str, int | None, datetime]]:
    """One row per entry, ids 1.., connection ``c<id>=``, that gateway, created ``id`` s after EPOCH."""
    return [(i, f"c{i}=", gw, EPOCH + timedelta(seconds=i)) for i, gw in enumerate(spec, start=1)]


def test_recipients_stream_in_id_order_page_by_page() -> None:
    pages: list[int] = []
    shuffled = list(reversed(rows([1] * 7)))
    streamed = list(stream_recipients(FakeSessions(shuffled, pages), page_size=3))  # type: ignore[arg-type]
    assert [r[0] for r in streamed] == list(range(1, 8))
    assert pages == [3, 3, 1]  # a short page ends the stream


def test_an_exact_multiple_of_the_page_size_reads_one_empty_page() -> None:
    pages: list[int] = []
    assert len(list(stream_recipients(FakeSessions(rows([1] * 6), pages), page_size=3))) == 6  # type: ignore[arg-type]
    assert pages == [3, 3, 0]


def test_chunks_are_cut_per_endpoint_and_numbered(endpoints: Any) -> None:
    emitted: list[Chunk] = []
    sessions = FakeSessions(rows([1, 2, 1, 2, 1, 1, 2]))
    with override_settings(WSGATEWAY={"FANOUT_CHUNK_SIZE": 2}):
        plan, unreachable = plan_broadcast(
            sessions,  # type: ignore[arg-type]
            message_id="m1",
            op=POST,
            body='{"x":1}',
            emit=emitted.append,
            page_size=3,
        )
    assert (plan.targeted, plan.chunks, plan.no_endpoint, unreachable.failed) == (7, 4, 0, 0)
    assert [c["chunk"] for c in emitted] == ["0", "1", "2", "3"]
    by_endpoint: dict[str, list[str]] = {}
    for chunk in emitted:
        assert 1 <= len(chunk["connections"]) <= 2
        assert (chunk["message_id"], chunk["op"], chunk["body"], chunk["attempt"]) == (
            "m1",
            POST,
            '{"x":1}',
            0,
        )
        by_endpoint.setdefault(chunk["endpoint"], []).extend(cid for cid, _ in chunk["connections"])
    assert by_endpoint == {
        "https://a.example/prod": ["c1=", "c3=", "c5=", "c6="],
        "https://b.example/v1": ["c2=", "c4=", "c7="],
    }
    created = dict(c for chunk in emitted for c in chunk["connections"])
    assert created["c7="] == (EPOCH + timedelta(seconds=7)).timestamp()


def _sizes(spec: list[int | None], settings: dict[str, int], chunk_size: int | None = None) -> list[int]:
    emitted: list[Chunk] = []
    with override_settings(WSGATEWAY=settings):
        plan_broadcast(
            FakeSessions(rows(spec)),  # type: ignore[arg-type]
            message_id="m",
            op=POST,
            body="{}",
            emit=emitted.append,
            chunk_size=chunk_size,
        )
    assert [c["chunk"] for c in emitted] == [str(i) for i in range(len(emitted))]
    return [len(c["connections"]) for c in emitted]


def test_a_large_plan_cuts_larger_chunks_once_it_has_cut_the_large_size_in_small_ones(
    endpoints: Any,
) -> None:
    # 2, 2, 2 (6 >= 5 cut in small chunks), then chunks of 5.
    sizes = {"FANOUT_CHUNK_SIZE": 2, "FANOUT_LARGE_CHUNK_SIZE": 5}
    assert _sizes([1] * 17, sizes) == [2, 2, 2, 5, 5, 1]
    # A plan of up to FANOUT_LARGE_CHUNK_SIZE recipients is cut as with one size.
    assert _sizes([1] * 5, sizes) == [2, 2, 1]
    # Off (0), not larger than the small size, or an explicit chunk_size: one size throughout.
    assert _sizes([1] * 9, {"FANOUT_CHUNK_SIZE": 2, "FANOUT_LARGE_CHUNK_SIZE": 0}) == [2, 2, 2, 2, 1]
    assert _sizes([1] * 9, {"FANOUT_CHUNK_SIZE": 4, "FANOUT_LARGE_CHUNK_SIZE": 3}) == [4, 4, 1]
    assert _sizes([1] * 9, sizes, chunk_size=3) == [3, 3, 3]


def test_the_shipped_chunk_sizes_cut_10000_recipients_into_13_tasks_not_40(endpoints: Any) -> None:
    assert _sizes([1] * 10_000, {}) == [250] * 4 + [1000] * 9


def test_recipients_without_an_endpoint_are_counted_failed_not_dropped(endpoints: Any) -> None:
    emitted: list[Chunk] = []
    plan, unreachable = plan_broadcast(
        FakeSessions(rows([None, 3, 1, 9])),  # type: ignore[arg-type]
        message_id="m2",
        op=DELETE,
        body=None,
        emit=emitted.append,
        chunk_size=10,
    )
    assert (plan.targeted, plan.chunks, plan.no_endpoint) == (4, 1, 3)
    assert (unreachable.failed, unreachable.failed_by) == (3, {"no_endpoint": 3})
    assert [c for c, _ in emitted[0]["connections"]] == ["c3="]
    assert emitted[0]["op"] == DELETE and emitted[0]["body"] is None


def test_no_recipients_no_chunks(endpoints: Any) -> None:
    emitted: list[Chunk] = []
    plan, unreachable = plan_broadcast(
        FakeSessions([]),  # type: ignore[arg-type]
        message_id="m3",
        op=POST,
        body="{}",
        emit=emitted.append,
    )
    assert (plan.targeted, plan.chunks, emitted, unreachable.failed) == (0, 0, [], 0)


def test_make_chunk_is_plain_json_data() -> None:
    chunk = make_chunk(
        message_id="m",
        op=POST,
        body="{}",
        endpoint="https://a.example/prod",
        chunk="3",
        connections=[["c=", 1.5]],
    )
    assert chunk == {
        "message_id": "m",
        "op": "post",
        "body": "{}",
        "endpoint": "https://a.example/prod",
        "chunk": "3",
        "attempt": 0,
        "connections": [["c=", 1.5]],
    }


def test_targets_round_trip_as_plain_data() -> None:
    target = Target(channel_name="room", api_gateway_id=4, exclude=("a=", "b="))
    data = target.to_dict()
    assert data == {"channel_name": "room", "api_gateway_id": 4, "exclude": ["a=", "b="]}
    assert Target.from_dict(data) == target
    with pytest.raises(ValueError, match="Unknown target keys: room"):
        Target.from_dict({"room": "x"})  # type: ignore[typeddict-unknown-key]
