"""`manage.py backups list [--site DOMAIN]` and `manage.py backups verify [ID ...|--all]`.

verify reads every archive whole (sha256 of the file, then every member against its manifest)
and exits 1 if any backup is missing or damaged, so it can run from cron or a monitoring check."""
from __future__ import annotations

from django.core.management.base import BaseCommand, CommandError

from hosting.models import Backup
from hosting.operations.backups import check_backup


def _size(value: int) -> str:
    for unit in ("B", "KiB", "MiB", "GiB"):
        if value < 1024 or unit == "GiB":
            return f"{value:.0f} {unit}" if unit == "B" else f"{value:.1f} {unit}"
        value /= 1024  # type: ignore[assignment]
    return str(value)


class Command(BaseCommand):
    help = "List site backups, or verify their archives."

    def add_arguments(self, parser) -> None:
        sub = parser.add_subparsers(dest="action", required=True)
        listing = sub.add_parser("list", help="List backups, newest first.")
        listing.add_argument("--site", help="Only the backups of this domain.")
        verify = sub.add_parser("verify", help="Verify archives; exit 1 if any is bad.")
        verify.add_argument("ids", nargs="*", type=int, metavar="ID")
        verify.add_argument("--all", action="store_true", help="Verify every recorded backup.")

    def handle(self, *args, action: str, **options) -> None:
        if action == "list":
            backups = Backup.objects.all()
            if options["site"]:
                backups = backups.filter(domain=options["site"])
            for b in backups:
                verified = f"{b.verified_at:%Y-%m-%d %H:%M}" if b.verified_at else "never"
                self.stdout.write(f"{b.pk}\t{b.domain}\t{b.kind}\t{b.created_at:%Y-%m-%d %H:%M:%S}\t"
                                  f"{_size(b.size)}\tverified {verified}\t{b.path}")
            return
        if options["all"] == bool(options["ids"]):
            raise CommandError("Give backup ids or --all (not both).")
        backups = list(Backup.objects.all() if options["all"] else Backup.objects.filter(pk__in=options["ids"]))
        missing = set(options["ids"]) - {b.pk for b in backups}
        if missing:
            raise CommandError(f"No backup {', '.join(f'#{i}' for i in sorted(missing))}.")
        bad = 0
        for backup in sorted(backups, key=lambda b: b.pk):
            verdict = check_backup(backup)
            if verdict.ok:
                self.stdout.write(f"#{backup.pk} {backup.domain}: OK, {verdict.message}")
            else:
                bad += 1
                self.stderr.write(f"#{backup.pk} {backup.domain}: BAD, {verdict.message}")
        self.stdout.write(f"{len(backups) - bad} good, {bad} bad")
        if bad:
            raise CommandError(f"{bad} backup(s) failed verification.", returncode=1)
