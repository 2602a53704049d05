"""The management API answers 429/500 for a fraction of calls: every message is still delivered."""

from __future__ import annotations

import pytest

from tests.faults.conftest import count_delivery, over_http_and_https, report, virtual_room, wait_complete
from wsgateway.tasks.fanout import send_message

pytestmark = [pytest.mark.slow, pytest.mark.django_db(transaction=True), pytest.mark.timeout(30)]


@over_http_and_https
def test_throttled_and_failing_calls_are_retried_until_everyone_has_the_message(emulator, thread_worker):
    ids = virtual_room(emulator, 300)
    emulator.configure(fail_429=0.2, fail_500=0.1, seed=8)

    message_id = send_message.delay({"text": "hi"}, channel_name="room").get(timeout=20)["message_id"]
    summary = wait_complete(message_id, timeout=25)

    delivery = count_delivery(emulator, ids, message_id)
    report(delivery, "429/500")
    stats = emulator.stats()
    assert stats["faults.429"] > 20 and stats["faults.500"] > 10  # the faults really happened
    assert (summary["targeted"], summary["delivered"], summary["failed"]) == (300, 300, 0)
    assert summary["retried"] > 0
    assert delivery.lost == 0 and delivery.delivered == 300
    # a refused call delivers nothing, so a retry never duplicates
    assert delivery.duplicates == 0
