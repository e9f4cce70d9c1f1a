"""Platforms: the list (search, filters, pages), the detail page (facts, its sites, its tasks, a
button for every platform task type) and the page that queues a platform task."""
from __future__ import annotations

from typing import Any

from django.contrib.auth.decorators import login_required
from django.db.models import Count, Q
from django.http import Http404, HttpResponse
from django.shortcuts import redirect, render
from django_htmx.http import HttpResponseClientRefresh

from hosting import access, starting
from hosting.inputs import search_text
from hosting.models import Platform, Site
from hosting.tasktypes import TYPES
from hosting.views import availability
from hosting.views.common import AuthenticatedHttpRequest, int_param, new_task, paginate, render_page
from hosting.views.queueing import queued_response, start_or_refuse

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
        platforms = platforms.filter(Q(name__icontains=q) | Q(path__icontains=q))
    if status in dict(Platform.STATUSES):
        platforms = platforms.filter(status=status)
    if server:
        platforms = platforms.filter(server_id=server)
    # Live sites per platform, counted in the same query (a member counts only their own).
    live = ~Q(sites__status=Site.DELETED)
    if not access.is_admin(user):
        live &= Q(sites__client_id__in=access.client_ids(user))
    platforms = platforms.annotate(site_count=Count("sites", filter=live, distinct=True))
    context = {
        "page": paginate(platforms.order_by("name"), request.GET),
        "q": q, "status": status, "server": server,
        "statuses": [s for s in Platform.STATUSES if s[0] != Platform.DELETED],
        "servers": list(access.servers(user).order_by("name").values_list("pk", "name")),
    }
    return render_page(request, "platforms/list.html", context, parts=("results",))


def work_context(user, platform: Platform, **extra: Any) -> dict[str, Any]:
    active = availability.active_task(user, platform)
    # What the user sees: a member counts only their own sites on a shared platform. Only
    # admins get platform buttons, and they see every site, so "delete: N sites live" counts all.
    live = access.sites(user).filter(platform=platform).count()

    def refuse(kind: str) -> str:
        return availability.platform_refusal_for(platform, kind, active=active, live_sites=live)

    return {
        "platform": platform, "active": active, "live_sites": live,
        "conflict": availability.conflict(active, "platform"),
        "buttons": availability.buttons(user, platform, refuse),
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
    return render_page(request, "platforms/detail.html", context, parts=("work",))


@login_required
def platform_task(request: AuthenticatedHttpRequest, platform_id: int, kind: str) -> HttpResponse:
    if f"platform.{kind}" not in TYPES:
        raise Http404("No such task type.")
    platform = access.platform_for_action(request.user, platform_id, kind)
    button = next(b for b in work_context(request.user, platform)["buttons"] if b.kind == kind)
    data = request.POST if request.method == "POST" else None
    form = starting.task_form(request.user, platform, kind, data) if button.danger else None
    refused = ""
    if request.method == "POST":
        task, refused, form = start_or_refuse(request, platform, kind, form)
        if task is not None:
            if request.htmx and not button.page:
                return render(request, "platforms/detail.html#work", work_context(request.user, platform, new=task))
            return queued_response(request, task)
        if request.htmx and not button.page:
            return render(request, "platforms/detail.html#work", work_context(request.user, platform, refused=refused))
        if refused and form is not None:
            form.add_error(None, refused)
    elif not button.page:
        return redirect("platform-detail", platform_id=platform.pk)
    context = {"platform": platform, "button": button, "form": form, "type": TYPES[f"platform.{kind}"]}
    return render(request, "platforms/task.html", context, status=409 if refused else 200)
