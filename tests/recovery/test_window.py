"""The per-channel recovery window on the real Redis: ids, replay after an id, trimming by count,
bytes and time, and every way a client's id can stop being covered (docs/recovery.md)."""

from __future__ import annotations

import json
from typing import Any

import pytest
import redis
from django.test import override_settings

from tests.waiting import wait_until
from wsgateway import recovery, strict_json
from wsgateway.exceptions import PayloadTooLargeError
from wsgateway.fanout.messages import encode_message


def _settings(**changes: Any) -> Any:
    from django.conf import settings

    return override_settings(WSGATEWAY={**settings.WSGATEWAY, **changes})


def send(channel: str, text: str, **kwargs: Any) -> dict[str, Any]:
    """Record one message as the planning task does; the envelope clients receive."""
    message_id, body = encode_message({"text": text})
    return json.loads(recovery.record(channel, message_id, body, **kwargs))  # type: ignore[no-any-return]


def texts(result: recovery.ReadResult) -> list[str]:
    return [json.loads(e.body)["text"] for e in result.entries]


def id_key(entry_id: str) -> tuple[int, int]:
    ms, _, seq = entry_id.partition("-")
    return int(ms), int(seq)


def now_ms(client: redis.Redis) -> int:
    seconds, micros = client.time()
    return int(seconds) * 1000 + int(micros) // 1000


def test_every_channel_message_gets_a_growing_id_in_its_envelope(clean_redis: redis.Redis) -> None:
    envelopes = [send("room", f"m{i}") for i in range(50)]
    ids = [e[recovery.ID_FIELD] for e in envelopes]
    assert ids == sorted(ids, key=id_key) and len(set(ids)) == 50
    assert all(e[recovery.CHANNEL_FIELD] == "room" for e in envelopes)
    # The envelope keeps its shape: data, message_id, plus the two recovery fields.
    assert set(envelopes[0]) == {"text", "message_id", recovery.ID_FIELD, recovery.CHANNEL_FIELD}
    # Channels are independent streams. A client on a channel without messages yet gets a
    # starting point, and the channel's first message is replayed after it.
    baseline = recovery.read_since("other", None)
    assert not baseline.gap and baseline.latest and baseline.entries == []
    other = send("other", "x")
    assert [e.id for e in recovery.read_since("other", baseline.latest).entries] == [other[recovery.ID_FIELD]]
    assert recovery.read_since("other", None).latest == other[recovery.ID_FIELD]


def test_a_client_gets_everything_after_its_id_in_order(clean_redis: redis.Redis) -> None:
    envelopes = [send("room", f"m{i}") for i in range(20)]
    since = envelopes[11][recovery.ID_FIELD]
    result = recovery.read_since("room", since)
    assert not result.gap and result.latest == envelopes[-1][recovery.ID_FIELD]
    # A little before its id too (the reorder slack): the client drops those by message_id.
    after = [e for e in result.entries if id_key(e.id) > id_key(since)]
    assert [json.loads(e.body) for e in after] == envelopes[12:]
    assert all(json.loads(e.body) == envelopes[int(json.loads(e.body)["text"][1:])] for e in result.entries)
    # Up to date: nothing after the newest id, and no gap.
    latest = recovery.read_since("room", envelopes[-1][recovery.ID_FIELD])
    assert not latest.gap and all(
        id_key(e.id) <= id_key(envelopes[-1][recovery.ID_FIELD]) for e in latest.entries
    )


def test_a_retried_record_of_the_same_message_keeps_its_id(clean_redis: redis.Redis) -> None:
    start = recovery.read_since("room", None).latest
    message_id, body = encode_message({"text": "once"})
    first = recovery.record("room", message_id, body)
    again = recovery.record("room", message_id, body)
    assert first == again
    # Also after a few other messages (a retry after a lost reply, while others were sent).
    send("room", "between")
    assert recovery.record("room", message_id, body) == first
    assert [json.loads(e.body)["text"] for e in recovery.read_since("room", start).entries] == [
        "once",
        "between",
    ]


