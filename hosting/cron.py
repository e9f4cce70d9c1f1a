"""Cron for every site: which sites are due, queuing their runs, and folding finished runs into
compact records (hosting.models.cron). django-q2's scheduler calls `tick` every minute.

- Interval: the site's own (SiteCron.interval, minutes; 0 is off), else HARBORMASTER_CRON_INTERVAL;
  never shorter than HARBORMASTER_CRON_MIN_INTERVAL.
- Spread: each site runs at a stable offset inside its interval (a hash of its id), so 1,000
  hourly sites start about 17 a minute, not all at :00.
- Skipped: sites that are not enabled (disabled, queued, failed, deleted), that need attention,
  that a task holds (an active task or a lock on the site); they run at the next tick they are free.
- Runs are site.cron tasks started through hosting.starting (as the scheduler), so refusals,
  locks, caps, deadline, heartbeat and the reaper all apply; the engine runs at most
  HARBORMASTER_CRON_CONCURRENCY cron runs per server at once (hosting.engine.fairness).
- A finished scheduled run becomes a CronRun row (its log kept only when it failed) and its Task
  row is deleted: the task list never pages through 240,000 cron runs a day.
- HARBORMASTER_CRON_FAILURES failed runs in a row notify once (cron.failing), like a failed task.
- Audit: a run the scheduler starts writes no `task.queued` event; each tick that queued or
  folded a failed run writes one `cron.tick` event (counts, the failed sites), and a failure
  streak one `cron.failing` event on the site. Runs started by a person are audited as tasks."""
from __future__ import annotations

import hashlib
import logging
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from django.conf import settings
from django.db import transaction
from django.db.models import QuerySet
from django.utils import timezone

from hosting.actor import SCHEDULER, operator_or_user
from hosting.models import CronRun, Lock, Site, SiteCron, Task

KIND = "cron"
SCHEDULED = "scheduled"
LOG_TAIL = 200  # lines of a failed run's log kept in its CronRun
AUDIT_FAILED_SITES = 50  # domains of failed runs named in a tick's audit event
_logger = logging.getLogger("hosting.cron")


def interval_of(cron: SiteCron | None) -> int:
    """Minutes between runs for a site with CRON (None: no row, the default); 0 is off."""
    own = cron.interval if cron is not None else None
    minutes = settings.HARBORMASTER_CRON_INTERVAL if own is None else own
    return 0 if minutes == 0 else max(minutes, settings.HARBORMASTER_CRON_MIN_INTERVAL)


def parse_interval(value: object) -> int | None:
    """A site's interval from untrusted input: minutes (0 is off), or "default"/""/None (the
    setting). Raises ValueError with the reason."""
    if value is None or str(value).strip().lower() in ("", "default"):
        return None
    try:
        minutes = int(str(value).strip())
    except ValueError:
        raise ValueError(f"The cron interval must be a number of minutes, 0 or 'default', not {value!r}.") from None
    least = settings.HARBORMASTER_CRON_MIN_INTERVAL
    if minutes != 0 and not least <= minutes <= 10080:
        raise ValueError(f"The cron interval must be 0 (off) or between {least} and 10080 minutes "
                         "(the administrator's minimum and a week).")
    return minutes


def set_interval(site: Site, minutes: int | None, *, by: object) -> SiteCron:
    """Set SITE's interval (None: the default), audited."""
    from hosting import audit

    with transaction.atomic():
        cron, _ = SiteCron.objects.select_for_update().get_or_create(site=site)
        before = cron.interval
        cron.interval = minutes
        cron.save(update_fields=["interval"])
        audit.record(by, "site.cron_interval", site, before={"interval": before},  # type: ignore[arg-type]
                     after={"interval": minutes})
    return cron


def offset(site_id: int, period: timedelta) -> timedelta:
    """The site's stable place inside PERIOD."""
    digest = hashlib.sha256(f"harbormaster-cron:{site_id}".encode()).digest()
    return timedelta(seconds=int.from_bytes(digest[:8], "big") % max(1, int(period.total_seconds())))


