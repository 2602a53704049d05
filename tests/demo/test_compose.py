"""docker-compose.yml and the Dockerfile: structure, and every command they run exists.

No Docker engine is needed: the file is parsed, and each entry point it names (manage.py
commands, ``celery -A worker`` and its subcommands, ``python -m`` modules, the gunicorn target)
is checked against the project in a fresh interpreter configured like the containers.
"""

from __future__ import annotations

import json
import re
import shlex
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
import yaml

ROOT = Path(__file__).resolve().parents[2]
SERVICES = {"redis", "postgres", "web", "worker", "beat", "flower", "emulator"}
APP_SERVICES = {"web", "worker", "beat", "flower", "emulator"}
# Read by boto3's credential chain rather than by settings (real AWS may use an IAM role instead).
BOTO3_ENV = {"AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY"}
# Read by Flower itself (its options from the environment).
FLOWER_ENV = {"FLOWER_BASIC_AUTH"}


@pytest.fixture(scope="module")
def compose() -> dict[str, Any]:
    return yaml.safe_load((ROOT / "docker-compose.yml").read_text())


def argv_list(command: Any) -> list[list[str]]:
    """The programs a compose ``command``/healthcheck runs (``sh -c "a && b"`` → ``[a, b]``)."""
    if isinstance(command, str):
        command = shlex.split(command)
    if command and command[0] in {"CMD", "CMD-SHELL"}:
        shell = command[0] == "CMD-SHELL"
        command = command[1:]
        if shell:
            command = ["sh", "-c", " ".join(command)]
    if len(command) >= 3 and command[:2] == ["sh", "-c"]:
        parts = [shlex.split(part) for part in re.split(r"&&|;", command[2]) if part.strip()]
        return [part[1:] if part[0] == "exec" else part for part in parts]
    return [list(command)]


def settings_env_names() -> set[str]:
    source = (ROOT / "worker" / "settings.py").read_text()
    readers = r"(?:os\.environ\.get|_env_list|_env_bool|_required_secret)"
    return set(re.findall(readers + r"""\(\s*["']([A-Z0-9_]+)["']""", source))


def test_services_healthchecks_and_start_order(compose) -> None:
    services = compose["services"]
    assert set(services) == SERVICES
    for name, service in services.items():
        assert service.get("healthcheck", {}).get("test"), f"{name} has no healthcheck"
    for name in APP_SERVICES:
        assert services[name]["build"] == "."
    web = services["web"]["depends_on"]
    assert {k: v["condition"] for k, v in web.items()} == {
        "postgres": "service_healthy",
        "redis": "service_healthy",
        "emulator": "service_healthy",
    }
    # Only web migrates; the others start once web is healthy, i.e. migrated.
    for name in ("worker", "beat", "flower"):
        assert services[name]["depends_on"]["web"]["condition"] == "service_healthy"
        assert services[name]["depends_on"]["redis"]["condition"] == "service_healthy"


def test_only_web_migrates(compose) -> None:
    migrating = {
        name
        for name, service in compose["services"].items()
        for argv in argv_list(service.get("command", []))
        if "migrate" in argv
    }
    assert migrating == {"web"}


def test_configuration_comes_from_the_environment_settings_read(compose) -> None:
    read = settings_env_names()
    assert {"DATABASE_URL", "CELERY_BROKER_URL", "WSGATEWAY_ENDPOINT_URL", "DJANGO_SECRET_KEY"} <= read
    for name in APP_SERVICES:
        env = compose["services"][name]["environment"]
        unknown = set(env) - read - BOTO3_ENV - FLOWER_ENV - {"DJANGO_SETTINGS_MODULE"}
        assert not unknown, f"{name}: {sorted(unknown)} are not read by worker/settings.py"
        assert env["DJANGO_SETTINGS_MODULE"] == "worker.settings"
        assert env["DATABASE_URL"].startswith("postgres://") and "@postgres:5432/" in env["DATABASE_URL"]
        assert env["CELERY_BROKER_URL"].startswith("redis://redis:6379/")
        assert env["DJANGO_DEBUG"] == "0"