def test_trimmed_by_count_and_the_client_before_the_trim_is_told(clean_redis: redis.Redis) -> None:
    with _settings(RECOVERY_MAX_MESSAGES=10):
        envelopes = [send("room", f"m{i}") for i in range(25)]
    assert clean_redis.xlen(recovery.stream_key("room")) == 10
    kept = recovery.read_since("room", envelopes[14][recovery.ID_FIELD])
    assert not kept.gap and texts(kept)[-10:] == [f"m{i}" for i in range(15, 25)]
    lost = recovery.read_since("room", envelopes[13][recovery.ID_FIELD])
    assert lost.gap and lost.entries == [] and lost.latest == envelopes[-1][recovery.ID_FIELD]


def test_trimmed_by_bytes_keeping_the_newest(clean_redis: redis.Redis) -> None:
    blob = "x" * 1000
    with _settings(RECOVERY_MAX_BYTES=5000):
        envelopes = [send("room", f"{i:03d}{blob}") for i in range(20)]
        kept = clean_redis.xlen(recovery.stream_key("room"))
        meta = clean_redis.hget(recovery.marker_key("room"), "bytes")
        # One message larger than the whole budget is still kept (alone).
        huge = send("room", "y" * 8000)
    assert 3 <= kept <= 4 and meta is not None and int(meta) <= 5000
    assert clean_redis.xlen(recovery.stream_key("room")) == 1
    # The last small message was trimmed, but a client that saw it misses nothing (huge is kept);
    # one that saw only the message before it is told.
    assert texts(recovery.read_since("room", envelopes[-1][recovery.ID_FIELD])) == ["y" * 8000]
    assert recovery.read_since("room", envelopes[-2][recovery.ID_FIELD]).gap
    assert recovery.read_since("room", huge[recovery.ID_FIELD]).gap is False


def test_trimmed_by_time_and_an_idle_channel_vanishes(clean_redis: redis.Redis) -> None:
    with _settings(RECOVERY_WINDOW_SECONDS=0.3):
        old = send("room", "old")
        stream = recovery.stream_key("room")
        assert 0 < clean_redis.pttl(stream) <= 300
        # Wait until the first message is older than the window, then send another: it trims.
        wait_until(
            lambda: (
                clean_redis.time()[0] * 1000 + clean_redis.time()[1] // 1000
                > id_key(old[recovery.ID_FIELD])[0] + 350
            ),
            5,
            "window to pass",
        )
        new = send("room", "new")
        assert clean_redis.xlen(stream) == 1
        assert recovery.read_since("room", old[recovery.ID_FIELD]).gap is False  # "old" itself was seen
        assert texts(recovery.read_since("room", old[recovery.ID_FIELD])) == ["new"]
        # Idle for a whole window: the stream expires; the marker remembers where it ended.
        wait_until(lambda: not clean_redis.exists(stream), 5, "the idle stream to expire")
        up_to_date = recovery.read_since("room", new[recovery.ID_FIELD])
        assert not up_to_date.gap and up_to_date.entries == []
        assert recovery.read_since("room", old[recovery.ID_FIELD]).gap  # "new" expired unseen
        # A stream created again continues after the marker: the up-to-date client misses nothing.
        again = send("room", "again")
        assert id_key(again[recovery.ID_FIELD]) > id_key(new[recovery.ID_FIELD])
        resumed = recovery.read_since("room", new[recovery.ID_FIELD])
        assert not resumed.gap and texts(resumed) == ["again"]


def test_redis_losing_its_data_is_a_gap_not_silence(clean_redis: redis.Redis) -> None:
    seen = send("room", "before")
    clean_redis.flushdb()  # a Redis restart without persistence (which takes more than 1 ms)
    wait_until(lambda: now_ms(clean_redis) > id_key(seen[recovery.ID_FIELD])[0], 5, "the next millisecond")
    assert recovery.read_since("room", seen[recovery.ID_FIELD]).gap
    send("room", "after")  # a fresh stream: what came before it is unknown
    assert recovery.read_since("room", seen[recovery.ID_FIELD]).gap
    # An id the stream never produced (a restore from an older snapshot) is a gap too.
    assert recovery.read_since("room", "99999999999999-0").gap
    # Malformed ids are a gap, never an error.
    assert recovery.read_since("room", "nonsense").gap