def slot_start(site_id: int, minutes: int, now: datetime) -> datetime:
    """The start of the site's current slot: the last moment <= NOW at its offset."""
    period = timedelta(minutes=minutes)
    epoch = datetime(2000, 1, 1, tzinfo=now.tzinfo) + offset(site_id, period)
    return epoch + ((now - epoch) // period) * period


def next_run(site_id: int, minutes: int, now: datetime) -> datetime | None:
    return None if minutes == 0 else slot_start(site_id, minutes, now) + timedelta(minutes=minutes)


def is_due(site_id: int, cron: SiteCron | None, now: datetime, window: timedelta = timedelta(minutes=2)) -> bool:
    """Due when the current slot began after the last queued run. A site never run waits for its
    slot to come round (within WINDOW), so a thousand sites never start at once."""
    minutes = interval_of(cron)
    if minutes == 0:
        return False
    start = slot_start(site_id, minutes, now)
    last = cron.queued_at if cron is not None else None
    if last is None:
        return now - start < window
    return last < start


def candidates(sites: QuerySet[Site] | None = None) -> QuerySet[Site]:
    qs = sites if sites is not None else Site.objects.all()
    return qs.filter(status=Site.ENABLED, attention="")


def busy_sites(site_ids: list[int]) -> set[int]:
    active = set(Task.objects.filter(site_id__in=site_ids, state__in=Task.ACTIVE).values_list("site_id", flat=True))
    locked = {int(k.split(":", 1)[1]) for k in Lock.objects.filter(
        key__in=[f"site:{pk}" for pk in site_ids]).values_list("key", flat=True)}
    return {pk for pk in active | locked if pk is not None}


@dataclass
class TickResult:
    queued: list[int]
    skipped_busy: int
    folded: int
    failed: list[str] = field(default_factory=list)  # domains whose folded run failed


def tick(now: datetime | None = None) -> TickResult:
    """Fold finished runs, then queue a run for every due, free site; one audit event says what
    the tick did (the runs themselves write none, see `start`)."""
    now = now or timezone.now()
    folded, failed = _fold()
    due = _due_sites(now)
    busy = busy_sites([s.pk for s in due])
    queued = [pk for site in due if site.pk not in busy and (pk := start(site, now)) is not None]
    result = TickResult(queued, len(busy), folded, failed)
    if queued or failed:
        _audit_tick(result)
    return result


def _due_sites(now: datetime, chunk: int = 500) -> list[Site]:
    """The due sites, read whole only once found due: the scan of every site reads three columns
    of SiteCron and the ids of the candidates, not 10,000 sites with their platform, server and
    client each minute."""
    crons = {pk: SiteCron(site_id=pk, interval=interval, queued_at=queued)
             for pk, interval, queued in SiteCron.objects.values_list("site_id", "interval", "queued_at")}
    ids = [pk for pk in candidates().values_list("pk", flat=True) if is_due(pk, crons.get(pk), now)]
    related = candidates().select_related("platform__server", "client").order_by("pk")
    return [site for at in range(0, len(ids), chunk) for site in related.filter(pk__in=ids[at:at + chunk])]


def _audit_tick(result: TickResult) -> None:
    from hosting import audit

    audit.record(SCHEDULER, "cron.tick", after={
        "queued": len(result.queued), "skipped_busy": result.skipped_busy, "folded": result.folded,
        "failed": len(result.failed), "failed_sites": result.failed[:AUDIT_FAILED_SITES]},
        detail=f"Queued {len(result.queued)} scheduled cron runs; {len(result.failed)} of the "
               f"{result.folded} finished runs failed.")


def start(site: Site, now: datetime | None = None, *, by=SCHEDULER) -> int | None:
    """Queue a scheduled cron run of SITE; None when it is refused (logged). A run the scheduler
    starts writes no `task.queued` event (the tick's `cron.tick` counts them); one an operator
    starts (`manage.py cron run --site`) is audited as any task."""
    from hosting.refused import TaskRefused
    from hosting.starting import ArgumentsInvalid, start_task

    try:
        with transaction.atomic():
            task = start_task(by, site, KIND, {SCHEDULED: True}, audited=operator_or_user(by) != SCHEDULER)
            SiteCron.objects.update_or_create(site=site, defaults={"queued_at": now or timezone.now()})
    except (TaskRefused, ArgumentsInvalid, ValueError) as exc:
        _logger.info("cron of %s not queued: %s", site.domain, exc)
        return None
    return task.pk


def scheduled_runs() -> QuerySet[Task]:
    return Task.objects.filter(target_type="site", kind=KIND, args__scheduled=True)


def fold(limit: int = 2000) -> int:
    """Turn finished scheduled runs into CronRun rows and delete their tasks. Returns how many."""
    return _fold(limit)[0]


def _fold(limit: int = 2000, batch: int = 200) -> tuple[int, list[str]]:
    """Fold up to LIMIT finished runs, BATCH to a transaction: their tasks are deleted in one
    statement per related table (steps, log, locks, watch, backups' reference), not one set per
    run. A run another folder holds (PostgreSQL: a row lock; SQLite: IMMEDIATE transactions run
    one at a time) is left to it, so no run is recorded twice."""
    done, failed = 0, []
    while done < limit:
        with transaction.atomic():
            tasks = list(scheduled_runs().filter(state__in=Task.FINAL).select_related("site")
                         .select_for_update(skip_locked=True, of=("self",)).order_by("pk")[:min(batch, limit - done)])
            if not tasks:
                break
            # Read before the delete takes the logs with it.
            tails = {t.pk: _log_tail(t) for t in tasks if t.state not in (Task.SUCCEEDED, Task.WARNING)}
            Task.objects.filter(pk__in=[t.pk for t in tasks]).delete()
            for task in tasks:
                if task.site is not None:
                    record(task, tails.get(task.pk, ""))
        done += len(tasks)
        failed += [t.target_label for t in tasks if t.pk in tails]
    return done, failed


def _log_tail(task: Task) -> str:
    lines = list(task.log.order_by("-position").values_list("line", flat=True)[:LOG_TAIL])
    return "\n".join(reversed(lines))


def record(task: Task, tail: str = "") -> CronRun:
    """The compact record of TASK's run, the site's last run and failure streak, and the streak's
    notification."""
    assert task.site is not None
    ok = task.state in (Task.SUCCEEDED, Task.WARNING)
    started = task.started_at or task.created_at
    duration = (task.finished_at - started).total_seconds() if task.finished_at else 0.0
    run = CronRun.objects.create(site=task.site, started_at=started, duration=duration,
                                 outcome=SiteCron.OK if ok else SiteCron.FAILED, summary=task.summary[:500],
                                 log="" if ok else tail, task_id_was=task.pk)
    cron, _ = SiteCron.objects.select_for_update().get_or_create(site=task.site)
    cron.last_started_at, cron.last_duration, cron.last_outcome = started, duration, run.outcome
    cron.failures = 0 if ok else cron.failures + 1
    notify_now = not ok and cron.failures >= settings.HARBORMASTER_CRON_FAILURES and not cron.alerted
    cron.alerted = False if ok else (cron.alerted or notify_now)
    cron.save()
    keep = CronRun.objects.filter(site=task.site).order_by("-started_at", "-pk").values_list("pk", flat=True)
    old = list(keep[settings.HARBORMASTER_CRON_HISTORY:])
    if old:
        CronRun.objects.filter(pk__in=old).delete()
    if notify_now:
        from hosting import audit

        audit.record(SCHEDULER, "cron.failing", task.site, after={"failures": cron.failures},
                     detail=run.summary)
        site, failures = task.site, cron.failures
        transaction.on_commit(lambda: _notify(site, failures, run.summary))
    return run


def _notify(site: Site, failures: int, summary: str) -> None:
    from hosting import notify

    try:
        notify.notify(notify.cron_event(site, failures, summary))
    except Exception:  # noqa: BLE001 - delivery is best effort (hosting.notify)
        _logger.exception("could not notify the failing cron of %s", site.domain)


def failing(sites: QuerySet[Site] | None = None) -> QuerySet[SiteCron]:
    """Sites whose cron failed HARBORMASTER_CRON_FAILURES times in a row (the dashboard's list)."""
    qs = SiteCron.objects.filter(failures__gte=settings.HARBORMASTER_CRON_FAILURES).select_related("site")
    if sites is not None:
        qs = qs.filter(site__in=sites)
    return qs.exclude(site__status=Site.DELETED).order_by("-failures")
