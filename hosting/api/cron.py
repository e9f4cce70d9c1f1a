"""A site's cron in the API (hosting.cron): GET /sites/{id}/cron (interval, last run, failures in
a row, next run, the recent compact runs) and POST /sites/{id}/cron {"interval": minutes | 0 |
null} (who may start a cron run on the site may set it). Another client's site is 404."""
from __future__ import annotations

from datetime import datetime

from django.core.exceptions import PermissionDenied
from django.http import HttpRequest
from django.utils import timezone
from ninja import Router, Schema

from hosting import access, cron, starting
from hosting.api.common import Id, responses
from hosting.models import CronRun, Site, SiteCron

router = Router()
HISTORY = 20


class CronRunOut(Schema):
    started_at: datetime
    duration: float
    outcome: str
    summary: str
    log: str


class SiteCronOut(Schema):
    site: int
    interval: int             # minutes in effect; 0: off
    own_interval: int | None  # the site's own setting; null: the default
    last_started_at: datetime | None
    last_outcome: str
    last_duration: float | None
    failures: int             # failed runs in a row
    next_run: datetime | None
    runs: list[CronRunOut]


class SiteCronIn(Schema):
    interval: int | str | None = None  # minutes, 0 for off, null or "default" for the default


def cron_out(site: Site) -> dict:
    state = SiteCron.objects.filter(site=site).first()
    minutes = cron.interval_of(state)
    runs = CronRun.objects.filter(site=site).order_by("-started_at", "-pk")[:HISTORY]
    return {
        "site": site.pk, "interval": minutes, "own_interval": state.interval if state else None,
        "last_started_at": state.last_started_at if state else None,
        "last_outcome": state.last_outcome if state else "", "last_duration": state.last_duration if state else None,
        "failures": state.failures if state else 0,
        "next_run": cron.next_run(site.pk, minutes, timezone.now()) if site.status == Site.ENABLED else None,
        "runs": [{"started_at": r.started_at, "duration": r.duration, "outcome": r.outcome, "summary": r.summary,
                  "log": r.log} for r in runs],
    }


@router.get("/sites/{site_id}/cron", response=responses(SiteCronOut), tags=["sites"])
def get_site_cron(request: HttpRequest, site_id: Id):
    """The site's cron: interval, last run, failures in a row, next run and the recent runs (each
    failed run with the tail of its log)."""
    return cron_out(access.access_site(request.user, site_id))


@router.post("/sites/{site_id}/cron", response=responses(SiteCronOut), tags=["sites"])
def set_site_cron(request: HttpRequest, site_id: Id, payload: SiteCronIn):
    """Set the site's cron interval: minutes (at least the administrator's minimum), 0 for off,
    null for the default."""
    site = access.access_site(request.user, site_id)
    if not starting.may_start(request.user, site, cron.KIND):
        raise PermissionDenied("You may not change this site's cron.")
    try:
        minutes = cron.parse_interval(payload.interval)
    except ValueError as exc:
        from hosting.api import error

        return error(request, 400, "bad_input", str(exc))
    cron.set_interval(site, minutes, by=request.user)
    return cron_out(site)
