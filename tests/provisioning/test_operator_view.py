"""What an operator sees on the row and in the log while a run retries or after it failed."""

from __future__ import annotations

import logging
import socket
from typing import Any

import pytest

from wsgateway.aws import clear_client_cache
from wsgateway.exceptions import AwsError
from wsgateway.models import ApiGateway
from wsgateway.provisioning import runner

from .conftest import wsgateway_overrides

pytestmark = pytest.mark.django_db


def _closed_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])  # closed again when the probe is: nothing listens


def test_a_retried_step_says_why_on_the_row_and_in_the_log(
    gateway: ApiGateway, settings: Any, clean_redis: Any, caplog: Any
) -> None:
    settings.WSGATEWAY = wsgateway_overrides(
        ENDPOINT_URLS={"apigatewayv2": f"http://127.0.0.1:{_closed_port()}"}
    )
    clear_client_cache()
    run_id = runner.new_run_id()
    runner.run_step(None, gateway.pk, run_id, "lock:create_gateway")
    with caplog.at_level(logging.WARNING, logger="wsgateway.provisioning"), pytest.raises(AwsError) as raised:
        runner.run_step(None, gateway.pk, run_id, "create_api")
    assert raised.value.retryable
    gateway.refresh_from_db()
    # Still being created (the task retries), and the row says which step and why.
    assert gateway.provisioning_status == "creating"
    assert gateway.last_error.startswith("retrying step create_api: "), gateway.last_error
    retry_lines = [r.getMessage() for r in caplog.records if "result=retrying" in r.getMessage()]
    assert len(retry_lines) == 1
    assert (
        f"step=create_api gateway={gateway.pk} result=retrying run={run_id} reason=step create_api:"
        in (retry_lines[0])
    )
    clear_client_cache()


def test_a_new_run_clears_the_previous_runs_step_and_error(gateway: ApiGateway, clean_redis: Any) -> None:
    ApiGateway.objects.filter(pk=gateway.pk).update(
        provisioning_status="failed", provisioning_step="integrations", last_error="step routes: boom"
    )
    runner.run_step(None, gateway.pk, runner.new_run_id(), "lock:create_gateway")
    gateway.refresh_from_db()
    shown = (gateway.provisioning_status, gateway.provisioning_step, gateway.last_error)
    assert shown == ("creating", "", "")


def test_the_task_retry_carries_its_reason_for_flower_and_celerys_log(
    gateway: ApiGateway, settings: Any, clean_redis: Any
) -> None:
    """Flower's task-retried event and Celery's "retry:" log line show ``Retry.exc``: without it
    they read "Retry in Ns" / exception None, and nobody sees why the step is retried."""
    from celery.exceptions import Retry

    from wsgateway.tasks.provisioning import provisioning_step

    settings.WSGATEWAY = wsgateway_overrides(
        ENDPOINT_URLS={"apigatewayv2": f"http://127.0.0.1:{_closed_port()}"}
    )
    clear_client_cache()
    run_id = runner.new_run_id()
    runner.run_step(None, gateway.pk, run_id, "lock:create_gateway")
    # As a worker runs it (not called directly): the retry is published to the test's Redis.
    args = (None, gateway.pk, run_id, "create_api")
    provisioning_step.push_request(
        id="retried-step", args=args, kwargs={}, retries=0, called_directly=False, is_eager=False
    )
    try:
        with pytest.raises(Retry) as raised:
            provisioning_step.run(*args)
    finally:
        provisioning_step.pop_request()
        clear_client_cache()
    assert isinstance(raised.value.exc, AwsError), str(raised.value)
    assert "Could not connect to the endpoint URL" in str(raised.value)
