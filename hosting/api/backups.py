"""Backups beyond listing (hosting.api.nodes): the archive's bytes, deleting one, bringing a
deleted site back from one, and a site's backup schedule. The same actions as the panel
(hosting.backupactions, hosting.starting)."""
from __future__ import annotations

from typing import Any, Literal

from django.core.exceptions import PermissionDenied
from django.http import FileResponse, HttpRequest, StreamingHttpResponse
from django.utils.http import content_disposition_header
from ninja import Query, Router, Schema, Status

from hosting import access, audit, backupactions, starting
from hosting.api.auth import ApiProblem
from hosting.api.common import Id, address, responses
from hosting.models import Site
from hosting.refused import TaskRefused
from provision.backup.export import CONTENT_TYPES

router = Router()
EXPORTS = {"tar": "tar", "tar.zst": "zst", "tar.gz": "gz"}


@router.get("/backups/{backup_id}/download", response=responses(bytes), tags=["backups"])
def download_backup(request: HttpRequest, backup_id: Id,
                    as_: Literal["", "tar", "tar.zst", "tar.gz"] = Query("", alias="as")):
    """The backup's archive as stored (`application/zstd`: the database dump and the manifest; a
    backup's files are in the backup store), or with `as=tar.zst` (`tar.gz`, `tar`) the standard
    archive that plain tar extracts: `site/` (settings.php, files) and `database.sql`, streamed
    and compressed as it is sent. 409 when its file is gone, not inside the backup store, or its
    manifest names what an export refuses (paths out of the site, members below a link)."""
    backup = access.access_backup(request.user, backup_id)
    kind = EXPORTS.get(as_)
    if kind is not None:
        chunks, name = backupactions.export_archive(backup, kind)
    else:
        handle, path = backupactions.open_archive(backup)
    audit.record(request.user, "backup.downloaded", backup, client=backup.client, address=address(request),
                 detail=f"as {name}" if kind is not None else "")
    if kind is not None:
        response = StreamingHttpResponse(chunks, content_type=CONTENT_TYPES[kind])
        # nginx in front (deploy/nginx-panel.conf) would otherwise spool a slow client's download
        # into its temporary files: a copy of the whole site on disk after all.
        response["X-Accel-Buffering"] = "no"
        response["Content-Disposition"] = content_disposition_header(True, name)
        return response
    return FileResponse(handle, as_attachment=True, filename=path.name, content_type="application/zstd")


class RestoreDeletedOut(Schema):
    task: int


@router.post("/backups/{backup_id}/restore-deleted", response=responses(RestoreDeletedOut, 202), tags=["backups"])
def restore_deleted(request: HttpRequest, backup_id: Id):
    """Re-create the backup's deleted site on its platform from it (a `restore-deleted` task).
    409 when the domain is taken by a live site meanwhile or the platform is gone."""
    backup = access.access_backup(request.user, backup_id)
    site = Site.objects.filter(pk=backup.site_id).first() if backup.site_id else None
    if site is None:
        raise TaskRefused("The site's record is gone; it cannot be restored from here.")
    if not starting.may_start(request.user, site, "restore-deleted"):
        raise PermissionDenied("You may not restore this site.")
    if site.status != Site.DELETED:
        raise TaskRefused(f"{site.domain} is not deleted: restore it with a restore task (site {site.pk}).")
    task = starting.start_task(request.user, site, "restore-deleted", {"backup": backup.pk}, address=address(request))
    return Status(202, {"task": task.pk})


class ScheduleValues(Schema):
    frequency: Literal["daily", "weekly"] = "daily"
    keep_count: int | None = 7
    keep_days: int | None = 30
    enabled: bool = True


class ScheduleOut(Schema):
    source: Literal["site", "client", "none"]
    schedule: ScheduleValues | None
    may_edit: bool


def _schedule(request: HttpRequest, site: Site) -> dict[str, Any]:
    return {**backupactions.schedule_view(site), "may_edit": backupactions.may_edit_schedule(request.user, site)}


@router.get("/sites/{site_id}/backup-schedule", response=responses(ScheduleOut), tags=["backups"])
def get_schedule(request: HttpRequest, site_id: Id):
    """The schedule that governs the site: its own ("site"), its client's ("client") or none."""
    return _schedule(request, access.access_site(request.user, site_id))


@router.put("/sites/{site_id}/backup-schedule", response=responses(ScheduleOut), tags=["backups"])
def put_schedule(request: HttpRequest, site_id: Id, payload: ScheduleValues):
    """Give the site its own schedule (whoever may back the site up)."""
    site = access.access_site(request.user, site_id)
    for field in ("keep_count", "keep_days"):
        value = getattr(payload, field)
        if value is not None and not 0 <= value <= 100000:
            raise ApiProblem(f"{field} must be between 0 and 100000.", code="bad_input", status=400)
    backupactions.set_schedule(request.user, site, payload.dict(), address=address(request))
    return _schedule(request, site)



