"""Operations read the logs: exactly one structured line per broadcast and per provisioning step."""

from __future__ import annotations

import logging
import re

import pytest
from django.conf import settings
from django.test import override_settings

from tests.fanout.conftest import InlineFanout
from tests.maintenance.emulated import live_ids, make_gateway, make_sessions, virtual_connections
from wsgateway.aws import clear_client_cache
from wsgateway.models import ApiGateway, WebSocketSession
from wsgateway.provisioning import run_inline

pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("clean_redis")]

BROADCAST = re.compile(
    r"^wsgateway\.fanout broadcast message_id=(\w+) targeted=(\d+) delivered=(\d+) gone=(\d+) "
    r"retried=(\d+) failed=(\d+) chunks=(\d+)$"
)
STEP = re.compile(
    r"^wsgateway\.provisioning step=([\w:]+) gateway=(\d+) api_id=(\S+) result=(\w+) run=(\S+)$"
)


def test_one_line_per_broadcast_with_its_totals(emulator, caplog) -> None:
    info = virtual_connections(emulator, 5)
    make_sessions(make_gateway(emulator, info["apiId"]), [*info["connectionIds"], "gone-1", "gone-2"])
    WebSocketSession.objects.update(created_on="2020-01-01T00:00:00Z")  # past the 410 grace period
    with caplog.at_level(logging.INFO, logger="wsgateway.fanout"):
        message_id = InlineFanout().send(WebSocketSession.objects.live(), {"n": 1})
    lines = [
        r.getMessage() for r in caplog.records if r.getMessage().startswith("wsgateway.fanout broadcast")
    ]
    assert len(lines) == 1, lines
    match = BROADCAST.match(lines[0])
    assert match, lines[0]
    assert match.group(1) == message_id
    assert [int(x) for x in match.groups()[1:6]] == [7, 5, 2, 0, 0]
    assert live_ids() == set(info["connectionIds"])


def test_one_line_per_provisioning_step(emulator, caplog) -> None:
    conf = {
        **settings.WSGATEWAY,
        "ENDPOINT_URLS": {"apigatewayv2": emulator.url},
        "DEPLOYMENT_INTERVAL_SECONDS": 0,
        "CONTROL_PLANE_CALLS_PER_SECOND": 1000,
    }
    gateway = ApiGateway.objects.create(api_name="logged", target_base_endpoint="http://127.0.0.1:9/ws/")
    clear_client_cache()
    try:
        with (
            override_settings(WSGATEWAY=conf),
            caplog.at_level(logging.INFO, logger="wsgateway.provisioning"),
        ):
            results = run_inline("create_gateway", gateway.pk)
    finally:
        clear_client_cache()
    lines = [r.getMessage() for r in caplog.records if r.name == "wsgateway.provisioning"]
    steps = [STEP.match(line) for line in lines]
    assert all(steps), lines
    assert [m.group(1) for m in steps if m] == [r["step"] for r in results]  # one line per step, in order
    assert len({m.group(5) for m in steps if m}) == 1  # all of one run
    gateway.refresh_from_db()
    assert gateway.api_created and steps[-1] and steps[-1].group(3) == gateway.api_id
