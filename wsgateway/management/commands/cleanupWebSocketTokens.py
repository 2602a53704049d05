"""``manage.py cleanupWebSocketTokens [--max-age SECONDS]``: ``WebSocketToken.cleanup_expired``."""

from typing import Any

from django.core.management.base import BaseCommand, CommandParser

from wsgateway.conf import wsgateway_settings
from wsgateway.models import WebSocketToken


class Command(BaseCommand):
    """Delete used and expired connect tokens."""

    help = "Delete used connect tokens and those older than --max-age seconds (TOKEN_RETENTION_SECONDS)."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument(
            "--max-age", type=int, default=None, help="Seconds (default TOKEN_RETENTION_SECONDS)."
        )

    def handle(self, *args: Any, **options: Any) -> None:
        max_age = options["max_age"]
        if max_age is None:
            max_age = int(wsgateway_settings.TOKEN_RETENTION_SECONDS)
        deleted = WebSocketToken.cleanup_expired(max_age_seconds=max_age)
        self.stdout.write(f"Deleted {deleted} WebSocket token(s).")
