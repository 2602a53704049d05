"""Issue 12 on docker-compose.yml: ports on loopback only, no default secrets, the web service's
environment (as compose would build it) fails ``check --deploy`` on published secrets, and Flower
answers nobody without credentials (a real Flower process, started with the compose command)."""

from __future__ import annotations

import base64
import os
import re
import secrets
import socket
import subprocess
import sys
import urllib.error
import urllib.request
from collections.abc import Iterator, Mapping
from typing import Any

import pytest
import yaml
from django.conf import settings

from tests.security.support import ROOT, clean_env
from tests.waiting import wait_until
from wsgateway.shipped_secrets import SHIPPED_SECRETS

#: What an operator must set; compose has no default for any of them.
REQUIRED = {
    "DJANGO_SECRET_KEY",
    "WSGATEWAY_GATEWAY_SECRETS",
    "POSTGRES_PASSWORD",
    "AWS_ACCESS_KEY_ID",
    "AWS_SECRET_ACCESS_KEY",
    "FLOWER_BASIC_AUTH",
}
_VARIABLE = re.compile(r"\$\$|\$\{([A-Za-z_][A-Za-z0-9_]*)(?:(:?[-?])([^}]*))?\}|\$([A-Za-z_][A-Za-z0-9_]*)")


class Refused(Exception):
    """Compose refuses to start: a required variable is unset or empty."""


def interpolate(text: str, env: Mapping[str, str]) -> str:
    """``text`` with compose's variable syntax resolved against ``env`` (as ``docker compose``)."""

    def one(match: re.Match[str]) -> str:
        if match.group(0) == "$$":
            return "$"
        name = match.group(1) or match.group(4)
        operator, argument = match.group(2), match.group(3) or ""
        value = env.get(name)
        missing = value is None or (value == "" and operator is not None and operator.startswith(":"))
        if operator in {":-", "-"} and missing:
            return argument
        if operator in {":?", "?"} and missing:
            raise Refused(f"{name}: {argument}")
        return value or ""

    return _VARIABLE.sub(one, text)


def compose(env: Mapping[str, str]) -> dict[str, Any]:
    """docker-compose.yml as compose would run it with ``env`` (its .env plus the shell's)."""
    raw = yaml.safe_load((ROOT / "docker-compose.yml").read_text())

    def walk(node: Any) -> Any:
        if isinstance(node, dict):
            return {key: walk(value) for key, value in node.items()}
        if isinstance(node, list):
            return [walk(item) for item in node]
        return interpolate(node, env) if isinstance(node, str) else node

    return walk(raw)


def own_secrets() -> dict[str, str]:
    values = {name: secrets.token_urlsafe(40) for name in REQUIRED}
    values["FLOWER_BASIC_AUTH"] = f"ops:{secrets.token_urlsafe(16)}"
    return values


def required_variables() -> set[str]:
    text = (ROOT / "docker-compose.yml").read_text()
    return {m.group(1) for m in _VARIABLE.finditer(text) if m.group(2) in {":?", "?"}}


# --- the file ----------------------------------------------------------------------------------


def test_every_port_is_published_on_loopback_only() -> None:
    services = compose(own_secrets())["services"]
    published = {name: service.get("ports", []) for name, service in services.items() if service.get("ports")}
    assert set(published) == {"web", "flower", "emulator"}
    for name, ports in published.items():
        for port in ports:
            text = port if isinstance(port, str) else f"{port.get('host_ip', '')}:{port.get('published')}"
            assert text.startswith("127.0.0.1:"), f"{name} publishes {port!r} beyond this machine"


def test_no_secret_has_a_default() -> None:
    text = (ROOT / "docker-compose.yml").read_text()
    defaults = {m.group(1): m.group(3) for m in _VARIABLE.finditer(text) if m.group(2) in {":-", "-"}}
    assert not defaults, f"compose must not invent values: {defaults}"
    assert required_variables() == REQUIRED
    for name in REQUIRED:
        with pytest.raises(Refused, match=name):
            compose({k: v for k, v in own_secrets().items() if k != name})
        with pytest.raises(Refused, match=name):
            compose({**own_secrets(), name: ""})


def test_env_example_names_exactly_what_compose_requires_and_no_value() -> None:
    lines = [line for line in (ROOT / ".env.example").read_text().splitlines() if line and line[0] != "#"]
    assigned = dict(line.split("=", 1) for line in lines)
    assert set(assigned) == REQUIRED
    assert set(assigned.values()) == {""}
    assert ".env" in (ROOT / ".dockerignore").read_text().split()


# --- check --deploy on the web service's environment ---------------------------------------------


def web_check_deploy(env: Mapping[str, str]) -> subprocess.CompletedProcess[str]:
    service_env = compose(env)["services"]["web"]["environment"]
    return subprocess.run(
        [sys.executable, "manage.py", "check", "--deploy"],
        cwd=ROOT,
        env=clean_env(**{k: str(v) for k, v in service_env.items()}),
        capture_output=True,
        text=True,
        timeout=120,
    )