_CHECK = r"""
import importlib, importlib.metadata, importlib.util, json, os, sys
os.environ["DJANGO_SETTINGS_MODULE"] = "worker.settings"
os.environ["DATABASE_URL"] = "sqlite:///" + sys.argv[1]
# As in the containers: secrets of their own (compose requires them), no demo mode.
os.environ.pop("WSGATEWAY_DEMO", None)
os.environ["DJANGO_SECRET_KEY"] = "k" * 50
os.environ["WSGATEWAY_GATEWAY_SECRETS"] = "g" * 40
import django
django.setup()
from django.core.management import get_commands
wanted = json.load(sys.stdin)
out = {
    "commands": sorted(get_commands()),
    "modules": {m: importlib.util.find_spec(m) is not None for m in wanted["modules"]},
    "targets": {},
    "celery_commands": sorted(ep.name for ep in importlib.metadata.entry_points(group="celery.commands")),
}
for target in wanted["targets"]:
    module, attr = target.split(":")
    out["targets"][target] = hasattr(importlib.import_module(module), attr)
from worker import celery_app
out["celery_app"] = type(celery_app).__module__
print(json.dumps(out))
"""

CELERY_BUILTIN = {"worker", "beat", "inspect", "events", "status", "call", "purge", "result"}


def test_every_command_exists_in_the_project(compose, tmp_path) -> None:
    programs = []
    for name in APP_SERVICES:
        service = compose["services"][name]
        programs += argv_list(service["command"]) + argv_list(service["healthcheck"]["test"])
    wanted: dict[str, set[str]] = {"manage": set(), "modules": set(), "targets": set(), "celery": set()}
    for argv in programs:
        program = argv[0]
        if program == "python" and argv[1] == "manage.py":
            wanted["manage"].add(argv[2])
        elif program == "python" and argv[1] == "-m":
            wanted["modules"].add(argv[2])
        elif program == "python" and argv[1] == "-c":
            compile(argv[2], "<healthcheck>", "exec")  # at least valid Python
        elif program == "celery":
            assert argv[1:3] == ["-A", "worker"], argv
            wanted["celery"].add(argv[3])
        elif program == "gunicorn":
            wanted["targets"].add(argv[1])
        else:
            pytest.fail(f"unexpected program in docker-compose.yml: {argv}")
    assert wanted["manage"] == {"migrate"}
    assert wanted["modules"] == {"wsgateway.emulator"}
    assert wanted["targets"] == {"worker.wsgi:application"}
    assert wanted["celery"] == {"worker", "beat", "flower", "inspect"}

    modules = sorted(wanted["modules"] | {"gunicorn", "psycopg"})
    checks = {"modules": modules, "targets": sorted(wanted["targets"])}
    result = subprocess.run(
        [sys.executable, "-c", _CHECK, str(tmp_path / "check.sqlite3")],
        input=json.dumps(checks),
        capture_output=True,
        text=True,
        cwd=ROOT,
        timeout=60,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    found = json.loads(result.stdout.strip().splitlines()[-1])
    assert wanted["manage"] <= set(found["commands"])
    assert {"demo_setup", "migrate"} <= set(found["commands"])  # the README's compose steps
    assert all(found["modules"].values()), found["modules"]
    assert all(found["targets"].values()), found["targets"]
    assert wanted["celery"] <= CELERY_BUILTIN | set(found["celery_commands"])
    assert found["celery_app"].startswith("celery")


def test_dockerfile_installs_what_the_services_run() -> None:
    dockerfile = (ROOT / "Dockerfile").read_text()
    install = re.search(r'pip install "\.\[([a-z,]+)\]"', dockerfile)
    assert install is not None
    assert {"postgres", "demo", "emulator"} <= set(install.group(1).split(","))
    for path in ("manage.py", "wsgateway", "worker"):
        assert re.search(rf"^COPY {re.escape(path)}\b", dockerfile, re.MULTILINE), path
    ignored = (ROOT / ".dockerignore").read_text().split()
    assert {".venv", ".git", ".demo"} <= set(ignored)


def test_the_web_access_log_leaves_out_query_strings(compose) -> None:
    """The ``$connect`` POST carries the one-time token in its query string: the access log
    prints the path alone, in the same format the demo uses."""
    from worker.demo import ACCESS_LOG_FORMAT

    (gunicorn,) = [argv for argv in argv_list(compose["services"]["web"]["command"]) if argv[0] == "gunicorn"]
    assert "--access-logfile" in gunicorn
    assert gunicorn[gunicorn.index("--access-logformat") + 1] == ACCESS_LOG_FORMAT
    assert "%(U)s" in ACCESS_LOG_FORMAT
    assert "%(r)s" not in ACCESS_LOG_FORMAT and "%(q)s" not in ACCESS_LOG_FORMAT
