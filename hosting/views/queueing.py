"""Queuing a task from a page: the one call into hosting.actions, and where the browser goes next."""
from __future__ import annotations

from typing import Any

from django.shortcuts import redirect
from django.http import HttpResponse

from hosting.actions import TaskRefused, queue_task
from hosting.models import Platform, Server, Site, Task
from hosting.views.common import AuthenticatedHttpRequest, client_address


def queue_or_refuse(request: AuthenticatedHttpRequest, target: Site | Platform | Server, kind: str,
                    args: dict[str, Any]) -> tuple[Task | None, str]:
    """Queue KIND on TARGET for the user; or (None, why) when hosting.actions refuses (a quota)."""
    try:
        return queue_task(target, kind, by=request.user, args=args, address=client_address(request)), ""
    except TaskRefused as exc:
        return None, str(exc)


def queued_response(request: AuthenticatedHttpRequest, task: Task) -> HttpResponse:
    """After a form: to the new task's page, where its log streams."""
    return redirect("task-detail", task_id=task.pk)