def test_check_deploy_fails_on_what_compose_used_to_default_to() -> None:
    # An operator's .env carrying the values earlier versions of the file defaulted to.
    env = {
        **own_secrets(),
        "DJANGO_SECRET_KEY": "compose-demo-secret-key-change-me-0123456789abcdef",
        "WSGATEWAY_GATEWAY_SECRETS": "compose-gateway-secret-change-me",
        "AWS_SECRET_ACCESS_KEY": "wsgateway-local-secret",
    }
    assert {env["DJANGO_SECRET_KEY"], env["WSGATEWAY_GATEWAY_SECRETS"]} <= SHIPPED_SECRETS
    out = web_check_deploy(env)
    assert out.returncode != 0
    assert "wsgateway.E010" in out.stderr
    assert "SECRET_KEY, WSGATEWAY['GATEWAY_SECRETS'], AWS_SECRET_ACCESS_KEY" in out.stderr


def test_check_deploy_passes_the_web_service_with_its_own_secrets() -> None:
    out = web_check_deploy(own_secrets())
    assert out.returncode == 0, out.stderr
    assert "wsgateway." not in out.stderr  # Django's own HTTPS warnings remain (compose serves http)


# --- Flower, as compose starts it ----------------------------------------------------------------


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def flower_argv(port: int) -> list[str]:
    command = compose(own_secrets())["services"]["flower"]["command"]
    assert command[:4] == ["celery", "-A", "worker", "flower"]
    argv = [a for a in command[4:] if not a.startswith("--port")]
    return [
        sys.executable,
        "-m",
        "celery",
        "-A",
        "worker",
        "flower",
        *argv,
        f"--port={port}",
        "--address=127.0.0.1",
    ]


def flower_env(env: Mapping[str, str]) -> dict[str, str]:
    service_env = {k: str(v) for k, v in compose(env)["services"]["flower"]["environment"].items()}
    service_env.update(
        CELERY_BROKER_URL=settings.REDIS_URL,
        CELERY_RESULT_BACKEND=settings.REDIS_URL,
        DATABASE_URL=f"sqlite:///{ROOT / 'test-artifacts' / 'flower-unused.sqlite3'}",
    )
    return clean_env(**service_env)


@pytest.fixture
def flower(redis_client: Any) -> Iterator[tuple[str, str]]:
    """Flower started with compose's command and environment; (base URL, user:password)."""
    env = own_secrets()
    port = free_port()
    process = subprocess.Popen(
        flower_argv(port),
        cwd=ROOT,
        env=flower_env(env),
        stdin=subprocess.DEVNULL,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        process_group=0,
    )
    url = f"http://127.0.0.1:{port}"
    try:
        wait_until(lambda: get(f"{url}/healthcheck")[0] == 200 or process.poll() is not None, 60, "Flower")
        assert process.poll() is None, "Flower exited"
        yield url, env["FLOWER_BASIC_AUTH"]
    finally:
        os.killpg(process.pid, 15)
        process.wait(timeout=20)


def get(url: str, credentials: str | None = None, *, post: bool = False) -> tuple[int, str]:
    request = urllib.request.Request(url, data=b"" if post else None)  # noqa: S310 (loopback URL)
    if credentials is not None:
        request.add_header("Authorization", "Basic " + base64.b64encode(credentials.encode()).decode())
    try:
        with urllib.request.urlopen(request, timeout=5) as answer:  # noqa: S310
            return answer.status, answer.read().decode(errors="replace")
    except urllib.error.HTTPError as err:
        return err.code, err.read().decode(errors="replace")
    except (urllib.error.URLError, OSError):
        return 0, ""


@pytest.mark.slow
def test_flower_answers_only_with_credentials(flower: tuple[str, str]) -> None:
    url, credentials = flower
    for path in ("/", "/tasks", "/workers", "/api/workers", "/api/tasks"):
        assert get(url + path)[0] == 401, path
        assert get(url + path, "ops:wrong-password")[0] == 401, path
    status, page = get(url + "/tasks", credentials)
    assert status == 200
    assert ">args<" not in page.lower() and ">kwargs<" not in page.lower()  # no such columns
    assert get(url + "/api/workers", credentials)[0] == 200
    # worker/flowerconfig.py is in force: read-only, even for the operator.
    for control in ("/api/task/revoke/some-task-id", "/api/task/async-apply/wsgateway.send_message"):
        assert get(url + control, credentials, post=True) == (403, "Read only mode is enabled"), control


@pytest.mark.slow
def test_flower_refuses_to_start_without_credentials() -> None:
    env = flower_env(own_secrets())
    del env["FLOWER_BASIC_AUTH"]
    env["FLOWER_UNAUTHENTICATED_API"] = "true"  # does not replace authentication
    out = subprocess.run(
        flower_argv(free_port()), cwd=ROOT, env=env, capture_output=True, text=True, timeout=60, check=False
    )
    assert out.returncode != 0
    assert "Flower needs authentication: set FLOWER_BASIC_AUTH" in out.stderr + out.stdout


def test_flower_hides_what_a_task_was_called_with() -> None:
    from celery.events.state import Task

    from worker import flowerconfig

    task = Task(
        uuid="1",
        name="wsgateway.deliver_chunk",
        args="(['Zm9vYmFyMDEyMzQ1'], '{\"text\": \"private\"}')",
        kwargs="{'message_id': 'm1'}",
        result="{'delivered': 1}",
    )
    shown = flowerconfig.format_task(task)
    assert (shown.args, shown.kwargs, shown.result) == ("(hidden)", "(hidden)", "{'delivered': 1}")
    assert flowerconfig.read_only is True
    assert not {"args", "kwargs"} & set(flowerconfig.tasks_columns.split(","))
