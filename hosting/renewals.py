"""Certificate renewal, and the alarms of certificates about to expire.

django-q2's scheduler calls `run_due_renewals` every hour (hosting.schedules.SCHEDULES). It
queues a site.https task (with the site's recorded mode; the task obtains a new certificate
because the current one is within RENEW_DAYS of its end, or because the site has none: a clone
carries its original's mode and gets its own certificate this way) through
hosting.starting.start_task, as the scheduler: refusals, locks and the engine's per-server and
per-client caps apply, so many renewals do not all run at once. A failed renewal is tried again
after a backoff that doubles with each failure (1 h, 2 h, ... at most a day), and fails the
task, which notifies as every failed task does; when the ACME server limited the rate (429,
rateLimited, Retry-After) nothing is tried before the time it gave (Certificate.retry_not_before).
Uploaded certificates are never renewed here, only listed and alarmed about: the dashboard
lists certificates expiring within
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


def without_certificate() -> QuerySet[Site]:
    """Live sites whose mode wants HTTPS but that have no certificate yet: a clone (it carries
    its original's mode, not its certificate), or one whose certificate files were lost."""
    return (Site.objects.filter(status__in=(Site.ENABLED, Site.DISABLED)).exclude(https_mode=Site.HTTPS_OFF)
            .exclude(certificate__path__gt="").order_by("pk"))


def _tidy_uploads() -> None:
    """Staged uploads older than a day belong to no task that will still run: removed."""
    from hosting.operations import resources
    from provision import uploaded

    try:
        uploaded.tidy(resources.tls_dir())
    except OSError as exc:
        _logger.warning("staged certificate uploads not tidied: %s", exc)


def run_due_renewals(now: datetime | None = None) -> list[int]:
    """Queue site.https for every live certificate within RENEW_DAYS of its end, and for every
    site that wants HTTPS and has no certificate, unless the site has an https task active or its
    last failure's backoff has not passed. Returns the task ids."""
    from hosting.refused import TaskRefused
    from hosting.starting import ArgumentsInvalid, start_task

    now = now or timezone.now()
    # An uploaded certificate is the user's to replace: listed and alarmed about, never renewed.
    due = [c.site for c in expiring(RENEW_DAYS, now).exclude(source="uploaded")[: PER_RUN * 2]]
    due += list(without_certificate()[: PER_RUN * 2])
    attempts = {c.site_id: c for c in Certificate.objects.filter(site__in=due)}
    busy = set(Task.objects.filter(site_id__in=[s.pk for s in due], kind="https", state__in=Task.ACTIVE)
               .values_list("site_id", flat=True))
    queued: list[int] = []
    for site in due:
        if len(queued) >= PER_RUN:
            break
        cert = attempts.get(site.pk)
        if site.pk in busy or (cert and cert.failures and cert.last_attempt_at
                               and now - cert.last_attempt_at < backoff(cert.failures)):
            continue
        if cert and cert.retry_not_before and now < cert.retry_not_before:
            continue  # the ACME server's rate limit (Retry-After) has not passed
        try:
            task = start_task(SCHEDULER, site, "https", {"mode": site.https_mode, "hsts": site.https_hsts})
        except (TaskRefused, ArgumentsInvalid, ValueError) as exc:
            _logger.warning("renewal of %s's certificate refused: %s", site.domain, exc)
            continue
        busy.add(site.pk)
        queued.append(task.pk)
    return queued
