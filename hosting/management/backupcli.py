"""The `manage.py backups` actions that change something or write a file: download, delete,
restore-deleted, schedule. They act as the command line's operator, through the same actions as
the panel and the API (hosting.backupactions, hosting.starting)."""
from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path
from typing import IO, Any

from django.core.exceptions import ValidationError
from django.core.management.base import BaseCommand, CommandError

from hosting import backupactions
from hosting.management import taskcli
from hosting.models import Backup, Site
from hosting.refused import TaskRefused
from hosting.starting import ArgumentsInvalid, start_task

ACTIONS = ("download", "export", "delete", "restore-deleted", "schedule")


def add_parsers(sub: Any) -> None:
    download = sub.add_parser("download", help="Copy a backup's archive to a file.")
    download.add_argument("id", type=int, metavar="ID", help="The backup id (as `backups list` shows).")
    download.add_argument("path", metavar="PATH", help="Where to write the archive (a new file; - for stdout).")
    download.add_argument("--force", action="store_true", help="Overwrite PATH if it exists.")
    download.add_argument("--tar", action="store_true",
                          help="Write one plain tar with the site's files and its database dump, not the "
                               "stored archive (whose files are in the backup store).")
    export = sub.add_parser("export", help="Write a backup as one .tar.zst or .tar.gz that plain tar extracts: "
                                           "site/ (settings.php, files) and database.sql.")
    export.add_argument("id", type=int, metavar="ID", help="The backup id (as `backups list` shows).")
    export.add_argument("-o", "--output", required=True, metavar="FILE",
                        help="Where to write: a name ending .tar.zst, .tar.gz or .tar chooses the "
                             "compression; - writes .tar.zst to standard output.")
    export.add_argument("--force", action="store_true", help="Overwrite FILE if it exists.")
    delete = sub.add_parser("delete", help="Delete a backup: its archive and its record.")
    delete.add_argument("id", type=int, metavar="ID", help="The backup id.")
    delete.add_argument("--yes", action="store_true", help="Confirm: without it nothing is deleted.")
    revive = sub.add_parser("restore-deleted", help="Queue a task re-creating a deleted site from its backup.")
    revive.add_argument("id", type=int, metavar="ID", help="The backup id (the site's pre-delete backup).")
    schedule = sub.add_parser("schedule", help="Show or set a site's backup schedule.")
    what = schedule.add_subparsers(dest="schedule_action", required=True)
    show = what.add_parser("show", help="The schedule that governs the site (its own or its client's).")
    show.add_argument("domain", metavar="DOMAIN", help="The site's domain.")
    show.add_argument("--json", action="store_true", help="As JSON.")
    put = what.add_parser("set", help="Give the site its own schedule (unset options keep their values).")
    put.add_argument("domain", metavar="DOMAIN", help="The site's domain.")
    put.add_argument("--frequency", choices=["daily", "weekly"], help="How often.")
    put.add_argument("--keep-count", help="Scheduled backups kept (a number, or 'none' for no limit).")
    put.add_argument("--keep-days", help="Days scheduled backups are kept (a number, or 'none').")
    put.add_argument("--enable", dest="enabled", action="store_true", default=None, help="Switch it on.")
    put.add_argument("--disable", dest="enabled", action="store_false", help="Switch it off for this site.")


def _chunks(source: IO[bytes]) -> Iterator[bytes]:
    with source:
        while chunk := source.read(1 << 20):
            yield chunk


def _backup(pk: int) -> Backup:
    backup = Backup.objects.select_related("site", "client").filter(pk=pk).first()
    if backup is None:
        raise CommandError(f"No backup #{pk}.")
    return backup


def _site(domain: str) -> Site:
    site = Site.objects.exclude(status=Site.DELETED).filter(domain=domain.strip().lower()).first()
    if site is None:
        raise CommandError(f"No live site {domain}.")
    return site


def _limit(value: str | None, name: str) -> int | None | bool:
    """VALUE of --NAME: an int, None ('none'), or False when not given."""
    if value is None:
        return False
    if value.lower() == "none":
        return None
    if not value.isdigit() or len(value) > 6:
        raise CommandError(f"--{name} takes a number or 'none', not {value!r}.")
    return int(value)


