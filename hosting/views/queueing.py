"""Starting a task from a page: the one call into hosting.starting, and where the browser goes next."""
from __future__ import annotations

from typing import Any

from django.http import HttpResponse
from django.shortcuts import redirect

from hosting.models import Platform, Server, Site, Task
from hosting.refused import TaskRefused
from hosting.starting import ArgumentsInvalid, start_task
from hosting.views.common import AuthenticatedHttpRequest, client_address


def start_or_refuse(request: AuthenticatedHttpRequest, target: Site | Platform | Server, kind: str,
                    form: Any) -> tuple[Task | None, str, Any]:
    """Start KIND on TARGET for the user with the page's POST (hosting.starting: permission,
    refusal, arguments, quota). Returns (task, "", FORM); (None, why, FORM) when it cannot run
    now; or (None, "", the form with its errors) when the arguments are wrong."""
    try:
        task = start_task(request.user, target, kind, request.POST, address=client_address(request))
    except ArgumentsInvalid as exc:
        return None, "", exc.form if form is not None else None
    except TaskRefused as exc:
        return None, str(exc), form
    return task, "", form


def queued_response(request: AuthenticatedHttpRequest, task: Task) -> HttpResponse:
    """After a form: to the new task's page, where its log streams."""
    return redirect("task-detail", task_id=task.pk)
