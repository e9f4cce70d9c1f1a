"""`manage.py platform add NAME PATH [--server NAME]`: record a platform and queue its verify.
`platform build REPOSITORY REF [--name N] [--secret S] [--server NAME] [--webhook]`: a platform built
from Git; `platform next NAME REF [--name N]`: the next version of a built one.
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
        build = sub.add_parser("build", help="Build a new platform from a Git repository (clone, composer, verify).")
        build.add_argument("repository", help="https://, ssh://, user@host:path, file:// or an absolute path.")
        build.add_argument("ref", help="The branch, tag or commit id to build.")
        build.add_argument("--name", default="", help="The platform's name (default: after the repository and ref).")
        build.add_argument("--secret", default="", help="A token or deploy key: its name in the Git secrets dir.")
        build.add_argument("--server", help="Server name (default: this host's server).")
        build.add_argument("--webhook", action="store_true", help="Give it a secret for a signed push webhook.")
        nxt = sub.add_parser("next", help="Build the next version of a platform built from Git.")
        nxt.add_argument("platform", help="The built platform's name.")
        nxt.add_argument("ref", help="The branch, tag or commit id to build.")
        nxt.add_argument("--name", default="", help="The new platform's name (default: after the repository and ref).")
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
        if action in ("build", "next"):
            self._build(action, options)
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

    def _build(self, action: str, options: dict) -> None:
        from django.core.exceptions import PermissionDenied

        from hosting import platformbuild
        from hosting.refused import TaskRefused

        try:
            if action == "next":
                source = Platform.objects.exclude(status=Platform.DELETED).filter(name=options["platform"]).first()
                if source is None:
                    raise CommandError(f"No platform named {options['platform']!r}.")
                platform, task = platformbuild.next_build(actor(), source, options["ref"], name=options["name"])
            else:
                server = None
                if options["server"]:
                    server = Server.objects.filter(name=options["server"]).first()
                    if server is None:
                        raise CommandError(f"No server named {options['server']!r}.")
                platform, task = platformbuild.start_build(
                    actor(), repository=options["repository"], ref=options["ref"], name=options["name"],
                    secret=options["secret"], server=server, webhook=options["webhook"])
        except (InventoryError, TaskRefused, PermissionDenied) as exc:
            raise CommandError(str(exc)) from None
        self.stdout.write(f"Platform {platform.name} recorded; build queued as task {task.pk}")

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
