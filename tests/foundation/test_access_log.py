"""Connect tokens stay out of the runnable project's access logs (docs/deploying.md, "Access logs").

API Gateway forwards the client's query string, one-time token included, on the ``$connect`` POST
to Django. gunicorn's line is configured without it (worker/demo.py ``ACCESS_LOG_FORMAT``, checked
in tests/demo/test_compose.py); this checks the other server the project runs on, Django's
``runserver``, whose ``django.server`` logger prints the whole request line.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]

# The line runserver's request handler logs for one request (Django's own code, no socket).
EMIT_ONE_REQUEST_LINE = """
import os
os.environ["DJANGO_SETTINGS_MODULE"] = "worker.settings"
os.environ["WSGATEWAY_DEMO"] = "1"
import django
django.setup()
from django.core.servers.basehttp import WSGIRequestHandler
handler = WSGIRequestHandler.__new__(WSGIRequestHandler)
handler.request = None
handler.client_address = ("127.0.0.1", 50000)
handler.requestline = "POST /ws/$connect?token=SEKRET-TOKEN&channel=room HTTP/1.1"
handler.log_request(200, 2)
handler.requestline = "POST /ws/$connect?token=SEKRET-TOKEN HTTP/1.1"
handler.log_request(401, 0)
"""


def test_runserver_logs_the_connect_request_without_its_query_string() -> None:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("DJANGO_", "WSGATEWAY_"))}
    out = subprocess.run(
        [sys.executable, "-c", EMIT_ONE_REQUEST_LINE],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=60,
        env=env,
    )
    assert out.returncode == 0, out.stderr
    lines = [line for line in out.stderr.splitlines() if "/ws/$connect" in line]
    assert len(lines) == 2, out.stderr  # still logged, once each, in runserver's format
    assert lines[0].endswith('"POST /ws/$connect HTTP/1.1" 200 2'), lines
    assert lines[1].endswith('"POST /ws/$connect HTTP/1.1" 401 0'), lines
    assert "SEKRET-TOKEN" not in out.stderr + out.stdout
