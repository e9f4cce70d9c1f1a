"""Servers: the list and the detail page (facts, platforms, tasks run on it, the verify button;
hosting.views.nodetasks starts it)."""
from __future__ import annotations

from typing import Any

from django.contrib.auth.decorators import login_required
from django.db.models import Count, F, Q, QuerySet
from django.http import HttpResponse
from django_htmx.http import HttpResponseClientRefresh

from hosting import access, starting
from hosting.catalogue.situation import Situation
from hosting.inputs import search_text
from hosting.models import Platform, Server, Task
from hosting.views.common import (
    AuthenticatedHttpRequest,
    new_task,
    paginate,
    render_page,
)

RECENT_TASKS = 10


@login_required
def server_list(request: AuthenticatedHttpRequest) -> HttpResponse:
    servers = access.servers(request.user)
    q = search_text(request.GET.get("q"))
    admin = access.is_admin(request.user)
    if q:
        # Host names are the provider's: a client member searches by name only.
        servers = servers.filter(Q(name__icontains=q) | (Q(hostname__icontains=q) if admin else Q(pk__in=[])))
    visible = access.platforms(request.user).values("pk")
    servers = servers.annotate(platform_count=Count(
        "platforms", filter=Q(platforms__in=visible) & ~Q(platforms__status=Platform.DELETED), distinct=True))
    context = {"page": paginate(servers.order_by("name"), request.GET), "q": q, "is_admin": admin}
    return render_page(request, "servers/list.html", context, parts=("results",))


def latest_on_server(tasks: QuerySet[Task], server: Server) -> QuerySet[Task]:
    """SERVER's tasks, newest first. Compared as `server_id + 0` so that the database walks the
    created_at index from the newest end and stops after a page, instead of taking the
    (server, state) index and sorting every task the server ever ran (a third of 200,000 took
    90 ms on SQLite). An index on (server, -created_at) would make this unnecessary."""
    return (tasks.annotate(on_server=F("server_id") + 0).filter(on_server=server.pk)
            .select_related("created_by").order_by("-created_at", "-id"))


def work_context(user: Any, server: Server, **extra: Any) -> dict[str, Any]:
    situation = Situation(user, server)
    return {
        "server": server, "active": situation.active, "conflict": situation.conflict,
        "buttons": starting.buttons(user, situation),
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
    context["is_admin"] = access.is_admin(request.user)
    return render_page(request, "servers/detail.html", context, parts=("work",))
