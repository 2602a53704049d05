"""Strict JSON in and out (no NaN, Infinity or overflowing numbers), and answers too large for
API Gateway are a clear 413, never a 500."""

from __future__ import annotations

import json

import pytest

from tests.ingestion.conftest import Browser, EventClient, error_code, new_connection_id
from wsgateway import strict_json
from wsgateway.fanout.messages import encode_message
from wsgateway.models import WebSocketSession

pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("compat_urls")]

LIMIT = 128 * 1024


@pytest.fixture
def reply_socket(events: EventClient, browser: Browser) -> tuple[EventClient, str]:
    events.base = "/reply/ws/"
    cid = new_connection_id()
    assert events.open(browser, cid).status_code == 200
    return events, cid


@pytest.mark.parametrize(
    "raw",
    [
        b'{"handler": "change_channel", "channel": "x", "n": 1e999}',
        b'{"handler": "change_channel", "channel": "x", "n": -1e400}',
        b'{"handler": "change_channel", "channel": "x", "n": NaN}',
        b'{"handler": "change_channel", "channel": "x", "n": Infinity}',
        b'{"handler": "change_channel", "channel": "x", "n": [-Infinity]}',
    ],
)
def test_non_finite_numbers_in_a_message_are_a_400(events: EventClient, connected: str, raw: bytes) -> None:
    response = events.message(connected, None, raw=raw)
    assert response.status_code == 400 and error_code(response) == "invalid_json"
    assert WebSocketSession.objects.get().channel_name == "lobby"  # the handler never ran


def test_big_finite_numbers_are_still_fine(events: EventClient, connected: str) -> None:
    raw = b'{"handler": "heartbeat", "n": 1.7e308, "m": 123456789012345678901234567890}'
    assert events.message(connected, None, raw=raw).status_code == 200


@pytest.mark.parametrize("size", [LIMIT - 8, LIMIT, LIMIT + 1000])  # {"text":"…"} adds 12 bytes
def test_an_answer_over_the_limit_is_a_413(reply_socket: tuple[EventClient, str], size: int) -> None:
    events, cid = reply_socket
    response = events.message(cid, {"handler": "big_answer", "size": size})
    assert response.status_code == 413 and error_code(response) == "reply_too_large"
    assert len(response.content) < 200


def test_an_answer_under_the_limit_is_sent(reply_socket: tuple[EventClient, str]) -> None:
    events, cid = reply_socket
    response = events.message(cid, {"handler": "big_answer", "size": LIMIT - 100})
    assert response.status_code == 200 and len(response.content) <= LIMIT


@pytest.mark.parametrize("handler", ["big_reply", "big_broadcast"])
def test_a_reply_or_broadcast_over_the_limit_is_a_413(
    reply_socket: tuple[EventClient, str], handler: str
) -> None:
    events, cid = reply_socket
    # Near the limit: the message id the fan-out adds pushes it over.
    response = events.message(cid, {"handler": handler, "size": LIMIT - 20})
    assert response.status_code == 413 and error_code(response) == "reply_too_large"


def test_an_answer_that_overflows_to_infinity_is_never_sent_as_json(
    reply_socket: tuple[EventClient, str],
) -> None:
    events, cid = reply_socket
    response = events.message(cid, {"handler": "nan_answer", "value": 1e308})
    assert response.status_code == 500 and error_code(response) == "invalid_reply"
    assert b"Infinity" not in response.content


def test_outbound_messages_refuse_nan_and_infinity() -> None:
    for bad in (float("nan"), float("inf"), -float("inf")):
        with pytest.raises(TypeError, match="not JSON-serialisable"):
            encode_message({"value": bad})
        with pytest.raises(ValueError):
            strict_json.dumps({"value": bad})
    _, body = encode_message({"value": 1.5})
    assert json.loads(body)["value"] == 1.5


def test_strict_loads() -> None:
    assert strict_json.loads('{"a": 1e308}') == {"a": 1e308}
    for bad in ('{"a": 1e999}', '{"a": NaN}', "Infinity", "[-Infinity]"):
        with pytest.raises(ValueError):
            strict_json.loads(bad)
