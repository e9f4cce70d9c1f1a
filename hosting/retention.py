"""Retention of scheduled backups: after a successful scheduled backup of a site, its scheduled
backups beyond the schedule's count or older than its age limit are deleted (file and row).

Only `scheduled` backups are touched: manual, pre-delete, pre-migrate and pre-restore backups
were made on purpose by someone and stay until someone deletes them. The newest scheduled
backup whose file exists is never deleted, whatever the limits say, and neither is a backup
that a queued, running or paused restore names. Then the object store's garbage is collected:
objects that no remaining archive names (newer backups keep every object they list)."""
from __future__ import annotations

import logging
from datetime import datetime, timedelta
from pathlib import Path

from django.utils import timezone

from hosting import audit
from hosting.models import Backup, BackupSchedule, Site, Task

_logger = logging.getLogger("hosting.retention")
ACTOR = "system:retention"


def schedule_of(site: Site) -> BackupSchedule | None:
    """The schedule that governs SITE: its own, else its client's; None if none or disabled."""
    own = BackupSchedule.objects.filter(site=site).first()
    if own is None and site.client_id:
        own = BackupSchedule.objects.filter(client_id=site.client_id).first()
    return own if own is not None and own.enabled else None


def _exists(backup: Backup) -> bool:
    from hosting.operations.site_common import backup_path

    try:
        return backup_path(backup).is_file()
    except Exception:  # noqa: BLE001 - a path outside the roots is not a usable backup
        return False


def doomed(site: Site, schedule: BackupSchedule, now: datetime) -> list[Backup]:
    """The scheduled backups of SITE that the limits of SCHEDULE let go, newest first."""
    backups = list(Backup.objects.filter(site=site, kind=Backup.SCHEDULED).order_by("-created_at", "-pk"))
    keep_newest = next((b for b in backups if _exists(b)), None)
    in_use = set()
    for args in Task.objects.filter(site=site, kind="restore", state__in=Task.ACTIVE).values_list("args", flat=True):
        if isinstance(args, dict) and isinstance(args.get("backup"), int):
            in_use.add(args["backup"])
    oldest_allowed = now - timedelta(days=schedule.keep_days) if schedule.keep_days is not None else None
    found = []
    for position, backup in enumerate(backups):
        if backup is keep_newest or backup.pk in in_use:
            continue
        over_count = schedule.keep_count is not None and position >= schedule.keep_count
        too_old = oldest_allowed is not None and backup.created_at < oldest_allowed
        if over_count or too_old:
            found.append(backup)
    return found


def apply(site: Site, now: datetime | None = None) -> list[int]:
    """Delete what the retention of SITE's schedule lets go. Returns the deleted backups' ids."""
    schedule = schedule_of(site)
    if schedule is None:
        return []
    from hosting.operations.site_common import backup_path

    deleted = []
    for backup in doomed(site, schedule, now or timezone.now()):
        try:
            path: Path | None = backup_path(backup)
        except Exception:  # noqa: BLE001 - outside the roots: never delete it, just forget the row
            path = None
        if path is not None:
            try:
                path.unlink(missing_ok=True)
            except OSError as exc:
                _logger.warning("retention could not delete %s: %s", path, exc)
                continue  # keep the row while the file is still there
        audit.record(ACTOR, "backup.deleted", backup, client=backup.client,
                     before={"path": backup.path, "created": backup.created_at.isoformat()},
                     detail=f"retention of the {schedule.frequency} schedule")
        deleted.append(backup.pk)
        backup.delete()
    if deleted:
        _logger.info("retention deleted backups %s of %s", deleted, site.domain)
        _collect(site)
        _measure(site)
    return deleted


def after_deletion(site: Site, *, measure: bool = True) -> None:
    """After backups of SITE were deleted by other means (a person, hosting.backupactions):
    collect the store's unnamed objects and, for a site record that exists, measure again."""
    _collect(site)
    if measure:
        _measure(site)


def _measure(site: Site) -> None:
    """What the backup store holds for the site now: the quota counts it."""
    from hosting.operations.site_common import backup_store_bytes

    try:
        Site.objects.filter(pk=site.pk).update(disk_backup_bytes=backup_store_bytes(site.domain))
    except Exception as exc:  # noqa: BLE001 - a figure left as it was costs nothing but accuracy
        _logger.warning("retention could not measure the backups of %s: %s", site.domain, exc)


def _collect(site: Site) -> None:
    """Remove the store objects that no remaining archive of the site names. Skipped (and
    done at a later run) while a backup of the site holds the store."""
    from hosting.operations import resources
    from provision.backup.collect import collect_garbage

    try:
        done = collect_garbage(resources.backup_dir(site.domain))
    except Exception as exc:  # noqa: BLE001 - objects left over cost space, never a backup
        _logger.warning("retention could not collect the objects of %s: %s", site.domain, exc)
        return
    if done is not None:
        _settle_damage(site.domain)
    if done is None:
        _logger.info("object collection of %s skipped: the store is busy or a manifest unreadable", site.domain)
    elif done.removed:
        _logger.info("retention removed %d objects (%d bytes) of %s", done.removed, done.freed, site.domain)


def _settle_damage(domain: str) -> None:
    """Deleting the backups that named damaged objects resolves that damage: say so at once on
    the status page rather than at the store's next scrub."""
    from hosting import scrub
    from hosting.models import StoreCheck
    from provision.domains import normalise_domain

    name = normalise_domain(domain)
    if StoreCheck.objects.filter(domain=name).filter(unusable__gt=0).exists():
        scrub.refresh(name, archives=None)
