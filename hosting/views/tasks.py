from __future__ import annotations

from django.contrib.auth.decorators import login_required
from django.core.paginator import Paginator
from django.http import HttpRequest, HttpResponse
from django.shortcuts import render

from hosting import access
from hosting.models import Task

LOG_PAGE = 500


@login_required
def task_list(request: HttpRequest) -> HttpResponse:
    tasks = access.tasks(request.user).select_related("created_by")
    state = request.GET.get("state", "")
    if state in dict(Task.STATES):
        tasks = tasks.filter(state=state)
    page = Paginator(tasks, 50).get_page(request.GET.get("page"))
    return render(request, "tasks/list.html", {"page": page, "state": state, "states": Task.STATES})


@login_required
def task_detail(request: HttpRequest, task_id: int) -> HttpResponse:
    task = access.access_task(request.user, task_id)
    try:
        after = max(0, int(request.GET.get("after", "0")))
    except ValueError:
        after = 0
    lines = list(task.log.filter(position__gt=after).order_by("position")[:LOG_PAGE])
    last = lines[-1].position if lines else after
    context = {"task": task, "steps": task.steps.all(), "lines": lines, "last": last,
               "live": not task.is_final}
    if request.htmx and request.GET.get("part") == "log":
        return render(request, "tasks/detail.html#log-lines", context)
    return render(request, "tasks/detail.html", context)
