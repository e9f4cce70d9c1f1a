"""Certificate renewal, and the alarms of certificates about to expire.

django-q2's scheduler calls `run_due_renewals` every hour (hosting.schedules.SCHEDULES). It
queues a site.https task (no arguments: the site's recorded mode is applied, and the task
obtains a new certificate because the current one is within RENEW_DAYS of its end) through
hosting.starting.start_task, as the scheduler: refusals, locks and the engine's per-server and
per-client caps apply, so many renewals do not all run at once. A failed renewal is tried again
after a backoff that doubles with each failure (1 h, 2 h, ... at most a day), and fails the
task, which notifies as every failed task does; the dashboard lists certificates expiring within
EXPIRING_DAYS and `ping` fails while one expires within ALARM_DAYS."""
from __future__ import annotations

import logging
from datetime import datetime, timedelta

from django.db.models import QuerySet
from django.utils import timezone

from hosting.actor import SCHEDULER
from hosting.models import Certificate, Site, Task
from hosting.operations.site_https import RENEW_DAYS

EXPIRING_DAYS = 14  # the dashboard lists these
ALARM_DAYS = 7  # `ping` (hosting.health) fails while one of these exists
PER_RUN = 50  # renewals queued per hourly run: 150 per 3 h, half of Let's Encrypt's 300 new orders
MAX_BACKOFF = timedelta(hours=24)
_logger = logging.getLogger("hosting.renewals")


def live_certificates() -> QuerySet[Certificate]:
    """Certificates a live site serves (HTTPS on or required)."""
    return (Certificate.objects.exclude(path="").exclude(not_after__isnull=True)
            .filter(site__status__in=(Site.ENABLED, Site.DISABLED))
            .exclude(site__https_mode=Site.HTTPS_OFF).select_related("site"))


def expiring(days: float, now: datetime | None = None) -> QuerySet[Certificate]:
    return live_certificates().filter(not_after__lte=(now or timezone.now()) + timedelta(days=days)) \
        .order_by("not_after")


def backoff(failures: int) -> timedelta:
    return min(MAX_BACKOFF, timedelta(hours=2 ** max(0, failures - 1))) if failures else timedelta(0)


def run_due_renewals(now: datetime | None = None) -> list[int]:
    """Queue site.https for every live certificate within RENEW_DAYS of its end whose site has
    no https task active and whose last failure's backoff has passed. Returns the task ids."""
    from hosting.refused import TaskRefused
    from hosting.starting import ArgumentsInvalid, start_task

    now = now or timezone.now()
    due = list(expiring(RENEW_DAYS, now)[: PER_RUN * 2])
    busy = set(Task.objects.filter(site_id__in=[c.site_id for c in due], kind="https", state__in=Task.ACTIVE)
               .values_list("site_id", flat=True))
    queued: list[int] = []
    for cert in due:
        if len(queued) >= PER_RUN:
            break
        if cert.site_id in busy:
            continue
        if cert.failures and cert.last_attempt_at and now - cert.last_attempt_at < backoff(cert.failures):
            continue
        try:
            task = start_task(SCHEDULER, cert.site, "https", {"mode": cert.site.https_mode,
                                                                "hsts": cert.site.https_hsts})
        except (TaskRefused, ArgumentsInvalid, ValueError) as exc:
            _logger.warning("renewal of %s's certificate refused: %s", cert.site.domain, exc)
            continue
        queued.append(task.pk)
    return queued
