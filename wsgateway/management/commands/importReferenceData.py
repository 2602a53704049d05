"""``manage.py importReferenceData [--dry-run] [--database ALIAS]``.

Copies an installation of django-aws-api-gateway-websockets (its tables stay in the database
after the switch) into wsgateway's tables: gateways, additional routes, WebSocket sessions,
channel permissions and their rules. One transaction; running it again creates nothing new and
updates what changed. See :mod:`wsgateway.reference_import`.
"""

from __future__ import annotations

from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser
from django.db import DEFAULT_DB_ALIAS

from wsgateway.reference_import import ReferenceImportError, import_reference_rows


class Command(BaseCommand):
    """Import the reference package's rows into wsgateway's tables."""

    help = (
        "Import gateways, additional routes, WebSocket sessions, channel permissions and rules from "
        "django-aws-api-gateway-websockets' tables (idempotent; --dry-run writes nothing)."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument(
            "--dry-run", action="store_true", help="Show what would be imported; write nothing."
        )
        parser.add_argument(
            "--database",
            default=DEFAULT_DB_ALIAS,
            help="The database holding both the reference's and wsgateway's tables (default: default).",
        )

    def handle(self, *args: Any, **options: Any) -> None:
        dry_run = options["dry_run"]
        try:
            report = import_reference_rows(using=options["database"], dry_run=dry_run)
        except ReferenceImportError as err:
            raise CommandError(str(err)) from err
        prefix = "would be " if dry_run else ""
        for line in report.lines:
            self.stdout.write(f"  {line.replace(': ', f': {prefix}', 1)}")
        for table in report.missing_tables:
            self.stdout.write(f"No {table} table: skipped.")
        for line in report.summary():
            self.stdout.write(line)
        if dry_run:
            self.stdout.write(self.style.WARNING("Dry run: nothing was written."))
        elif report.gateways.created or report.gateways.updated:
            self.stdout.write(
                "Run 'Sync from AWS' on the imported gateways to record the AWS ids of their built-in "
                "routes and integrations."
            )
