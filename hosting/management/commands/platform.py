"""`manage.py platform add NAME PATH [--server NAME]`: record a platform and queue its verify.
`platform clients NAME [--client C ...]`: the clients that may create sites on it (none: every client).
`platform migrate-sites SOURCE TARGET`, `batch-status`, `batch-pause`, `batch-resume`: batch migrates
(hosting.management.batchcli)."""
from __future__ import annotations

from django.core.management.base import BaseCommand, CommandError

from hosting.api.nodes import platform_out
from hosting.inventory import InventoryError, add_platform
from hosting.management import batchcli
from hosting.management.taskcli import actor, as_json, table
from hosting.models import Client, Platform, Server
from hosting.nodeadmin import set_platform_clients


class Command(BaseCommand):
    help = "Record platforms (Drupal codebases) and list them."

    def add_arguments(self, parser) -> None:
        sub = parser.add_subparsers(dest="action", required=True)
        add = sub.add_parser("add", help="Record a platform and queue its verify task.")
        add.add_argument("name", help="The platform's name, unique.")
        add.add_argument("path", help="The codebase's root on the server (absolute, inside the roots).")
        add.add_argument("--server", help="Server name (default: this host's server).")
        add.add_argument("--adopt-databases", action="store_true",
                         help="The sites its verify imports take the databases their settings.php name, even "
                              "those Harbormaster did not create (you confirm they are theirs).")
        clients = sub.add_parser("clients", help="Say which clients may create sites on a platform.")
        clients.add_argument("name", help="The platform's name.")
        clients.add_argument("--client", action="append", default=[], dest="clients",
                             help="A client that may use it (repeat for more). None given: every client.")
        listing = sub.add_parser("list", help="List platforms.")
        listing.add_argument("--json", action="store_true", help="A JSON list of platforms as the API gives them.")
        batchcli.add_parsers(sub)

    def handle(self, *args, action: str, **options) -> None:
        if action in batchcli.ACTIONS:
            batchcli.handle(self, action, options)
            return
        if action == "list":
            platforms = Platform.objects.exclude(status=Platform.DELETED).select_related("server").order_by("name")
            if options["json"]:
                self.stdout.write(as_json([platform_out(p) for p in platforms.prefetch_related("clients")]))
                return
            self.stdout.write(table(["NAME", "SERVER", "STATUS", "DRUPAL", "PATH"], (
                [p.name, p.server.name, p.status, p.drupal_version or "-", p.path] for p in platforms)))
            return
        if action == "clients":
            self._clients(options["name"], options["clients"])
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

    def _clients(self, name: str, names: list[str]) -> None:
        platform = Platform.objects.exclude(status=Platform.DELETED).filter(name=name).first()
        if platform is None:
            raise CommandError(f"No platform named {name!r}.")
        chosen = list(Client.objects.filter(name__in=names).order_by("name"))
        unknown = sorted(set(names) - {c.name for c in chosen})
        if unknown:
            raise CommandError(f"No client named {', '.join(unknown)}.")
        set_platform_clients(platform, chosen, by=actor())
        self.stdout.write(f"Platform {platform.name} is open to {', '.join(c.name for c in chosen) or 'every client'}")
