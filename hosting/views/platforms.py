"""Platforms: the list (search, filters, pages), the detail page (facts, its sites, its tasks, a
button for every platform task type; hosting.views.nodetasks starts them)."""
from __future__ import annotations

from typing import Any

from django.contrib.auth.decorators import login_required
from django.db.models import Count, Q
from django.http import HttpResponse
from django_htmx.http import HttpResponseClientRefresh

from hosting import access, starting
from hosting.catalogue.situation import Situation
from hosting.createforms import may_create_sites
from hosting.inputs import search_text
from hosting.models import MigrationBatch, Platform, Site
from hosting.views.common import (
    AuthenticatedHttpRequest,
    int_param,
    new_task,
    paginate,
    render_page,
)

RECENT_TASKS = 10
SITES_SHOWN = 25


@login_required
def platform_list(request: AuthenticatedHttpRequest) -> HttpResponse:
    user = request.user
    platforms = access.platforms(user).select_related("server")
    q = search_text(request.GET.get("q"))
    status = request.GET.get("status", "")
    server = int_param(request.GET, "server")
    if q:
        # A client member knows platforms by name and version: their paths are not theirs to probe.
        by_path = Q(path__icontains=q) if access.is_admin(user) else Q(pk__in=[])
        platforms = platforms.filter(Q(name__icontains=q) | by_path)
    if status in dict(Platform.STATUSES):
        platforms = platforms.filter(status=status)
    if server:
        platforms = platforms.filter(server_id=server)
    page = paginate(platforms.order_by("name"), request.GET)
    # Live sites of the shown platforms only (a member counts only their own), in one grouped
    # query through the (platform, status) index: a COUNT joined into the list's query grouped
    # all 50,000 sites before the page was cut (78 ms on PostgreSQL, 113 ms for a member).
    sites = Site.objects.filter(platform_id__in=[p.pk for p in page.rows]).exclude(status=Site.DELETED)
    if not access.is_admin(user):
        sites = sites.filter(client_id__in=access.client_ids(user))
    counts = dict(sites.values("platform_id").annotate(n=Count("id")).values_list("platform_id", "n"))
    for platform in page.rows:
        platform.site_count = counts.get(platform.pk, 0)
    context = {
        "page": page,
        "q": q, "status": status, "server": server,
        "statuses": [s for s in Platform.STATUSES if s[0] != Platform.DELETED],
        "servers": list(access.servers(user).order_by("name").values_list("pk", "name")),
        "is_admin": access.is_admin(user),
    }
    return render_page(request, "platforms/list.html", context, parts=("results",))


def work_context(user: Any, platform: Platform, **extra: Any) -> dict[str, Any]:
    situation = Situation(user, platform)
    return {
        "platform": platform, "active": situation.active, "live_sites": situation.live_sites,
        "conflict": situation.conflict,
        "buttons": starting.buttons(user, situation),
        # The platform's own tasks and its sites' (the index on (platform, created_at) serves both).
        "tasks": access.tasks(user).filter(platform=platform).select_related("created_by")[:RECENT_TASKS],
        **extra,
    }


@login_required
def platform_detail(request: AuthenticatedHttpRequest, platform_id: int) -> HttpResponse:
    platform = access.access_platform(request.user, platform_id)
    context = work_context(request.user, platform, new=new_task(request))
    if request.htmx and request.GET.get("watch") and context["active"] is None:
        return HttpResponseClientRefresh()  # the watched task ended: read the whole page again
    sites = access.sites(request.user).filter(platform=platform).select_related("client").order_by("domain")
    context["sites"] = sites[:SITES_SHOWN]
    context["sites_more"] = context["live_sites"] > SITES_SHOWN
    context["is_admin"] = access.is_admin(request.user)
    if context["is_admin"] and platform.webhook_secret:
        from django.conf import settings
        from django.urls import reverse

        context["webhook_url"] = settings.HARBORMASTER_BASE_URL + reverse("platform-webhook", args=[platform.pk])
    if context["is_admin"]:
        context["batches"] = MigrationBatch.objects.filter(source=platform).select_related("target")[:5]
    context["may_create"] = platform.status == Platform.ENABLED and may_create_sites(request.user)
    return render_page(request, "platforms/detail.html", context, parts=("work",))
