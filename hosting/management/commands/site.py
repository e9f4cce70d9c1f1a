"""`manage.py site add DOMAIN --platform NAME [--client NAME]`: record a site and queue its install.
`manage.py site resolve-duplicate DOMAIN --platform NAME`: say which copy of a site is the site.
`manage.py site adopt-database DOMAIN --database NAME`: confirm that the database its settings.php
names (and no record does) is the site's.
`manage.py site alias add|remove|list DOMAIN [ALIAS]`, `manage.py site redirect DOMAIN [...]`: its
names (hosting.management.domaincli).
`manage.py site https DOMAIN [--mode off|on|required] [--hsts] [--renew]`: show the site's HTTPS,
or queue its https task with a new mode; with `--certificate CHAIN.pem --key KEY.pem` the site's own
certificate instead of the ACME server's (hosting.certupload: checked before anything is written).
`manage.py site cache-rebuild|updatedb|cron DOMAIN [--wait]`: queue a maintenance task (drush
cache:rebuild; updatedb after a database backup; core:cron) through hosting.starting, as the
site page's buttons do. `manage.py site drush DOMAIN [--wait] -- COMMAND [ARG ...]`: any drush
command (an argument list, held to hosting.drushcommands).
`manage.py site sync TARGET --from SOURCE [--database] [--files] [--wait]`: another site's database
and/or files copied onto TARGET (hosting.management.synccli).
`manage.py site logs DOMAIN [--error] [--lines N] [--grep TEXT] [--status CODE]`: the end of its
web server log (hosting.management.logcli)."""
from __future__ import annotations

import shlex

from django.core.management.base import BaseCommand, CommandError

from hosting.api.nodes import site_out
from hosting.inventory import InventoryError, add_site
from hosting.management import domaincli, logcli, synccli
from hosting.management.taskcli import as_json, table
from hosting.models import Client, Platform, Site

MAINTENANCE = {"cache-rebuild": "Rebuild the site's caches (drush cache:rebuild).",
               "updatedb": "Back up the database, then run its pending updates (drush updatedb).",
               "cron": "Run the site's cron now (drush core:cron).",
               "drush": "Run a drush command on the site (after --: the command and its arguments)."}


