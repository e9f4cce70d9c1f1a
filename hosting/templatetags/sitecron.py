"""`{% site_cron site %}`: the cron section of a site's page (templates/cron/site.html)."""
from __future__ import annotations

from typing import Any

from django import template
from django.conf import settings
from django.utils import timezone

from hosting import cron, starting
from hosting.models import CronRun, Site, SiteCron

register = template.Library()
HISTORY_SHOWN = 10


@register.inclusion_tag("cron/site.html", takes_context=True)
def site_cron(context: dict[str, Any], site: Site) -> dict[str, Any]:
    user = context["request"].user
    state = SiteCron.objects.filter(site=site).first()
    minutes = cron.interval_of(state)
    return {
        "site": site, "state": state, "minutes": minutes,
        "own": state.interval if state is not None else None,
        "default": settings.HARBORMASTER_CRON_INTERVAL, "least": settings.HARBORMASTER_CRON_MIN_INTERVAL,
        "next": cron.next_run(site.pk, minutes, timezone.now()) if site.status == Site.ENABLED else None,
        "runs": CronRun.objects.filter(site=site).order_by("-started_at", "-pk")[:HISTORY_SHOWN],
        "streak": state is not None and state.failures >= settings.HARBORMASTER_CRON_FAILURES,
        "may_set": starting.may_start(user, site, cron.KIND), "csrf_token": context.get("csrf_token"),
    }


@register.inclusion_tag("cron/failing.html", takes_context=True)
def failing_cron(context: dict[str, Any]) -> dict[str, Any]:
    """The dashboard's list of sites (that the user sees) whose cron keeps failing."""
    from hosting import access

    sites = access.sites(context["request"].user)
    return {"failing": list(cron.failing(sites)[:50]), "least": settings.HARBORMASTER_CRON_FAILURES}
