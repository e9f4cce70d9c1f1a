"""`manage.py import_aegir DIR [--dry-run] [--json] [--server NAME]`: take over an Aegir 3
installation from its context files (the aegir user's ~/.drush): platforms, sites, clients,
aliases, redirects and HTTPS settings, then a verify of every platform and site imported.
--dry-run prints the plan and records nothing. Running it again imports only what is new."""
from __future__ import annotations

from pathlib import Path

from django.core.management.base import BaseCommand, CommandError

from hosting.aegir import plan as aegir_plan
from hosting.aegir.record import run
from hosting.aegir.show import as_data, as_text
from hosting.inventory import InventoryError, local_server
from hosting.management.taskcli import actor, as_json
from hosting.models import Server


class Command(BaseCommand):
    help = "Import an Aegir 3 installation from its context files (~aegir/.drush), or show the plan."

    def add_arguments(self, parser) -> None:
        parser.add_argument("directory", help="The directory of Aegir's *.alias.drushrc.php files (~aegir/.drush).")
        parser.add_argument("--dry-run", action="store_true", help="Print the plan; record nothing.")
        parser.add_argument("--json", action="store_true", help="Print the plan (and counts) as JSON.")
        parser.add_argument("--server", help="The Harbormaster server of this host (default: the local server).")

    def handle(self, *args, directory: str, dry_run: bool, json: bool, server: str | None, **options) -> None:
        path = Path(directory)
        if path.is_symlink() or not path.is_dir():
            raise CommandError(f"{directory} is not a directory.")
        target = local_server()
        if server:
            found = Server.objects.filter(name=server).first()
            if found is None:
                raise CommandError(f"No server named {server!r}.")
            target = found
        try:
            if dry_run:
                plan = aegir_plan.build(path.resolve(), target)
                self.stdout.write(as_json(as_data(plan)) if json else as_text(plan))
                return
            outcome = run(path.resolve(), target, by=actor())
        except InventoryError as exc:
            raise CommandError(str(exc)) from None
        if json:
            self.stdout.write(as_json({**as_data(outcome.plan), "counts": outcome.counts(),
                                       "tasks": [t.pk for t in outcome.tasks]}))
            return
        self.stdout.write(as_text(outcome.plan))
        counts = outcome.counts()
        self.stdout.write(f"Imported {counts['platforms']} platform(s), {counts['sites']} site(s), "
                          f"{counts['clients']} client(s); {counts['verifies']} verify task(s) queued.")
