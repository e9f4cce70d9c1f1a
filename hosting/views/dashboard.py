from __future__ import annotations

from datetime import timedelta

from django.contrib.auth.decorators import login_required
from django.db.models import Count, Min
from django.http import HttpRequest, HttpResponse
from django.shortcuts import render
from django.utils import timezone

from hosting import access
from hosting.models import Task


@login_required
def dashboard(request: HttpRequest) -> HttpResponse:
    tasks = access.tasks(request.user)
    now = timezone.now()
    by_state = dict(tasks.filter(state__in=Task.ACTIVE).values_list("state").annotate(n=Count("id")))
    oldest = tasks.filter(state=Task.QUEUED).aggregate(m=Min("created_at"))["m"]
    context = {
        "queued": by_state.get(Task.QUEUED, 0),
        "running": by_state.get(Task.RUNNING, 0),
        "paused": by_state.get(Task.PAUSED, 0),
        "oldest_queued": oldest,
        "failed_24h": tasks.filter(state=Task.FAILED, finished_at__gte=now - timedelta(hours=24)).count(),
        "recent": tasks.select_related("created_by")[:15],
        "platforms": access.platforms(request.user).select_related("server")[:20],
    }
    return render(request, "dashboard.html", context)
