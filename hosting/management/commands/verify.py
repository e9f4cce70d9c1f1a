"""`manage.py verify [--all] [--platform NAME] [--client NAME] [--sites|--platforms] [--wait]`:
queue verify tasks in bulk. Tasks are queued by the command line's actor with each site's
client, so the engine's per-client caps and fair turns keep one client's thousand verifies from
starving anybody else. --wait shows progress and exits 1 if any task failed."""
from __future__ import annotations

import time
from typing import Any

from django.core.management.base import BaseCommand, CommandError
from django.db.models import QuerySet

from hosting.management.taskcli import actor
from hosting.models import Client, Platform, Site, Task
from hosting.refused import TaskRefused
from hosting.starting import start_task

BAD = (Task.FAILED, Task.CANCELLED, Task.PAUSED)


def targets(options: dict[str, Any]) -> tuple[QuerySet[Platform], QuerySet[Site]]:
    if not (options["all"] or options["platform"] or options["client"]):
        raise CommandError("Say what to verify: --all, --platform NAME or --client NAME.")
    platforms = Platform.objects.filter(status__in=(Platform.ENABLED, Platform.LOCKED)).select_related("server")
    sites = Site.objects.filter(status__in=(Site.ENABLED, Site.DISABLED)).select_related("platform__server", "client")
    if options["platform"]:
        platform = Platform.objects.exclude(status=Platform.DELETED).filter(name=options["platform"]).first()
        if platform is None:
            raise CommandError(f"No platform named {options['platform']!r}.")
        platforms, sites = platforms.filter(pk=platform.pk), sites.filter(platform=platform)
    if options["client"]:
        client = Client.objects.filter(name=options["client"]).first()
        if client is None:
            raise CommandError(f"No client named {options['client']!r}.")
        # Platforms are shared by every client: a client's verify is of its sites only.
        platforms, sites = platforms.none(), sites.filter(client=client)
    if options["sites"]:
        platforms = platforms.none()
    if options["platforms"]:
        sites = sites.none()
    return platforms.order_by("name"), sites.order_by("domain")


class Command(BaseCommand):
    help = "Queue verify tasks for many sites and platforms; --wait to follow them."

    def add_arguments(self, parser) -> None:
        parser.add_argument("--all", action="store_true", help="Every live platform and site.")
        parser.add_argument("--platform", help="This platform and its sites.")
        parser.add_argument("--client", help="The sites of this client.")
        only = parser.add_mutually_exclusive_group()
        only.add_argument("--sites", action="store_true", help="Sites only.")
        only.add_argument("--platforms", action="store_true", help="Platforms only.")
        parser.add_argument("--wait", action="store_true", help="Follow the tasks; exit 1 if any fails.")
        parser.add_argument("--timeout", type=float, default=0, help="With --wait: give up after SECONDS (exit 1).")
        parser.add_argument("--interval", type=float, default=0.5, help=FOLLOW_HELP)

    def handle(self, *args: Any, **options: Any) -> None:
        platforms, sites = targets(options)
        by = actor()
        # Already queued or running verifies are reused, not doubled.
        active = set()
        for kind, platform_id, site_id in (Task.objects.filter(kind="verify", state__in=Task.ACTIVE)
                                           .values_list("target_type", "platform_id", "site_id")):
            active.add((kind, site_id if kind == "site" else platform_id))
        ids, refused, reused = [], 0, 0
        wanted: list[Platform | Site] = [*platforms, *sites]
        for target in wanted:
            key = ("site" if isinstance(target, Site) else "platform", target.pk)
            if key in active:
                reused += 1
                continue
            try:
                ids.append(start_task(by, target, "verify", {}).pk)
            except TaskRefused as exc:
                refused += 1
                self.stderr.write(f"{target}: refused: {exc}")
        self.stdout.write(f"Queued {len(ids)} verify task(s)"
                          + (f", {reused} already queued or running" if reused else "")
                          + (f", {refused} refused" if refused else "")
                          + (f": #{ids[0]}..#{ids[-1]}" if ids else "") + ".")
        if options["wait"] and ids:
            self.follow(ids, options["timeout"], options["interval"])
        elif refused:
            raise CommandError(f"{refused} task(s) refused.", returncode=1)

    def follow(self, ids: list[int], timeout: float, interval: float) -> None:
        progress = Progress(self.stdout, len(ids), self.stdout.isatty())
        give_up = time.monotonic() + timeout if timeout else None
        while True:
            states = dict(Task.objects.filter(pk__in=ids).values_list("pk", "state"))
            done = [pk for pk, state in states.items() if state in Task.FINAL or state == Task.PAUSED]
            failed = [pk for pk in done if states[pk] in BAD]
            progress.show(len(done), len(failed))
            if len(done) == len(ids) or (give_up is not None and time.monotonic() > give_up):
                break
            time.sleep(interval)
        progress.end()
        bad = list(Task.objects.filter(pk__in=ids, state__in=BAD).order_by("pk"))
        unfinished = len(ids) - len(done)
        for task in bad:
            self.stderr.write(f"#{task.pk} {task.target_type} {task.target_label}: {task.state}: {task.summary}")
        self.stdout.write(f"{len(done) - len(bad)} succeeded, {len(bad)} failed"
                          + (f", {unfinished} not finished (timeout)" if unfinished else "") + ".")
        if bad or unfinished:
            raise CommandError(f"{len(bad)} failed, {unfinished} unfinished.", returncode=1)


FOLLOW_HELP = "With --wait: seconds between looks at the tasks."


class Progress:
    """A bar redrawn in place on a terminal; plain lines, only when something changed, otherwise."""

    WIDTH = 30

    def __init__(self, out: Any, total: int, tty: bool) -> None:
        self.out, self.total, self.tty = out, total, tty
        self.last: tuple[int, int] | None = None

    def show(self, done: int, failed: int) -> None:
        if (done, failed) == self.last:
            return
        self.last = (done, failed)
        text = f"{done}/{self.total} finished, {failed} failed"
        if self.tty:
            filled = self.WIDTH * done // max(self.total, 1)
            self.out.write(f"\r[{'#' * filled}{'.' * (self.WIDTH - filled)}] {text}", ending="")
            self.out.flush()
        else:
            self.out.write(text)

    def end(self) -> None:
        if self.tty:
            self.out.write("")
