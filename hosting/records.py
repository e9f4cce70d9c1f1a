"""Node delete: removing a site's or platform's *record* without touching anything on disk
(Aegir's `node/N/delete` workaround, made a confirmed and audited action; DESIGN §3).

The row is kept with status `deleted` rather than removed (docs/decisions.md): its tasks, their
logs and its backups keep pointing at it, the history reads as it did, and the partial unique
constraints on domain and name let a later platform verify import the site again as a new
record."""
from __future__ import annotations

from typing import Any

from django.db import transaction

from hosting import audit
from hosting.models import Platform, Site, Task

DISK_STAYS = ("Files, database and backups on disk stay as they are: only the record in the panel is "
              "deleted.")


class RecordRefused(Exception):
    """The record cannot be deleted now; the message says why."""


def _active(tasks) -> Task | None:
    return tasks.filter(state__in=Task.ACTIVE).order_by("created_at").first()


def site_obstacle(site: Site) -> str:
    task = _active(Task.objects.filter(site=site))
    if task is not None:
        return (f"Task #{task.pk} ({task.kind}) is {task.state} on this site: cancel, force-stop or abort "
                "it first, so that nothing works on a site without a record.")
    return ""


def platform_obstacle(platform: Platform, *, with_sites: bool) -> str:
    task = _active(Task.objects.filter(platform=platform))
    if task is not None:
        return (f"Task #{task.pk} ({task.kind} {task.target_label}) is {task.state} on this platform: "
                "cancel, force-stop or abort it first.")
    live = Site.objects.filter(platform=platform).exclude(status=Site.DELETED).count()
    if live and not with_sites:
        return (f"{live} site record(s) are on this platform: tick the box to delete their records too, "
                "or delete or migrate those sites first.")
    return ""


def delete_site_record(site: Site, *, by: Any, address: str | None = None) -> Site:
    with transaction.atomic():
        site = Site.objects.select_for_update().get(pk=site.pk)
        if site.status == Site.DELETED:
            raise RecordRefused("The site's record is deleted already.")
        reason = site_obstacle(site)
        if reason:
            raise RecordRefused(reason)
        before = site.status
        site.mark(Site.DELETED)
        audit.record(by, "site.record_deleted", site, address=address, before={"status": before},
                     after={"status": Site.DELETED}, detail=DISK_STAYS)
    return site


def delete_platform_record(platform: Platform, *, by: Any, with_sites: bool = False,
                           address: str | None = None) -> tuple[Platform, int]:
    """Returns the platform and how many site records went with it."""
    with transaction.atomic():
        platform = Platform.objects.select_for_update().get(pk=platform.pk)
        if platform.status == Platform.DELETED:
            raise RecordRefused("The platform's record is deleted already.")
        reason = platform_obstacle(platform, with_sites=with_sites)
        if reason:
            raise RecordRefused(reason)
        sites = list(Site.objects.filter(platform=platform).exclude(status=Site.DELETED))
        for site in sites:
            audit.record(by, "site.record_deleted", site, address=address, before={"status": site.status},
                         after={"status": Site.DELETED}, detail=f"With platform {platform.name}. {DISK_STAYS}")
        Site.set_status([s.pk for s in sites], Site.DELETED)
        before = platform.status
        platform.mark(Platform.DELETED)
        audit.record(by, "platform.record_deleted", platform, address=address, before={"status": before},
                     after={"status": Platform.DELETED, "site_records": len(sites)}, detail=DISK_STAYS)
    return platform, len(sites)
