"""``manage.py cleanupWebSocketTokens [--token-age SECONDS] [--rate-limit-age DAYS]``.

The reference command: deletes used and expired connect tokens
(``WebSocketToken.cleanup_expired``) and old connection-attempt rows
(``ConnectionRateLimit.cleanup_old_records``). Beat runs the same cleanups on a schedule.
"""

from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser

from wsgateway.conf import wsgateway_settings
from wsgateway.models import ConnectionRateLimit, WebSocketToken


def default_token_age() -> int:
    """``TOKEN_RETENTION_SECONDS`` (300), or the token lifetime if longer: a valid token is never deleted."""
    return max(int(wsgateway_settings.TOKEN_RETENTION_SECONDS), int(wsgateway_settings.TOKEN_MAX_AGE_SECONDS))


class Command(BaseCommand):
    """Delete expired WebSocket tokens and old rate-limit records."""

    help = "Cleanup expired WebSocket tokens and old rate limit records."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument(
            "--token-age",
            type=int,
            default=None,
            help=(
                "Delete tokens older than this many seconds (default: TOKEN_RETENTION_SECONDS, 300, "
                "or the token lifetime if that is longer)."
            ),
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
            token_age = default_token_age()
        rate_limit_age = options["rate_limit_age"]
        if rate_limit_age is None:
            rate_limit_age = wsgateway_settings.RATE_LIMIT_RETENTION_DAYS
        if token_age < 0 or rate_limit_age < 0:
            raise CommandError("Ages cannot be negative.")
        tokens, _ = WebSocketToken.cleanup_expired(max_age_seconds=token_age)
        self.stdout.write(
            self.style.SUCCESS(
                f"Successfully deleted {tokens} expired WebSocket tokens (older than {token_age}s)"
            )
        )
        attempts, _ = ConnectionRateLimit.cleanup_old_records(days=rate_limit_age)
        self.stdout.write(
            self.style.SUCCESS(
                f"Successfully deleted {attempts} old rate limit records (older than {rate_limit_age} days)"
            )
        )
