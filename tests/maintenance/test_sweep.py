"""The stale-session sweep: lifetime by bulk UPDATE, idle rows probed with GET @connections on
the emulator (real sockets, real Redis for the shared budget), 410 → disconnected."""

from __future__ import annotations

import logging
import secrets
from datetime import timedelta

import pytest
from django.utils import timezone

from tests.maintenance.emulated import live_ids, make_gateway, make_sessions, virtual_connections
from wsgateway import maintenance
from wsgateway.models import ApiGateway, WebSocketSession
from wsgateway.tasks import maintenance as tasks

pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("clean_redis")]

IDLE = 700.0  # past the 600 s idle timeout
LIFETIME_PASSED = 7300.0  # past the 2 h lifetime


def unknown_ids(n: int) -> list[str]:
    """Ids the emulator never issued: it answers 410 for them, like AWS for closed sockets."""
    return [secrets.token_urlsafe(12) for _ in range(n)]


def test_rows_past_the_lifetime_are_disconnected_in_bulk_without_probing(emulator) -> None:
    gateway = make_gateway(emulator, virtual_connections(emulator, 1)["apiId"])
    old = unknown_ids(3)
    make_sessions(gateway, old, age_seconds=LIFETIME_PASSED)
    make_sessions(None, ["no-gateway-old"], age_seconds=LIFETIME_PASSED)
    make_sessions(gateway, ["young"], age_seconds=30)
    result = maintenance.sweep_stale_sessions()
    assert (result.expired, result.probed) == (4, 0)
    assert live_ids() == {"young"}
    row = WebSocketSession.objects.get(connection_id=old[0])
    assert row.disconnected_at is not None and timezone.now() - row.updated_on < timedelta(seconds=30)
    assert not any(k.startswith("management.GET") for k in emulator.stats())


def test_idle_rows_are_probed_and_only_gone_ones_disconnected(emulator) -> None:
    info = virtual_connections(emulator, 3)
    gateway = make_gateway(emulator, info["apiId"])
    alive, gone = info["connectionIds"], unknown_ids(4)
    make_sessions(gateway, alive + gone, idle_seconds=IDLE, age_seconds=IDLE)
    make_sessions(gateway, ["active"], idle_seconds=5)
    make_sessions(None, ["idle-without-gateway"], idle_seconds=IDLE, age_seconds=IDLE)
    before = timezone.now()

    result = maintenance.sweep_stale_sessions()

    assert result.as_dict() == {
        "expired": 0,
        "probed": 7,
        "gone": 4,
        "alive": 3,
        "errors": 0,
        "errors_by": {},
    }
    assert live_ids() == {*alive, "active", "idle-without-gateway"}
    stats = emulator.stats()
    assert (stats.get("management.GET.200"), stats.get("management.GET.410")) == (3, 4)
    # alive rows count as seen now: the next run does not probe them again
    assert all(s.last_seen_at >= before for s in WebSocketSession.objects.filter(connection_id__in=alive))
    again = maintenance.sweep_stale_sessions()
    assert (again.probed, again.gone) == (0, 0)


def test_probe_errors_are_counted_and_rows_kept(emulator, caplog) -> None:
    gateway = make_gateway(emulator, virtual_connections(emulator, 1)["apiId"])
    ids = unknown_ids(5)
    make_sessions(gateway, ids, idle_seconds=IDLE, age_seconds=IDLE)
    emulator.configure(fail_500=1.0)
    with caplog.at_level(logging.INFO, logger="wsgateway.maintenance"):
        result = tasks.sweep_stale_sessions.apply().get()
    assert (result["probed"], result["gone"], result["errors"], result["errors_by"]) == (5, 0, 5, {"500": 5})
    assert [r.getMessage() for r in caplog.records if r.name == "wsgateway.maintenance"] == [
        "wsgateway.maintenance task=sweep_stale_sessions expired=0 probed=5 gone=0 alive=0 errors=5 "
        "errors_by.500=5"
    ]
    assert live_ids() == set(ids)
    emulator.configure(fail_500=0.0, fail_429=1.0)
    assert maintenance.sweep_stale_sessions().errors_by == {"429": 5}
    emulator.configure(fail_429=0.0)
    assert maintenance.sweep_stale_sessions().gone == 5
    assert live_ids() == set()


def test_unreachable_endpoint_is_an_error_not_a_crash(emulator) -> None:
    gateway = make_gateway(emulator, "a1b2c3d4e5")
    ApiGateway.objects.filter(pk=gateway.pk).update(api_endpoint="ws://127.0.0.1:9/a1b2c3d4e5")
    make_sessions(gateway, ["x1", "x2"], idle_seconds=IDLE, age_seconds=IDLE)
    result = maintenance.sweep_stale_sessions()
    assert (result.probed, result.errors_by) == (2, {"no_answer": 2})
    assert live_ids() == {"x1", "x2"}


def test_probes_per_run_are_bounded_oldest_first(emulator) -> None:
    gateway = make_gateway(emulator, virtual_connections(emulator, 1)["apiId"])
    ids = unknown_ids(5)
    for age, connection_id in enumerate(ids):
        make_sessions(gateway, [connection_id], idle_seconds=IDLE + 100 * (5 - age), age_seconds=IDLE * 2)
    result = maintenance.sweep_stale_sessions(probe_limit=2)
    assert (result.probed, result.gone) == (2, 2)
    assert live_ids() == set(ids[2:])
    assert maintenance.sweep_stale_sessions(probe_limit=0).probed == 0


def test_sessions_on_two_gateways_are_probed_on_their_own_endpoints(emulator) -> None:
    first, second = virtual_connections(emulator, 2), virtual_connections(emulator, 2)
    g1, g2 = make_gateway(emulator, first["apiId"]), make_gateway(emulator, second["apiId"])
    # a connection of the other API is gone for this one (AWS answers 410 too)
    make_sessions(g1, [first["connectionIds"][0], second["connectionIds"][0]], idle_seconds=IDLE)
    make_sessions(g2, [second["connectionIds"][1]], idle_seconds=IDLE)
    result = maintenance.sweep_stale_sessions()
    assert (result.probed, result.alive, result.gone) == (3, 2, 1)
    assert live_ids() == {first["connectionIds"][0], second["connectionIds"][1]}


def test_sweep_task_returns_its_counts_and_logs_one_line(emulator, caplog) -> None:
    gateway = make_gateway(emulator, virtual_connections(emulator, 1)["apiId"])
    make_sessions(gateway, unknown_ids(2), idle_seconds=IDLE, age_seconds=IDLE)
    make_sessions(gateway, unknown_ids(1), age_seconds=LIFETIME_PASSED)
    with caplog.at_level(logging.INFO, logger="wsgateway.maintenance"):
        result = tasks.sweep_stale_sessions.apply().get()
    assert result == {"expired": 1, "probed": 2, "gone": 2, "alive": 0, "errors": 0, "errors_by": {}}
    lines = [r.getMessage() for r in caplog.records if r.name == "wsgateway.maintenance"]
    assert lines == [
        "wsgateway.maintenance task=sweep_stale_sessions expired=1 probed=2 gone=2 alive=0 errors=0"
    ]