def test_messages_for_one_gateway_are_replayed_on_that_gateway_only(clean_redis: redis.Redis) -> None:
    first = send("room", "everyone")
    send("room", "gateway 1", api_gateway_id=1)
    send("room", "gateway 2", api_gateway_id=2)
    since = first[recovery.ID_FIELD]
    assert texts(recovery.read_since("room", since, api_gateway_id=2))[-1:] == ["gateway 2"]
    assert "gateway 1" not in texts(recovery.read_since("room", since, api_gateway_id=2))


def test_replay_frames_fit_the_size_limit_and_count_their_parts(clean_redis: redis.Redis) -> None:
    start = recovery.read_since("room", None).latest
    envelopes = [send("room", f"{i:02d}" + "z" * 300) for i in range(40)]
    result = recovery.read_since("room", start)
    frames = recovery.replay_frames(result, limit=4000, request="r1")
    parsed = [json.loads(body) for _, body in frames]
    assert len(parsed) > 1 and all(len(body.encode()) <= 4000 for _, body in frames)
    assert [f["part"] for f in parsed] == list(range(1, len(parsed) + 1))
    assert {f["parts"] for f in parsed} == {len(parsed)} and {f["request"] for f in parsed} == {"r1"}
    assert [m for f in parsed for m in f["messages"]] == envelopes
    assert len({message_id for message_id, _ in frames}) == len(frames)
    # Nothing missed is still one frame: the client learns recovery finished.
    (only,) = recovery.replay_frames(recovery.read_since("room", envelopes[-1][recovery.ID_FIELD]))
    assert json.loads(only[1])["parts"] == 1
    # A gap is one gap frame.
    (gap,) = recovery.replay_frames(recovery.ReadResult("room", "1-0", gap=True, latest="5-0"))
    assert json.loads(gap[1])["type"] == recovery.GAP and json.loads(gap[1])["reason"] == "window"


def test_a_message_too_large_once_stamped_is_refused(clean_redis: redis.Redis) -> None:
    limit = 2000
    with _settings(MAX_MESSAGE_BYTES=limit):
        _, body = encode_message({"text": "x" * (limit - 80)})
        with pytest.raises(PayloadTooLargeError, match="recovery id"):
            recovery.record("room", "m1", body)
    assert not clean_redis.exists(recovery.stream_key("room"))


def test_stamp_splices_valid_json() -> None:
    assert json.loads(recovery.stamp("{}", "a b", "1-2")) == {
        recovery.ID_FIELD: "1-2",
        recovery.CHANNEL_FIELD: "a b",
    }
    body = strict_json.dumps({"k": [1, {"x": "}"}], "message_id": "m"})
    assert json.loads(recovery.stamp(body, "c", "3-4"))["k"] == [1, {"x": "}"}]


def test_resume_requests_are_checked_for_shape() -> None:
    assert recovery.parse_request({"a": None, "b": "1-0"}) == {"a": None, "b": "1-0"}
    for bad in (None, [], {"a": 5}, {"a": "1"}, {"a": "x-1"}):
        with pytest.raises(ValueError):
            recovery.parse_request(bad)


def test_recovery_off_keeps_nothing_and_stamps_nothing(clean_redis: redis.Redis) -> None:
    from wsgateway.fanout.targets import Target

    with _settings(RECOVERY_WINDOW_SECONDS=0):
        assert recovery.kept_channel(Target(channel_name="room")) is None
    assert recovery.kept_channel(Target(channel_name="room")) == "room"
    assert recovery.kept_channel(Target(channel_name="room", user_id=3)) is None
    assert recovery.kept_channel(Target(channel_name="room", connection_id="c")) is None
    assert recovery.kept_channel(Target(channel_name="")) is None


def test_a_message_for_the_channels_own_sessions_is_not_replayed_to_its_subscribers(
    clean_redis: redis.Redis,
) -> None:
    start = recovery.read_since("room", None).latest
    send("room", "everyone")
    send("room", "own sessions only", own_channel_only=True)  # a queryset send on channel_name
    assert texts(recovery.read_since("room", start)) == ["everyone", "own sessions only"]
    assert texts(recovery.read_since("room", start, own_channel=False)) == ["everyone"]
