"""``manage.py clearWebSocketSessions [--all]``: delete session rows.

Default: the rows of disconnected sessions. ``--all``: every row, e.g. after the API was deleted
or in development; live sockets are not closed at API Gateway (use the admin's "Disconnect").
"""

from typing import Any

from django.core.management.base import BaseCommand, CommandParser

from wsgateway.models import WebSocketSession


class Command(BaseCommand):
    """Delete disconnected WebSocketSession rows (all of them with ``--all``)."""

    help = "Delete disconnected WebSocketSession rows; --all deletes every row."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--all", action="store_true", help="Delete connected rows too.")

    def handle(self, *args: Any, **options: Any) -> None:
        rows = (
            WebSocketSession.objects.all()
            if options.get("all")
            else WebSocketSession.objects.filter(connected=False)
        )
        deleted = rows.delete()[0]
        self.stdout.write(f"Deleted {deleted} WebSocket session row(s).")
