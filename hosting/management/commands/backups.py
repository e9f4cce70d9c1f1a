"""`manage.py backups list [--site DOMAIN] [--deleted]`, `backups verify [ID ...|--all]`,
`backups scrub [--site DOMAIN ...]`, `backups download ID PATH`, `backups export ID -o FILE`, `backups delete ID --yes`,
`backups restore-deleted ID` and `backups schedule show|set DOMAIN` (hosting.management.backupcli);
`backups remote ...`, `backups replicate`, `backups verify --remote NAME` (hosting.management.offsitecli).

verify reads every archive whole (sha256 of the file, then every member against its manifest,
and the links a restore would refuse) and exits 1 if any backup is missing or damaged, so it can
run from cron or a monitoring check; damaged objects it finds are marked in the store, and the
next backup of the site stores their content again. scrub reads whole backup stores at once, as
the scheduled scrub does a budget at a time (hosting.scrub), and exits 1 when damage is known."""
from __future__ import annotations

from django.core.management.base import BaseCommand, CommandError
from django.db.models import Q

from hosting.api.nodes import backup_out
from hosting.management import backupcli, offsitecli, taskcli
from hosting.models import Backup, Site
from hosting.offsite import locations
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
        listing.add_argument("--json", action="store_true", help="A JSON list of backups as the API gives them.")
        listing.add_argument("--deleted", action="store_true", help="Only the backups of deleted sites.")
        verify = sub.add_parser("verify", help="Verify archives; exit 1 if any is bad.")
        verify.add_argument("ids", nargs="*", type=int, metavar="ID", help="Backup ids (as `backups list` shows).")
        verify.add_argument("--all", action="store_true", help="Verify every recorded backup.")
        offsitecli.add_verify_options(verify)
        scrub = sub.add_parser("scrub", help="Re-read whole backup stores now; exit 1 if damage is known.")
        scrub.add_argument("--site", action="append", default=[], metavar="DOMAIN",
                           help="Only this site's store (repeatable). Default: every store.")
        backupcli.add_parsers(sub)
        offsitecli.add_parsers(sub)

    def handle(self, *args, action: str, **options) -> None:
        if action in backupcli.ACTIONS:
            backupcli.handle(self, action, options)
            return
        if action in offsitecli.ACTIONS:
            offsitecli.handle(self, action, options)
            return
        if action == "verify" and options.get("remote"):
            offsitecli.verify_remote(self, options)
            return
        if action == "list":
            backups = Backup.objects.select_related("site").prefetch_related("copies__remote")
            if options["site"]:
                backups = backups.filter(domain=options["site"])
            if options["deleted"]:
                backups = backups.filter(Q(site__isnull=True) | Q(site__status=Site.DELETED))
            if options["json"]:
                self.stdout.write(taskcli.as_json([backup_out(b) for b in backups]))
                return
            self.stdout.write(taskcli.table(
                ["ID", "DOMAIN", "SITE", "KIND", "CREATED", "SIZE", "VERIFIED", "WHERE", "PATH"], (
                    [b.pk, b.domain, "deleted" if b.site is None or b.site.status == Site.DELETED else "live",
                     b.kind, f"{b.created_at:%Y-%m-%d %H:%M:%S}", _size(b.size),
                     f"{b.verified_at:%Y-%m-%d %H:%M}" if b.verified_at else "never",
                     ",".join(locations(b, list(b.copies.all()))) or "nowhere", b.path] for b in backups)))
            return
        if action == "scrub":
            self._scrub(options["site"])
            return
        if options["all"] == bool(options["ids"]):
            raise CommandError("Give backup ids or --all (not both).")
        chosen = list(Backup.objects.all() if options["all"] else Backup.objects.filter(pk__in=options["ids"]))
        missing = set(options["ids"]) - {b.pk for b in chosen}
        if missing:
            raise CommandError(f"No backup {', '.join(f'#{i}' for i in sorted(missing))}.")
        bad = 0
        for backup in sorted(chosen, key=lambda b: b.pk):
            verdict = check_backup(backup)
            if verdict.ok:
                self.stdout.write(f"#{backup.pk} {backup.domain}: OK, {verdict.message}")
            else:
                bad += 1
                self.stderr.write(f"#{backup.pk} {backup.domain}: BAD, {verdict.message}")
        self.stdout.write(f"{len(chosen) - bad} good, {bad} bad")
        if bad:
            raise CommandError(f"{bad} backup(s) failed verification.", returncode=1)

    def _scrub(self, domains: list[str]) -> None:
        from hosting import scrub
        from hosting.models import StoreCheck
        from provision.domains import normalise_domain
        from provision.errors import ProvisionError

        scrub.sync_rows()
        try:
            wanted = [normalise_domain(d) for d in domains]
        except ProvisionError as exc:
            raise CommandError(str(exc)) from None
        rows = StoreCheck.objects.order_by("domain")
        if wanted:
            rows = rows.filter(domain__in=wanted)
            missing = set(wanted) - set(rows.values_list("domain", flat=True))
            if missing:
                raise CommandError(f"No backup store for {', '.join(sorted(missing))}.")
        bad = 0
        for row in rows:
            StoreCheck.objects.filter(pk=row.pk).update(cursor="")  # a whole pass, from the start
            row.cursor = ""
            scrub.scrub_store(row, budget=1 << 62)
            row.refresh_from_db()
            if row.damaged:
                bad += 1
                self.stderr.write(f"{row.domain}: DAMAGED, {row.detail}")
            else:
                self.stdout.write(f"{row.domain}: OK, {row.detail}")
        if bad:
            raise CommandError(f"{bad} backup store(s) hold damage.", returncode=1)
