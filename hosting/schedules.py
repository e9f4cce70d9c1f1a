"""Scheduled backups and the django-q2 schedules that drive the watcher and them.

django-q2's scheduler (inside `qcluster`) calls `run_due_backups` every few minutes,
`hosting.events.poll` every minute, the task-history and audit retention (hosting.prune,
hosting.auditprune) every hour and the
scrub of the backup stores (hosting.scrub) every 10 minutes, on the cluster of
HARBORMASTER_SCHEDULER_QUEUE. Backups are
started with hosting.starting.start_task like any other task (as the scheduler, an operator), so
refusals, quotas, locks, caps and fair turns apply."""
from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from django.conf import settings
from django.db.models import Max, Q
from django.utils import timezone

from hosting.actor import SCHEDULER
from hosting.models import Backup, BackupSchedule, Site, StaleBackupAlert, Task

ACTOR = SCHEDULER
# A backup queued up to this much early still counts for the period: runs every 10 minutes must
# not make a daily backup drift later each day.
SLACK = timedelta(minutes=30)
SCHEDULES: list[dict[str, Any]] = [
    {"name": "harbormaster: scheduled backups", "func": "hosting.schedules.run_due_backups", "minutes": 10},
    {"name": "harbormaster: task watcher", "func": "hosting.events.poll", "minutes": 1},
    {"name": "harbormaster: task history retention", "func": "hosting.prune.run_scheduled", "minutes": 60},
    {"name": "harbormaster: audit retention", "func": "hosting.auditprune.run_scheduled", "minutes": 60},
    {"name": "harbormaster: backup store scrub", "func": "hosting.scrub.run_scheduled", "minutes": 10},
    {"name": "harbormaster: certificate renewals", "func": "hosting.renewals.run_due_renewals", "minutes": 60},
    {"name": "harbormaster: site cron", "func": "hosting.cron.tick", "minutes": 1},
    {"name": "harbormaster: off-site replication", "func": "hosting.offsite.run_due_replications", "minutes": 10},
]
_logger = logging.getLogger("hosting.schedules")


def ensure_schedules(**_: Any) -> int:
    """Create or update the django-q2 schedules (post_migrate). Returns how many were written."""
    from django_q.models import Schedule

    written = 0
    for spec in SCHEDULES:
        fields = {"func": spec["func"], "schedule_type": Schedule.MINUTES, "minutes": spec["minutes"],
                  "repeats": -1, "cluster": settings.HARBORMASTER_SCHEDULER_QUEUE}
        current = Schedule.objects.filter(name=spec["name"]).first()
        if current is None:
            Schedule.objects.create(name=spec["name"], next_run=timezone.now(), **fields)
        elif any(getattr(current, k) != v for k, v in fields.items()):
            Schedule.objects.filter(pk=current.pk).update(**fields)
        else:
            continue
        written += 1
    return written


@dataclass(frozen=True)
class Covered:
    site: Site
    schedule: BackupSchedule


def covered_sites() -> list[Covered]:
    """Live, installed sites with an enabled schedule (their own wins over their client's)."""
    own = {s.site_id: s for s in BackupSchedule.objects.filter(site__isnull=False)}
    by_client = {s.client_id: s for s in BackupSchedule.objects.filter(client__isnull=False, enabled=True)}
    sites = Site.objects.filter(status__in=(Site.ENABLED, Site.DISABLED)).filter(
        Q(pk__in=list(own)) | Q(client_id__in=list(by_client))).select_related("client", "platform__server")
    found = []
    for site in sites:
        schedule = own.get(site.pk) or by_client.get(site.client_id)
        if schedule is not None and schedule.enabled:
            found.append(Covered(site, schedule))
    return found


def last_good_backups(site_ids: list[int]) -> dict[int, datetime]:
    """The time of each site's newest backup of any kind (a row exists only for a backup that
    was completed and recorded)."""
    return dict(Backup.objects.filter(site_id__in=site_ids).values("site_id").annotate(m=Max("created_at"))
                .values_list("site_id", "m"))


def run_due_backups(now: datetime | None = None) -> list[int]:
    """Queue a scheduled site.backup for every covered site whose period has passed since its
    last scheduled backup was queued, and none is active. Returns the new task ids."""
    from hosting.refused import TaskRefused
    from hosting.starting import ArgumentsInvalid, start_task

    now = now or timezone.now()
    covered = covered_sites()
    ids = [c.site.pk for c in covered]
    backups = Task.objects.filter(site_id__in=ids, target_type="site", kind="backup")
    last_queued = dict(backups.filter(args__kind=Backup.SCHEDULED).values("site_id")
                       .annotate(m=Max("created_at")).values_list("site_id", "m"))
    busy = set(backups.filter(state__in=Task.ACTIVE).values_list("site_id", flat=True))
    queued = []
    for item in covered:
        last = last_queued.get(item.site.pk)
        if item.site.pk in busy or (last is not None and now - last < item.schedule.period - SLACK):
            continue
        try:
            task = start_task(ACTOR, item.site, "backup", {"kind": Backup.SCHEDULED})
        except (TaskRefused, ArgumentsInvalid, ValueError) as exc:
            _logger.warning("scheduled backup of %s refused: %s", item.site.domain, exc)
            continue
        queued.append(task.pk)
    notify_stale(now)
    return queued


def stale_sites(
    now: datetime | None = None, sites: list[int] | None = None,
) -> list[tuple[Site, datetime | None, BackupSchedule]]:
    """Covered sites whose last good backup is older than their schedule allows (or missing,
    once the schedule has existed that long)."""
    now = now or timezone.now()
    covered = [c for c in covered_sites() if sites is None or c.site.pk in sites]
    last = last_good_backups([c.site.pk for c in covered])
    found = []
    for item in covered:
        newest = last.get(item.site.pk)
        since = newest or max(item.schedule.created_at, item.site.created_at)
        if now - since > item.schedule.allowed_age:
            found.append((item.site, newest, item.schedule))
    return found


def notify_stale(now: datetime | None = None) -> int:
    """Notify each newly stale site once; forget the alert of a site that is fresh again."""
    from hosting import notify

    stale = stale_sites(now)
    stale_ids = {site.pk for site, _, _ in stale}
    StaleBackupAlert.objects.exclude(site_id__in=stale_ids).delete()
    already = set(StaleBackupAlert.objects.values_list("site_id", flat=True))
    sent = 0
    for site, newest, schedule in stale:
        if site.pk in already:
            continue
        StaleBackupAlert.objects.create(site=site)
        notify.notify(notify.stale_event(site, newest, f"{schedule.allowed_age.total_seconds() / 3600:.0f} h"))
        sent += 1
    return sent
