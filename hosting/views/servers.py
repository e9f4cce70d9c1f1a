"""Servers: the list and the detail page (facts, platforms, tasks run on it, the verify button)."""
from __future__ import annotations

from typing import Any

from django.contrib.auth.decorators import login_required
from django.db.models import Count, F, Q, QuerySet
from django.http import Http404, HttpResponse
from django.shortcuts import redirect, render
from django_htmx.http import HttpResponseClientRefresh

from hosting import access
from hosting.inputs import search_text
from hosting.models import Platform, Server, Task
from hosting.tasktypes import TYPES
from hosting.views import availability
from hosting.views.common import AuthenticatedHttpRequest, new_task, paginate, render_page
from hosting.views.queueing import queued_response, start_or_refuse

RECENT_TASKS = 10


@login_required
def server_list(request: AuthenticatedHttpRequest) -> HttpResponse:
    servers = access.servers(request.user)
    q = search_text(request.GET.get("q"))
    if q:
        servers = servers.filter(Q(name__icontains=q) | Q(hostname__icontains=q))
    visible = access.platforms(request.user).values("pk")
    servers = servers.annotate(platform_count=Count(
        "platforms", filter=Q(platforms__in=visible) & ~Q(platforms__status=Platform.DELETED), distinct=True))
    context = {"page": paginate(servers.order_by("name"), request.GET), "q": q}
    return render_page(request, "servers/list.html", context, parts=("results",))


def latest_on_server(tasks: QuerySet[Task], server: Server) -> QuerySet[Task]:
    """SERVER's tasks, newest first. Compared as `server_id + 0` so that the database walks the
    created_at index from the newest end and stops after a page, instead of taking the
    (server, state) index and sorting every task the server ever ran (a third of 200,000 took
    90 ms on SQLite). An index on (server, -created_at) would make this unnecessary."""
    return (tasks.annotate(on_server=F("server_id") + 0).filter(on_server=server.pk)
            .select_related("created_by").order_by("-created_at", "-id"))


def work_context(user, server: Server, **extra: Any) -> dict[str, Any]:
    active = availability.active_task(user, server)
    return {
        "server": server, "active": active, "conflict": availability.conflict(active, "server"),
        "buttons": availability.buttons(user, server,
                                        lambda kind: availability.server_refusal(server, kind, active=active)),
        # Every task that runs on this server's workers, not only those aimed at the server.
        "tasks": latest_on_server(access.tasks(user), server)[:RECENT_TASKS],
        **extra,
    }


@login_required
def server_detail(request: AuthenticatedHttpRequest, server_id: int) -> HttpResponse:
    server = access.access_server(request.user, server_id)
    context = work_context(request.user, server, new=new_task(request))
    if request.htmx and request.GET.get("watch") and context["active"] is None:
        return HttpResponseClientRefresh()  # the watched task ended: read the whole page again
    context["platforms"] = access.platforms(request.user).filter(server=server).order_by("name")
    return render_page(request, "servers/detail.html", context, parts=("work",))


@login_required
def server_task(request: AuthenticatedHttpRequest, server_id: int, kind: str) -> HttpResponse:
    if f"server.{kind}" not in TYPES:
        raise Http404("No such task type.")
    server = access.server_for_action(request.user, server_id, kind)
    if request.method != "POST":
        return redirect("server-detail", server_id=server.pk)
    task, refused, _form = start_or_refuse(request, server, kind, None)
    if task is not None:
        if request.htmx:
            return render(request, "servers/detail.html#work", work_context(request.user, server, new=task))
        return queued_response(request, task)
    if request.htmx:
        return render(request, "servers/detail.html#work", work_context(request.user, server, refused=refused))
    return render(request, "servers/detail.html", {**work_context(request.user, server, refused=refused),
                                                   "platforms": access.platforms(request.user).filter(server=server)},
                  status=409)
