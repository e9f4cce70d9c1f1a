"""`manage.py audit prune [--older-than DAYS] [--dry-run]`: the audit retention by hand, as the
hourly schedule runs it (hosting.auditprune): events older than the retention go, and the prune
is itself an audit event naming the command line's operator ("cli:<login>")."""
from __future__ import annotations

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError, CommandParser

from hosting import auditprune
from hosting.management import taskcli


class Command(BaseCommand):
    help = "Prune the audit trail by its retention."

    def add_arguments(self, parser: CommandParser) -> None:
        sub = parser.add_subparsers(dest="action", required=True)
        prune = sub.add_parser("prune", help="Delete audit events older than the retention (audited).")
        prune.add_argument("--older-than", type=int, metavar="DAYS",
                           help="Days since they were recorded (default: HARBORMASTER_AUDIT_RETENTION_DAYS).")
        prune.add_argument("--dry-run", action="store_true", help="Count what would go; delete nothing.")

    def handle(self, *args: object, action: str, **options: object) -> None:
        days = options["older_than"]
        if days is None:
            days = int(settings.HARBORMASTER_AUDIT_RETENTION_DAYS)
            if days <= 0:
                raise CommandError("HARBORMASTER_AUDIT_RETENTION_DAYS is 0 (keep forever); give --older-than DAYS.")
        if not isinstance(days, int) or days < 1:
            raise CommandError("--older-than takes at least 1 day.")
        dry_run = bool(options["dry_run"])
        result = auditprune.prune(days, actor=taskcli.actor(), dry_run=dry_run)
        self.stdout.write(auditprune.summary(result, dry_run=dry_run))
