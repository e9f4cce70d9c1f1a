"""`manage.py platform add NAME PATH [--server NAME]`: record a platform and queue its verify."""
from __future__ import annotations

from django.core.management.base import BaseCommand, CommandError

from hosting.inventory import InventoryError, add_platform
from hosting.models import Platform, Server


class Command(BaseCommand):
    help = "Record platforms (Drupal codebases) and list them."

    def add_arguments(self, parser) -> None:
        sub = parser.add_subparsers(dest="action", required=True)
        add = sub.add_parser("add", help="Record a platform and queue its verify task.")
        add.add_argument("name")
        add.add_argument("path")
        add.add_argument("--server", help="Server name (default: this host's server).")
        add.add_argument("--adopt-databases", action="store_true",
                         help="The sites its verify imports take the databases their settings.php name, even "
                              "those Harbormaster did not create (you confirm they are theirs).")
        sub.add_parser("list", help="List platforms.")

    def handle(self, *args, action: str, **options) -> None:
        if action == "list":
            for p in Platform.objects.exclude(status=Platform.DELETED).select_related("server"):
                self.stdout.write(f"{p.name}\t{p.server.name}\t{p.status}\t{p.drupal_version or '-'}\t{p.path}")
            return
        server = None
        if options["server"]:
            server = Server.objects.filter(name=options["server"]).first()
            if server is None:
                raise CommandError(f"No server named {options['server']!r}.")
        try:
            platform, task = add_platform(options["name"], options["path"], server=server, by="command line",
                                          adopt_databases=options["adopt_databases"])
        except InventoryError as exc:
            raise CommandError(str(exc)) from None
        self.stdout.write(f"Platform {platform.name} recorded; verify queued as task {task.pk}")
