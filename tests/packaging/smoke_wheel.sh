#!/usr/bin/env bash
# Install a built wheel into a clean virtualenv and check what it ships: the library imports,
# its Django app loads, and no top-level `worker` (the repository's demo project) is installed.
# usage: tests/packaging/smoke_wheel.sh PYTHON WHEEL
set -euo pipefail
py=$1; wheel=$(cd "$(dirname "$2")" && pwd)/$(basename "$2")
venv=$(mktemp -d)/venv
trap 'rm -rf "$(dirname "$venv")"' EXIT
"$py" -m venv "$venv"
"$venv/bin/pip" install -q --disable-pip-version-check "$wheel"
"$py" - "$wheel" <<'PY'
import sys, zipfile
top = {name.split("/", 1)[0] for name in zipfile.ZipFile(sys.argv[1]).namelist()}
assert "worker" not in top, f"the wheel contains the worker package: {sorted(top)}"
names = zipfile.ZipFile(sys.argv[1]).namelist()
assert any(n.endswith((".dist-info/LICENSE", ".dist-info/licenses/LICENSE")) for n in names), "no LICENSE"
PY
cd "$(dirname "$venv")"   # not the repository: import only what was installed
"$venv/bin/python" - <<'PY'
import importlib.util
import django
from django.conf import settings

settings.configure(
    INSTALLED_APPS=["django.contrib.auth", "django.contrib.contenttypes", "django_celery_beat", "wsgateway"],
    DATABASES={"default": {"ENGINE": "django.db.backends.sqlite3", "NAME": ":memory:"}},
    USE_TZ=True,
)
django.setup()
import wsgateway.models, wsgateway.views, wsgateway.sending  # noqa: E401,F401
assert importlib.util.find_spec("worker") is None, "a top-level worker package was installed"
for optional in ("aiohttp", "flower"):
    assert importlib.util.find_spec(optional) is None, f"{optional} is an extra, not a dependency"
print("wheel smoke test: ok")
PY
