"""Clients vanish in the middle of a broadcast: their sends answer 410, the sessions are marked
disconnected, the summary counts them as gone, and every client still connected gets the message.

Real WebSocket clients connect through the emulator to the live Django server. The API has no
``$disconnect`` route (AWS does not guarantee ``$disconnect`` either), so the 410 of the fan-out
is the only way Django learns that those clients are gone.
"""

from __future__ import annotations

import json
import time
import uuid
from contextlib import ExitStack

import pytest
from websockets.exceptions import ConnectionClosed

from tests.faults.conftest import Delivery, DjangoApi, posts_delivered, report, wait_complete, wait_until
from tests.maintenance.emulated import live_ids, wsgateway_overrides
from wsgateway.models import WebSocketSession
from wsgateway.tasks.fanout import send_message

pytestmark = [pytest.mark.slow, pytest.mark.django_db(transaction=True), pytest.mark.timeout(90)]

N, VANISH = 30, 10


def copies_received(ws, message_id: str, wait: float) -> int:
    """How many copies of ``message_id`` the client has got, waiting at most ``wait`` for a frame."""
    copies = 0
    while True:
        try:
            frame = ws.recv(timeout=wait)
        except (TimeoutError, ConnectionClosed):
            return copies
        if json.loads(frame).get("message_id") == message_id:
            copies += 1
            wait = 0


def connect_all(stack: ExitStack, api: DjangoApi, n: int) -> list:
    # One after the other: on SQLite, concurrent $connect transactions fail with "database is
    # locked" (a read-then-write transaction cannot wait for the lock) unless the project sets
    # OPTIONS["transaction_mode"] = "IMMEDIATE".
    return [stack.enter_context(api.connect(open_timeout=10)) for _ in range(n)]


def test_vanished_clients_are_gone_and_the_others_get_the_message(
    emulator, django_api_factory, thread_worker
):
    overrides = wsgateway_overrides(
        REQUIRE_TOKEN=False,
        CONNECT_RATE_LIMIT_ATTEMPTS=1000,
        GONE_GRACE_SECONDS=0,  # the sessions are seconds old; their 410s must count at once
        FANOUT_CHUNK_SIZE=10,
        FANOUT_CONCURRENCY=1,
        FANOUT_RETRY_BACKOFF_SECONDS=0.1,
        FANOUT_RETRY_BACKOFF_MAX_SECONDS=0.4,
    )
    with overrides, ExitStack() as stack:
        api = django_api_factory(routes=("$connect", "$default"))
        # the clients that vanish connect last: recipients go in id order, so theirs is the last chunk
        clients = connect_all(stack, api, N - VANISH)
        clients += connect_all(stack, api, VANISH)
        assert WebSocketSession.objects.filter(connected=True).count() == N
        ids = list(WebSocketSession.objects.order_by("id").values_list("connection_id", flat=True))
        # A chunk of 10 takes ~1 s: the vanishing clients close within the ~2 s before their chunk.
        emulator.configure(latency_ms=100)

        message_id = uuid.uuid4().hex
        send_message.delay({"text": "still there?"}, api_gateway_id=api.gateway.pk, message_id=message_id)
        wait_until(lambda: posts_delivered(emulator) >= 1, 10, "the first delivery")
        for ws in clients[-VANISH:]:
            ws.close()
        summary = wait_complete(message_id, timeout=20)
        survivors = clients[:-VANISH]
        copies = [copies_received(ws, message_id, wait=5.0) for ws in survivors]
        # Complete: every post has been made. A duplicate may still be on its way to a client:
        # read on until the clients hold as many copies as the emulator accepted posts (bounded).
        accepted = posts_delivered(emulator)
        deadline = time.monotonic() + 5
        while sum(copies) < accepted and time.monotonic() < deadline:
            copies = [
                n + copies_received(ws, message_id, wait=0.05)
                for n, ws in zip(copies, survivors, strict=True)
            ]

    delivery = Delivery(
        sent=N,
        delivered=sum(1 for n in copies if n),
        duplicates=sum(n - 1 for n in copies if n > 1),
        lost=sum(1 for n in copies if n == 0),
    )
    report(delivery, f"{VANISH} clients vanished, gone={summary['gone']}")
    assert delivery.lost == 0 and delivery.delivered == N - VANISH
    assert (summary["targeted"], summary["failed"]) == (N, 0)
    assert summary["gone"] == VANISH and summary["delivered"] == N - VANISH
    assert live_ids() == set(ids[:-VANISH])
    gone_rows = WebSocketSession.objects.filter(connection_id__in=ids[-VANISH:])
    assert all(not s.connected and s.disconnected_at is not None for s in gone_rows)
