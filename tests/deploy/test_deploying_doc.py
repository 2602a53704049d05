"""docs/deploying.md stays true: linked from the README, its commands and settings exist, and its
worker policy is what printIamPolicy prints."""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import pytest
from django.core.management import get_commands

from wsgateway.conf import SETTINGS
from wsgateway.models import ApiGateway

from .conftest import run

ROOT = Path(__file__).resolve().parents[2]
GUIDE = (ROOT / "docs" / "deploying.md").read_text()


def test_the_readme_links_the_guide() -> None:
    assert "(docs/deploying.md)" in (ROOT / "README.md").read_text()


def test_every_command_and_setting_the_guide_names_exists() -> None:
    commands = set(re.findall(r"manage\.py (\w+)", GUIDE)) | set(
        re.findall(r"`(\w+ApiGateway|\w+GatewaySecret|printIamPolicy)", GUIDE)
    )
    assert {"printIamPolicy", "checkApiGateway", "rotateGatewaySecret", "syncApiGateway"} <= commands
    assert commands <= set(get_commands()), commands - set(get_commands())
    named = set(re.findall(r"`([A-Z][A-Z_]+[A-Z])`", GUIDE))
    wsgateway_keys = {
        key for key in named if key in SETTINGS or key.startswith(("FANOUT_", "ACCOUNT_", "TOKEN_"))
    }
    assert wsgateway_keys and wsgateway_keys <= set(SETTINGS), wsgateway_keys - set(SETTINGS)


@pytest.mark.django_db
def test_the_worker_policy_shown_is_the_printed_one(settings: Any) -> None:
    settings.AWS_REGION_NAME = "eu-west-1"
    shown = json.loads(GUIDE.split("so the worker policy is:\n\n```json\n", 1)[1].split("```", 1)[0])
    gateway = ApiGateway.objects.create(api_name="doc", api_id="a1b2c3d4e5", stage_name="production")
    printed = json.loads(
        run("printIamPolicy", "--pk", str(gateway.pk), "--role", "worker", "--account", "123456789012")
    )
    assert printed == shown
