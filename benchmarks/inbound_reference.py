"""The reference side of ``benchmarks/inbound.py``: the real ``WebSocketView`` of the PyPI package
``django-aws-api-gateway-websockets==4.1.0``, driven in its own virtualenv (``benchmarks/peers.py``).

Started by ``inbound.py --reference`` with ``DJANGO_SETTINGS_MODULE=benchmarks.inbound_reference_settings``;
it answers commands on stdin, one JSON line each on stdout, so the parent interleaves the two
sides batch by batch (a busy neighbour on the machine slows both alike):

- ``setup <events>``: migrate the scratch database, register the gateway, log the users in;
- ``batch <start> <size>``: run a batch of every kind of event (:class:`BatchRunner`), answer the
  samples;
- ``verify <connects>``: check the rows after the run;
- ``quit``.

The reference view is mounted as its documentation says, subclassed only to add a ``ping``
handler that does no database work (the same handler wsgateway's side runs).
"""

from __future__ import annotations

import json
import secrets
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from benchmarks.inbound_wsgi import (  # noqa: E402  (after the path set-up)
    API_ID,
    CONNECTS_PER_USER,
    BatchRunner,
    BenchmarkError,
    Browser,
    WsgiGateway,
    create_browsers,
)
from tests.gateway_rows import event_gateway_fields  # noqa: E402  (after the path set-up)

urlpatterns: list[Any] = []  # ROOT_URLCONF of the reference side: filled by mount()


def mount() -> None:
    from django.http import HttpRequest, JsonResponse
    from django.urls import path
    from django_aws_api_gateway_websockets.views import WebSocketView

    class BenchView(WebSocketView):
        ALLOWED_HANDLERS = {"ping", "change_channel"}

        def ping(self, request: HttpRequest, *args: Any, **kwargs: Any) -> JsonResponse:
            return JsonResponse({"pong": True})

    # ROOT_URLCONF names this file as a module, a different object from __main__.
    from benchmarks import inbound_reference

    inbound_reference.urlpatterns[:] = [path("ws/<slug:route>", BenchView.as_view())]


def issue_tokens(browsers: Sequence[Browser]) -> list[str]:
    """One fresh token per browser, stored as the reference's ``generate_token`` stores them."""
    from django_aws_api_gateway_websockets.models import WebSocketToken, hash_session_key

    values = [secrets.token_hex(32) for _ in browsers]
    WebSocketToken.objects.bulk_create(
        [
            WebSocketToken(token=v, user_id=b.user_id, session_key=hash_session_key(b.session_key))
            for v, b in zip(values, browsers, strict=True)
        ]
    )
    return values


def setup(events: int) -> BatchRunner:
    from django.core.management import call_command
    from django_aws_api_gateway_websockets.models import ApiGateway

    for app in ("django_aws_api_gateway_websockets", "sessions"):
        call_command("migrate", app, verbosity=0, interactive=False, skip_checks=True)
    ApiGateway.objects.create(api_name="bench-inbound", **event_gateway_fields(API_ID))
    browsers = create_browsers(-(-events // CONNECTS_PER_USER))
    # The reference answers every refusal with 400.
    return BatchRunner(WsgiGateway("ws_token"), browsers, issue_tokens, refused_status=400)


def verify(connects: int) -> list[str]:
    from django_aws_api_gateway_websockets.models import WebSocketSession, WebSocketToken

    sessions = WebSocketSession.objects.all()
    facts = {
        "sessions": sessions.count(),
        "still connected": sessions.filter(connected=True).count(),
        "tokens consumed": WebSocketToken.objects.filter(used=True).count(),
    }
    expected = {"sessions": connects, "still connected": 0, "tokens consumed": connects}
    wrong = [f"{k}: {facts[k]} (expected {v})" for k, v in expected.items() if facts[k] != v]
    if wrong:
        raise BenchmarkError("reference rows after the run do not check out: " + "; ".join(wrong))
    return [f"{k} {v}" for k, v in facts.items()]


def main() -> int:
    import django

    django.setup()
    mount()
    from importlib.metadata import version

    runner: BatchRunner | None = None
    reply: Any
    for line in sys.stdin:
        command, *args = line.split()
        try:
            if command == "setup":
                runner = setup(int(args[0]))
                package = version("django-aws-api-gateway-websockets")
                reply = {"version": package, "django": django.get_version()}
            elif command == "batch" and runner is not None:
                reply = runner.batch(int(args[0]), int(args[1]))
            elif command == "verify":
                reply = verify(int(args[0]))
            elif command == "quit":
                return 0
            else:
                reply = {"error": f"unknown command {line.strip()!r}"}
        except BenchmarkError as err:
            reply = {"error": str(err)}
        sys.stdout.write(json.dumps(reply) + "\n")
        sys.stdout.flush()
    return 0


if __name__ == "__main__":
    sys.exit(main())
