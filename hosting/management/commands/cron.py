"""`manage.py cron run|status|set [--site DOMAIN|--platform NAME|--client NAME]`: the cron of every
site (hosting.cron).

run:    without a filter, one scheduling tick (the one django-q2 runs every minute: fold finished
        runs, queue the due sites); with one, queue a run of each selected enabled site now.
status: each selected site's interval, last run (outcome, duration), failures in a row, next run.
set:    a site's interval in minutes (`--interval 0`: off; `--interval default`)."""
from __future__ import annotations

from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser
from django.db.models import QuerySet
from django.utils import timezone

from hosting import cron
from hosting.machine import iso_or_empty as iso
from hosting.management.taskcli import actor, as_json, table
from hosting.models import Client, Platform, Site, SiteCron


def _filters(parser: CommandParser) -> None:
    parser.add_argument("--site", metavar="DOMAIN", help="Only this site.")
    parser.add_argument("--platform", metavar="NAME", help="Only the sites of this platform.")
    parser.add_argument("--client", metavar="NAME", help="Only the sites of this client.")


def selected(options: dict[str, Any]) -> QuerySet[Site] | None:
    sites = Site.objects.exclude(status=Site.DELETED)
    if not any(options.get(k) for k in ("site", "platform", "client")):
        return None
    if options.get("site"):
        sites = sites.filter(domain=options["site"].strip().lower())
        if not sites.exists():
            raise CommandError(f"No site {options['site']!r}.")
    if options.get("platform"):
        platform = Platform.objects.exclude(status=Platform.DELETED).filter(name=options["platform"]).first()
        if platform is None:
            raise CommandError(f"No platform named {options['platform']!r}.")
        sites = sites.filter(platform=platform)
    if options.get("client"):
        client = Client.objects.filter(name=options["client"]).first()
        if client is None:
            raise CommandError(f"No client named {options['client']!r}.")
        sites = sites.filter(client=client)
    return sites


def status_rows(sites: QuerySet[Site]) -> list[dict[str, Any]]:
    now = timezone.now()
    crons = {c.site_id: c for c in SiteCron.objects.filter(site__in=sites)}
    rows = []
    for site in sites.order_by("domain"):
        c = crons.get(site.pk)
        minutes = cron.interval_of(c)
        nxt = cron.next_run(site.pk, minutes, now) if site.status == Site.ENABLED else None
        rows.append({"domain": site.domain, "interval": minutes,
                     "last_started_at": c.last_started_at if c else None,
                     "last_outcome": (c.last_outcome if c else "") or "",
                     "last_duration": c.last_duration if c else None,
                     "failures": c.failures if c else 0, "next_run": nxt})
    return rows


class Command(BaseCommand):
    help = "Run and inspect the cron of every site."

    def add_arguments(self, parser: CommandParser) -> None:
        sub = parser.add_subparsers(dest="action", required=True)
        run = sub.add_parser("run", help="Without a filter: one scheduling tick. With one: queue a cron run of "
                                         "each selected enabled site now.")
        _filters(run)
        status = sub.add_parser("status", help="Each site's interval, last run, failures in a row and next run.")
        _filters(status)
        status.add_argument("--json", action="store_true", help="A JSON list.")
        set_ = sub.add_parser("set", help="Set a site's cron interval.")
        set_.add_argument("domain", help="The site's domain.")
        set_.add_argument("--interval", required=True,
                          help="Minutes between runs, 0 for off, or 'default' "
                               "(HARBORMASTER_CRON_INTERVAL); at least HARBORMASTER_CRON_MIN_INTERVAL.")

    def handle(self, *args: Any, action: str, **options: Any) -> None:
        if action == "set":
            self.set_interval(options["domain"], options["interval"])
            return
        sites = selected(options)
        if action == "run":
            if sites is None:
                result = cron.tick()
                self.stdout.write(f"Folded {result.folded} finished runs; queued {len(result.queued)} due sites; "
                                  f"{result.skipped_busy} busy sites wait.")
                return
            for site in cron.candidates(sites).select_related("platform__server", "client").order_by("domain"):
                pk = cron.start(site, by=actor())
                self.stdout.write(f"{site.domain}: " + (f"cron queued as task {pk}" if pk else "refused (see the log)"))
            return
        rows = status_rows(sites if sites is not None else Site.objects.exclude(status=Site.DELETED))
        if options["json"]:
            self.stdout.write(as_json([{**r, "last_started_at": iso(r["last_started_at"]),
                                        "next_run": iso(r["next_run"])} for r in rows]))
            return
        self.stdout.write(table(["DOMAIN", "INTERVAL", "LAST RUN", "OUTCOME", "SECONDS", "FAILURES", "NEXT RUN"], (
            [r["domain"], f"{r['interval']} min" if r["interval"] else "off",
             iso(r["last_started_at"]) or "-", r["last_outcome"] or "-",
             f"{r['last_duration']:.1f}" if r["last_duration"] is not None else "-", r["failures"],
             iso(r["next_run"]) or "-"] for r in rows)))

    def set_interval(self, domain: str, value: str) -> None:
        site = Site.objects.exclude(status=Site.DELETED).filter(domain=domain.strip().lower()).first()
        if site is None:
            raise CommandError(f"No site {domain!r}.")
        try:
            interval = cron.parse_interval(value)
        except ValueError as exc:
            raise CommandError(str(exc)) from None
        cron.set_interval(site, interval, by=actor())
        shown = "off" if interval == 0 else ("the default" if interval is None else f"{interval} minutes")
        self.stdout.write(f"{site.domain}: cron every {shown}" if interval else f"{site.domain}: cron is {shown}")

