"""Acting on one recorded backup for a user: its file (for a download), deleting it, and the
backup schedule of a site. The panel, the API and the command line all come here.

Deleting a backup is not a task in this codebase: retention (hosting.retention) deletes
scheduled backups in-process, file then row, audited. A deletion asked for by a person does the
same, with the same garbage collection of the store afterwards, and refuses while a restore
names the backup."""
from __future__ import annotations

import logging
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from django.core.exceptions import PermissionDenied
from django.db import transaction

from hosting import access, audit
from hosting.actor import Actor, is_operator
from hosting.models import Backup, BackupSchedule, Site, Task
from hosting.refused import TaskRefused

_logger = logging.getLogger("hosting.backupactions")


class UnsafeBackupPath(TaskRefused):
    """The recorded path of a backup does not lead into its site's directory in the backup root."""


def backup_file(backup: Backup) -> Path:
    """The archive of BACKUP, resolved, if it lies inside the backup root's directory of its
    domain; UnsafeBackupPath otherwise. The recorded path is the control database's, never the
    request's; it is still checked, so that a tampered row cannot hand out or delete any file."""
    from hosting.operations import resources
    from provision.errors import ProvisionError

    try:
        store = resources.backup_dir(backup.domain)
        text = str(backup.path or "")
        if not text.startswith("/") or "\x00" in text:
            raise ProvisionError("not an absolute path")
        found = Path(text).resolve(strict=False)
    except (ProvisionError, OSError, ValueError) as exc:
        raise UnsafeBackupPath(f"Backup #{backup.pk}'s file is not in the backup store ({exc}).") from None
    if found == store or not found.is_relative_to(store):
        raise UnsafeBackupPath(f"Backup #{backup.pk}'s recorded file is outside the backup store of "
                               f"{backup.domain}; it is neither served nor deleted.")
    return found


def open_archive(backup: Backup) -> tuple[Any, Path]:
    """An open binary handle on BACKUP's archive and its path (TaskRefused when it is gone)."""
    path = backup_file(backup)
    if not path.is_file():
        raise TaskRefused(f"The file of backup #{backup.pk} is gone.")
    return open(path, "rb"), path


def export_archive(backup: Backup, compression: str = "tar", *, threads: int = 0) -> tuple[Iterator[bytes], str]:
    """BACKUP as one standard archive (its files from the object store included) as a stream
    of chunks, and a file name for it; COMPRESSION "zst", "gz" or "tar" (none). TaskRefused
    when its file is gone, outside the store, or its members are refused (before any chunk)."""
    from provision.backup.export import EXTENSIONS, export_stream
    from provision.errors import ProvisionError

    path = backup_file(backup)
    if not path.is_file():
        raise TaskRefused(f"The file of backup #{backup.pk} is gone.")
    try:
        chunks = export_stream(path, compression, threads=threads)
    except ProvisionError as exc:
        raise TaskRefused(f"Backup #{backup.pk} cannot be exported: {exc}") from None
    return chunks, path.name.removesuffix(".zst").removesuffix(".tar") + EXTENSIONS[compression]


def site_gone(backup: Backup) -> bool:
    """Is BACKUP's site deleted (or its record gone)?"""
    return backup.site_id is None or (backup.site is not None and backup.site.status == Site.DELETED)


def delete_refusal(user: Any, backup: Backup) -> str:
    """Why USER may not delete BACKUP ("" when they may). Who may back a site up may delete its
    backups; the pre-delete backup of a deleted site is the only way back to it, so only an
    administrator deletes that one."""
    if is_operator(user):
        return ""
    if not access.may_start_kind(user, "site", backup.client_id, "backup"):
        return "You may not delete this site's backups."
    if backup.kind == Backup.PRE_DELETE and site_gone(backup) and not access.is_admin(user):
        return "The backup made before the site was deleted is deleted only by an administrator."
    return ""


def restores_naming(backup: Backup) -> list[int]:
    """Unfinished tasks (restore, restore-deleted) that will read BACKUP."""
    found = []
    for pk, args in Task.objects.filter(kind__in=("restore", "restore-deleted"), state__in=Task.ACTIVE) \
            .values_list("pk", "args"):
        if isinstance(args, dict) and args.get("backup") == backup.pk:
            found.append(pk)
    return found


def delete_backup(by: Actor, backup: Backup, *, address: str | None = None) -> None:
    """Delete BACKUP's file and row for BY (PermissionDenied, TaskRefused; nothing changes then)."""
    reason = delete_refusal(by, backup)
    if reason:
        raise PermissionDenied(reason)
    path = backup_file(backup)
    busy = restores_naming(backup)
    if busy:
        raise TaskRefused(f"Task #{busy[0]} is restoring from backup #{backup.pk}; wait for it to finish.")
    try:
        path.unlink(missing_ok=True)
    except OSError as exc:
        raise TaskRefused(f"The file of backup #{backup.pk} could not be deleted: {exc}.") from None
    with transaction.atomic():
        audit.record(by, "backup.deleted", backup, client=backup.client, address=address,
                     before={"path": backup.path, "kind": backup.kind, "size": backup.size,
                             "created": backup.created_at.isoformat()})
        Backup.objects.filter(pk=backup.pk).delete()
    _tidy(backup)


def _tidy(backup: Backup) -> None:
    """After a deletion: the store's objects no archive names go, and the site's figure follows."""
    from hosting import retention

    site = Site.objects.filter(pk=backup.site_id).first() if backup.site_id else None
    # Without a record, only the domain is read (to find the store); there is nothing to measure.
    retention.after_deletion(site or Site(domain=backup.domain), measure=site is not None)


# --- Schedules ------------------------------------------------------------------------------

SCHEDULE_FIELDS = ("frequency", "keep_count", "keep_days", "enabled")


def may_edit_schedule(user: Any, site: Site) -> bool:
    """Whoever may start a backup of the site sets when it is backed up."""
    return is_operator(user) or access.may_queue(user, site, "backup")


def schedule_view(site: Site) -> dict[str, Any]:
    """The schedule that governs SITE as plain data: its own, else its client's, else none."""
    own = BackupSchedule.objects.filter(site=site).first()
    inherited = None if own is not None or not site.client_id else \
        BackupSchedule.objects.filter(client_id=site.client_id).first()
    chosen = own or inherited
    values = {f: getattr(chosen, f) for f in SCHEDULE_FIELDS} if chosen else None
    return {"source": "site" if own else ("client" if inherited else "none"), "schedule": values}


def set_schedule(by: Actor, site: Site, values: dict[str, Any], *, address: str | None = None) -> BackupSchedule:
    """Write SITE's own schedule (created when it has none) from VALUES (already validated)."""
    if not may_edit_schedule(by, site):
        raise PermissionDenied("You may not change this site's backup schedule.")
    with transaction.atomic():
        schedule = BackupSchedule.objects.select_for_update().filter(site=site).first()
        before = {f: getattr(schedule, f) for f in SCHEDULE_FIELDS} if schedule else None
        if schedule is None:
            schedule = BackupSchedule(site=site)
        for field in SCHEDULE_FIELDS:
            if field in values:
                setattr(schedule, field, values[field])
        schedule.full_clean()
        schedule.save()
        audit.record(by, "schedule.changed", site, client=site.client, address=address, before=before,
                     after={f: getattr(schedule, f) for f in SCHEDULE_FIELDS})
    return schedule
