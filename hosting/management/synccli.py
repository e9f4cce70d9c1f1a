"""`manage.py site sync TARGET --from SOURCE [--database] [--files] [--wait]`: copy another site's
database and/or files onto TARGET (hosting.operations.site_sync) through hosting.starting, with
the form the panel and the API use. Neither flag: both are copied."""
from __future__ import annotations

from typing import Any

from django.core.management.base import CommandError


def add_arguments(sub: Any) -> None:
    sync = sub.add_parser("sync", help="Copy another site's database and/or files onto this site (same client, "
                          "same server); the site is backed up first.")
    sync.add_argument("domain", help="The site that is overwritten (the target).")
    sync.add_argument("--from", dest="source", required=True, metavar="SOURCE", help="The site copied from.")
    sync.add_argument("--database", action="store_true", help="Copy the database.")
    sync.add_argument("--files", action="store_true", help="Copy the files (sites/<domain>/files).")
    sync.add_argument("--wait", action="store_true", help="Wait for it; exit non-zero unless it succeeds.")
    sync.add_argument("--timeout", type=float, default=0, help="With --wait: give up after this many seconds.")


def what(database: bool, files: bool) -> str:
    if database == files:
        return "both"
    return "database" if database else "files"


def sync(command: Any, options: dict[str, Any]) -> None:
    from django.core.exceptions import PermissionDenied

    from hosting.management.commands.tasks import Command as Tasks
    from hosting.management.taskcli import actor
    from hosting.models import Site
    from hosting.refused import TaskRefused
    from hosting.starting import ArgumentsInvalid, start_task

    live = Site.objects.exclude(status=Site.DELETED)
    target = live.filter(domain=options["domain"]).first()
    if target is None:
        raise CommandError(f"No site {options['domain']!r}.")
    source = live.filter(domain=options["source"]).first()
    if source is None:
        raise CommandError(f"No site {options['source']!r}.")
    data = {"source": source.pk, "what": what(options["database"], options["files"])}
    try:
        task = start_task(actor(), target, "sync", data)
    except (TaskRefused, PermissionDenied, ArgumentsInvalid) as exc:
        raise CommandError(str(exc)) from None
    command.stdout.write(f"{target.domain}: sync from {source.domain} ({data['what']}) queued as task {task.pk}")
    if options["wait"]:
        waiter = Tasks()
        waiter.stdout, waiter.stderr = command.stdout, command.stderr
        waiter.wait(task, float(options["timeout"] or 0))
