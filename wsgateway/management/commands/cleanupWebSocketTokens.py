"""``manage.py cleanupWebSocketTokens [--token-age SECONDS] [--rate-limit-age DAYS]``.

The reference command: deletes used and expired connect tokens
(``WebSocketToken.cleanup_expired``) and old connection-attempt rows
(``ConnectionRateLimit.cleanup_old_records``).
"""

from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser

from wsgateway.conf import wsgateway_settings
from wsgateway.models import ConnectionRateLimit, WebSocketToken


class Command(BaseCommand):
    """Delete expired WebSocket tokens and old rate-limit records."""

    help = "Cleanup expired WebSocket tokens and old rate limit records."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument(
            "--token-age",
            type=int,
            default=None,
            help="Delete tokens older than this many seconds (default: TOKEN_RETENTION_SECONDS, 300).",
        )
        parser.add_argument(
            "--rate-limit-age",
            type=int,
            default=None,
            help="Delete rate limit records older than this many days (default: RATE_LIMIT_RETENTION_DAYS).",
        )

    def handle(self, *args: Any, **options: Any) -> None:
        token_age = options["token_age"]
        if token_age is None:
            token_age = int(wsgateway_settings.TOKEN_RETENTION_SECONDS)
        rate_limit_age = options["rate_limit_age"]
        if rate_limit_age is None:
            rate_limit_age = wsgateway_settings.RATE_LIMIT_RETENTION_DAYS
        if token_age < 0 or rate_limit_age < 0:
            raise CommandError("Ages cannot be negative.")
        tokens, _ = WebSocketToken.cleanup_expired(max_age_seconds=token_age)
        self.stdout.write(
            self.style.SUCCESS(f"Deleted {tokens} expired WebSocket token(s) (older than {token_age}s).")
        )
        attempts, _ = ConnectionRateLimit.cleanup_old_records(days=rate_limit_age)
        self.stdout.write(
            self.style.SUCCESS(
                f"Deleted {attempts} old rate limit record(s) (older than {rate_limit_age} days)."
            )
        )
