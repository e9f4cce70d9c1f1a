"""The dashboard: queue health at a glance, what needs a human, recent tasks, sites and platforms
by status, and tasks per hour by outcome over the last day."""
from __future__ import annotations

from collections.abc import Iterable, Mapping
from datetime import datetime, timedelta
from typing import Any

from django.contrib.auth.decorators import login_required
from django.core.cache import cache
from django.db.models import Count, Min, Q, QuerySet
from django.http import HttpResponse
from django.utils import timezone

from hosting import access, clusters
from hosting.engine.heartbeat import lost_before
from hosting.models import Platform, Site, Task
from hosting.views.common import AuthenticatedHttpRequest, render_page

RECENT = 10
ATTENTION = 10
# Tasks finished in the last day were created in the last week: the bound lets the database use
# the (state, created_at) index instead of reading every final task ever (no task waits or runs
# for days: the longest deadline is hours, and the reaper settles the lost).
CREATED_WITHIN = timedelta(days=7)
FIGURES_FOR = 2  # seconds the counts and charts are reused (figures())


def queue_health(tasks: QuerySet[Task], now: datetime) -> dict[str, Any]:
    by_state = dict(tasks.filter(state__in=Task.ACTIVE).values_list("state").annotate(n=Count("id")))
    recent = tasks.filter(created_at__gte=now - CREATED_WITHIN)
    return {
        "queued": by_state.get(Task.QUEUED, 0),
        "running": by_state.get(Task.RUNNING, 0),
        "paused": by_state.get(Task.PAUSED, 0),
        "lost": tasks.filter(state=Task.RUNNING, heartbeat_at__lt=lost_before(now)).count(),
        "oldest_queued": tasks.filter(state=Task.QUEUED).aggregate(m=Min("created_at"))["m"],
        "failed_24h": recent.filter(state=Task.FAILED, finished_at__gte=now - timedelta(hours=24)).count(),
        "attention": list(
            tasks.filter(Q(state=Task.PAUSED) | Q(state=Task.RUNNING, heartbeat_at__lt=lost_before(now)))
            .select_related("created_by").order_by("created_at")[:ATTENTION]),
    }


def hourly_outcomes(tasks: QuerySet[Task], now: datetime) -> list[tuple[datetime, dict[str, int]]]:
    """(start of hour, {outcome: count}) for the 24 hours ending with the current one.

    One conditional count per hour, grouped by state: plain comparisons the database does
    itself, where truncating each row's time would call back into Python on SQLite."""
    current = timezone.localtime(now).replace(minute=0, second=0, microsecond=0)
    starts = [current - timedelta(hours=h) for h in range(23, -1, -1)]
    ends = [*starts[1:], current + timedelta(hours=1)]
    per_hour = {f"h{i}": Count("id", filter=Q(finished_at__gte=start, finished_at__lt=end))
                for i, (start, end) in enumerate(zip(starts, ends, strict=True))}
    # Mappings: the stubs know the "state" key only, not the h0..h23 counts annotated to it.
    rows: Iterable[Mapping[str, Any]] = (
        tasks.filter(state__in=Task.FINAL, created_at__gte=now - CREATED_WITHIN, finished_at__gte=starts[0])
        .order_by().values("state").annotate(**per_hour))
    counts: list[dict[str, int]] = [{} for _ in starts]
    for row in rows:
        for i in range(len(starts)):
            if row[f"h{i}"]:
                counts[i][row["state"]] = row[f"h{i}"]
    return list(zip(starts, counts, strict=True))


def by_status(qs: QuerySet[Any], choices: list[tuple[str, str]]) -> list[tuple[str, str, int]]:
    found = dict(qs.order_by().values_list("status").annotate(n=Count("id", distinct=True)))
    return [(key, label, found.get(key, 0)) for key, label in choices if key != "deleted"]


def stale_backups(user: Any, now: datetime) -> list[tuple[Site, datetime | None, Any]]:
    """Sites this user may see whose last good backup is older than their schedule allows."""
    from hosting.models import BackupSchedule
    from hosting.schedules import stale_sites

    # One query on instances without schedules, which is most of them.
    if not BackupSchedule.objects.filter(enabled=True).exists():
        return []
    visible = list(access.sites(user).values_list("pk", flat=True))
    return stale_sites(now, sites=visible)[:ATTENTION] if visible else []


def scope_key(user: Any) -> str:
    """Who sees the same figures: every admin sees all of them, a client's people their
    clients' (the figures depend on nothing else of the user)."""
    return "all" if access.is_admin(user) else "c" + ",".join(map(str, sorted(access.client_ids(user))))


def figures(user: Any, now: datetime, *, health_only: bool) -> dict[str, Any]:
    """The dashboard's counts and charts, shared for FIGURES_FOR seconds by everyone who sees
    the same tasks: each open dashboard polls its health every 5 s, and fifty people watching
    one queue need not count it fifty times. (Each panel process keeps its own copy.)"""
    key = f"hm:dashboard:{scope_key(user)}:{'health' if health_only else 'all'}"
    found = cache.get(key)
    if found is None:
        tasks = access.tasks(user)
        if health_only:
            found = queue_health(tasks, now)
            # Queues and clusters are server internals: administrators only.
            found["queues"] = clusters.overview(now) if access.is_admin(user) else None
        else:  # the health part as the polls share it
            found = {**figures(user, now, health_only=True)}
            found.update({
                "hours": hourly_outcomes(tasks, now),
                "sites_by_status": by_status(access.sites(user), Site.STATUSES),
                "sites_attention": access.sites(user).exclude(attention="").count(),
                "platforms_by_status": by_status(access.platforms(user), Platform.STATUSES),
            })
        cache.set(key, found, FIGURES_FOR)
    return found


def expiring_certificates(user: Any, now: datetime) -> list[Any]:
    """The certificates of USER's sites that expire within EXPIRING_DAYS (renewal failing)."""
    from django.db.models import Exists, OuterRef

    from hosting.renewals import EXPIRING_DAYS, expiring

    # Per expiring certificate (found by its not_after index), not `site IN (every site)`: the
    # IN list read all 50,000 sites first (52 ms on SQLite) to answer for none.
    visible = access.sites(user).filter(pk=OuterRef("site_id"))
    return list(expiring(EXPIRING_DAYS, now).filter(Exists(visible))[:20])


def offsite_status(user: Any) -> list[Any]:
    """How far behind each off-site remote USER may see is (hosting.offsite)."""
    from hosting.offsite import status

    return status(user)


@login_required
def dashboard(request: AuthenticatedHttpRequest) -> HttpResponse:
    user = request.user
    now = timezone.now()
    health_only = bool(request.htmx and request.GET.get("part") == "health")
    context = {**figures(user, now, health_only=health_only), "now": now, "internals": access.is_admin(user)}
    if health_only:
        # The poll of the health cards: nothing else of the page is needed.
        return render_page(request, "dashboard.html", context, parts=("health",))
    context.update({
        "recent": access.tasks(user).select_related("created_by")[:RECENT],
        "stale_backups": stale_backups(user, now),
        "expiring_certificates": expiring_certificates(user, now),
        "offsite": offsite_status(user),
    })
    return render_page(request, "dashboard.html", context)