def handle(command: BaseCommand, action: str, options: dict[str, Any]) -> None:
    try:
        _handle(command, action, options)
    except (TaskRefused, ArgumentsInvalid) as exc:
        raise CommandError(str(exc)) from None
    except ValidationError as exc:
        raise CommandError("; ".join(exc.messages)) from None


def _handle(command: BaseCommand, action: str, options: dict[str, Any]) -> None:
    by = taskcli.actor()
    if action == "download":
        backup = _backup(options["id"])
        if options["tar"]:
            chunks, name = backupactions.export_archive(backup)
        else:
            source, path = backupactions.open_archive(backup)
            chunks, name = _chunks(source), path.name
        if options["path"] == "-":
            out = command.stdout._out.buffer  # type: ignore[attr-defined]
            for chunk in chunks:
                out.write(chunk)
            return
        target = Path(options["path"])
        try:
            flags = os.O_WRONLY | os.O_CREAT | (os.O_TRUNC if options["force"] else os.O_EXCL)
            with os.fdopen(os.open(target, flags, 0o600), "wb") as out:
                for chunk in chunks:
                    out.write(chunk)
        except FileExistsError:
            raise CommandError(f"{target} exists; give --force to overwrite it.") from None
        except OSError as exc:
            raise CommandError(f"Cannot write {target}: {exc}.") from None
        command.stdout.write(f"Backup #{backup.pk} ({name}, {target.stat().st_size} bytes) written to {target}.")
    elif action == "export":
        _export(command, _backup(options["id"]), options["output"], options["force"])
    elif action == "delete":
        backup = _backup(options["id"])
        if not options["yes"]:
            raise CommandError(f"This deletes backup #{backup.pk} of {backup.domain} for good; add --yes to do it.")
        backupactions.delete_backup(by, backup)
        command.stdout.write(f"Backup #{backup.pk} of {backup.domain} deleted.")
    elif action == "restore-deleted":
        backup = _backup(options["id"])
        site = Site.objects.filter(pk=backup.site_id).first() if backup.site_id else None
        if site is None or site.status != Site.DELETED:
            raise CommandError(f"Backup #{backup.pk} is not of a deleted site with a record "
                               f"({'its record is gone' if site is None else f'{site.domain} is {site.status}'}).")
        task = start_task(by, site, "restore-deleted", {"backup": backup.pk})
        command.stdout.write(f"Queued task #{task.pk}: restore {site.domain} from backup #{backup.pk}.")
    else:
        _schedule(command, by, options)


def _export(command: BaseCommand, backup: Backup, output: str, force: bool) -> None:
    """The standard archive, written by the same code the panel streams and
    `python -m provision.backup.export` runs without the panel."""
    from provision.backup.export import compression_of, write_export
    from provision.errors import ProvisionError

    try:
        kind = "zst" if output == "-" else compression_of(output)
        chunks, name = backupactions.export_archive(backup, kind)
        size = write_export(chunks, output, force=force)
    except ProvisionError as exc:
        raise CommandError(str(exc)) from None
    if output != "-":
        command.stdout.write(f"Backup #{backup.pk} exported as {name} ({size} bytes) to {output}.")


def _schedule(command: BaseCommand, by: Any, options: dict[str, Any]) -> None:
    site = _site(options["domain"])
    if options["schedule_action"] == "set":
        values: dict[str, Any] = {}
        if options["frequency"]:
            values["frequency"] = options["frequency"]
        for name in ("keep_count", "keep_days"):
            limit = _limit(options[name], name.replace("_", "-"))
            if limit is not False:
                values[name] = limit
        if options["enabled"] is not None:
            values["enabled"] = options["enabled"]
        backupactions.set_schedule(by, site, values)
    shown = backupactions.schedule_view(site)
    if options.get("json"):
        command.stdout.write(taskcli.as_json(shown))
        return
    values = shown["schedule"]
    if values is None:
        command.stdout.write(f"{site.domain}: no schedule.")
        return
    keep = f"keep {values['keep_count'] if values['keep_count'] is not None else 'any number'}, " \
           f"{values['keep_days'] if values['keep_days'] is not None else 'no'} days"
    command.stdout.write(f"{site.domain}: {values['frequency']}, {keep}, "
                         f"{'enabled' if values['enabled'] else 'disabled'} ({shown['source']}'s schedule)")