class Command(BaseCommand):
    help = "Record sites and list them."

    def add_arguments(self, parser) -> None:
        sub = parser.add_subparsers(dest="action", required=True)
        add = sub.add_parser("add", help="Record a site and queue its install task.")
        add.add_argument("domain", help="The site's domain.")
        add.add_argument("--platform", required=True, metavar="NAME", help="The platform it is installed on.")
        add.add_argument("--client", metavar="NAME", help="The client it belongs to (default: none).")
        add.add_argument("--profile", default="standard", help="The install profile (default standard).")
        add.add_argument("--alias", action="append", default=[], help="An alias domain (repeatable).")
        listing = sub.add_parser("list", help="List sites.")
        listing.add_argument("--json", action="store_true", help="A JSON list of sites as the API gives them.")
        resolve = sub.add_parser("resolve-duplicate", help="A site found on two platforms: say which platform's "
                                 "copy is the site (the other is set aside by a verify).")
        resolve.add_argument("domain", help="The site's domain.")
        resolve.add_argument("--platform", required=True, help="The platform whose copy is the site.")
        adopt = sub.add_parser("adopt-database", help="A site whose settings.php names a database no record "
                               "names: confirm it is the site's (a verify records it).")
        adopt.add_argument("domain", help="The site's domain.")
        adopt.add_argument("--database", required=True, help="The database name the site's attention gives.")
        domaincli.add_arguments(sub)
        logcli.add_arguments(sub)
        https = sub.add_parser("https", help="Show a site's HTTPS and certificate, or queue its https task "
                               "with --mode.")
        https.add_argument("domain", help="The site's domain.")
        https.add_argument("--mode", choices=["off", "on", "required"],
                           help="off; on (HTTP and HTTPS); required (HTTP redirects to HTTPS).")
        https.add_argument("--hsts", action="store_true", help="Send Strict-Transport-Security over HTTPS.")
        https.add_argument("--renew", action="store_true", help="A new certificate even if the current one is good.")
        https.add_argument("--certificate", metavar="PATH", help="Your own PEM chain (the site's certificate "
                           "first) instead of the ACME server's; needs --key.")
        https.add_argument("--key", metavar="PATH", help="The PEM private key of --certificate (no passphrase).")
        synccli.add_arguments(sub)
        for kind, text in MAINTENANCE.items():
            task = sub.add_parser(kind, help=text)
            task.add_argument("domain", help="The site's domain.")
            task.add_argument("--wait", action="store_true", help="Wait for it; exit non-zero unless it succeeds.")
            task.add_argument("--timeout", type=float, default=0, help="With --wait: give up after this many seconds.")
            if kind == "drush":
                task.add_argument("argv", nargs="+", metavar="ARG", help="The drush command and its arguments.")

    def handle(self, *args, action: str, **options) -> None:
        if action == "list":
            sites = Site.objects.exclude(status=Site.DELETED).select_related("platform", "client").order_by("domain")
            if options["json"]:
                self.stdout.write(as_json([site_out(s, admin=True) for s in sites]))
                return
            self.stdout.write(table(["DOMAIN", "PLATFORM", "CLIENT", "STATUS"], (
                [s.domain, s.platform.name, s.client.name if s.client else "-", s.status] for s in sites)))
            return
        if action in ("alias", "redirect"):
            self.stdout.write(domaincli.alias(options) if action == "alias" else domaincli.redirect(options))
            return
        if action == "sync":
            synccli.sync(self, options)
            return
        if action == "logs":
            self.stdout.write(logcli.logs(_live_site(options["domain"]), options))
            return
        if action in MAINTENANCE:
            data = {"command": shlex.join(options["argv"])} if action == "drush" else {}
            self.maintenance(action, options["domain"], options["wait"], float(options["timeout"] or 0), data)
            return
        if action == "adopt-database":
            self.adopt_database(options["domain"], options["database"])
            return
        if action == "https":
            if options["certificate"] or options["key"]:
                self.upload(options["domain"], options["certificate"], options["key"], options["mode"] or "on",
                            hsts=options["hsts"])
                return
            self.https(options["domain"], options["mode"], hsts=options["hsts"], renew=options["renew"])
            return
        platform = Platform.objects.exclude(status=Platform.DELETED).filter(name=options["platform"]).first()
        if platform is None:
            raise CommandError(f"No platform named {options['platform']!r}.")
        if action == "resolve-duplicate":
            self.resolve_duplicate(options["domain"], platform)
            return
        client = None
        if options["client"]:
            client = Client.objects.filter(name=options["client"]).first()
            if client is None:
                raise CommandError(f"No client named {options['client']!r}.")
        try:
            site, task = add_site(options["domain"], platform, client=client, profile=options["profile"],
                                  aliases=options["alias"], by="command line")
        except InventoryError as exc:
            raise CommandError(str(exc)) from None
        self.stdout.write(f"Site {site.domain} recorded; install queued as task {task.pk}")

    def resolve_duplicate(self, domain: str, platform: Platform) -> None:
        from hosting.actions import TaskRefused, resolve_duplicate
        from hosting.management.taskcli import actor

        site = _live_site(domain)
        try:
            task = resolve_duplicate(site, platform, by=actor())
        except TaskRefused as exc:
            raise CommandError(str(exc)) from None
        self.stdout.write(f"{site.domain}: the copy on {platform.name} is the site; verify queued as task {task.pk}")

    def adopt_database(self, domain: str, name: str) -> None:
        from hosting.actions import TaskRefused, adopt_database
        from hosting.management.taskcli import actor

        site = _live_site(domain)
        try:
            task = adopt_database(site, name, by=actor())
        except TaskRefused as exc:
            raise CommandError(str(exc)) from None
        self.stdout.write(f"{site.domain}: database {name} adopted; verify queued as task {task.pk}")

    def maintenance(self, kind: str, domain: str, wait: bool, timeout: float, data: dict[str, str]) -> None:
        from django.core.exceptions import PermissionDenied

        from hosting.management.commands.tasks import Command as Tasks
        from hosting.management.taskcli import actor
        from hosting.refused import TaskRefused
        from hosting.starting import ArgumentsInvalid, start_task

        site = _live_site(domain)
        try:
            task = start_task(actor(), site, kind, data)
        except (TaskRefused, PermissionDenied, ArgumentsInvalid) as exc:
            raise CommandError(str(exc)) from None
        self.stdout.write(f"{site.domain}: {kind} queued as task {task.pk}")
        if wait:
            waiter = Tasks()
            waiter.stdout, waiter.stderr = self.stdout, self.stderr
            waiter.wait(task, timeout)


    def https(self, domain: str, mode: str | None, *, hsts: bool, renew: bool) -> None:
        from django.core.exceptions import PermissionDenied

        from hosting.api.https import https_out
        from hosting.management.taskcli import actor
        from hosting.starting import ArgumentsInvalid, TaskRefused, start_task

        site = _live_site(domain)
        if mode is None:
            out = https_out(site)
            cert = out["certificate"]
            self.stdout.write(f"{site.domain}: HTTPS {out['mode']}{' with HSTS' if out['hsts'] else ''}")
            if cert and cert["not_after"]:
                source = " (uploaded)" if cert["source"] == "uploaded" else ""
                self.stdout.write(f"Certificate{source}: {', '.join(cert['domains'])}, issued by {cert['issuer']}, "
                                  f"expires {cert['not_after']:%Y-%m-%d %H:%M} UTC")
            if cert and cert["retry_not_before"]:
                self.stdout.write(f"The ACME server limited the rate: no attempt before "
                                  f"{cert['retry_not_before']:%Y-%m-%d %H:%M} UTC")
            if cert and cert["last_attempt_at"]:
                outcome = "succeeded" if cert["last_ok"] else "failed"
                self.stdout.write(f"Last attempt {cert['last_attempt_at']:%Y-%m-%d %H:%M} UTC {outcome}: "
                                  f"{cert['last_outcome']}")
            return
        try:
            task = start_task(actor(), site, "https", {"mode": mode, "hsts": hsts, "renew": renew})
        except (TaskRefused, ArgumentsInvalid, PermissionDenied) as exc:
            raise CommandError(str(exc)) from None
        self.stdout.write(f"{site.domain}: HTTPS {mode} queued as task {task.pk}")

    def upload(self, domain: str, certificate: str | None, key: str | None, mode: str, *, hsts: bool) -> None:
        from pathlib import Path

        from django.core.exceptions import PermissionDenied

        from hosting.certupload import MAX_BYTES, UploadRefused, start_upload
        from hosting.management.taskcli import actor
        from hosting.starting import ArgumentsInvalid, TaskRefused

        if not certificate or not key:
            raise CommandError("--certificate and --key go together.")
        site = _live_site(domain)
        data = []
        for what, name in (("certificate", certificate), ("key", key)):
            path = Path(name)
            try:
                if not path.is_file():
                    raise CommandError(f"The {what} {name} is not a file.")
                if path.stat().st_size > MAX_BYTES:
                    raise CommandError(f"The {what} {name} is too large: at most {MAX_BYTES // 1024} KiB.")
                data.append(path.read_bytes())
            except OSError as exc:
                raise CommandError(f"The {what} {name} cannot be read: {exc.strerror}.") from None
        try:
            task = start_upload(actor(), site, data[0], data[1], mode=mode, hsts=hsts)
        except (UploadRefused, TaskRefused, ArgumentsInvalid, PermissionDenied) as exc:
            raise CommandError(str(exc)) from None
        self.stdout.write(f"{site.domain}: HTTPS {mode} with the uploaded certificate queued as task {task.pk}")


def _live_site(domain: str) -> Site:
    site = Site.objects.exclude(status=Site.DELETED).filter(domain=domain).first()
    if site is None:
        raise CommandError(f"No site {domain!r}.")
    return site
