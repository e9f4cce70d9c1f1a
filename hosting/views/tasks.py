"""Tasks: the filtered list with its CSV export and bulk cancel, and the task page (steps, the
live log, owner and heartbeat, the controls of DESIGN §4.9)."""
from __future__ import annotations

from typing import Any

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.exceptions import PermissionDenied
from django.http import Http404, HttpResponse, StreamingHttpResponse
from django.shortcuts import redirect, render
from django.urls import reverse
from django.utils import timezone
from django.views.decorators.http import require_POST

from hosting import access, controls, csvsafe, shown, starting
from hosting.forms import TaskFilterForm
from hosting.inputs import parse_int
from hosting.machine import TASK_CSV_FIELDS, iso, task_csv_rows
from hosting.models import Site, Task
from hosting.refused import TaskRefused
from hosting.views.common import (
    AuthenticatedHttpRequest,
    client_address,
    paginate,
    render_page,
)
from hosting.views.tasklive import live_context

BULK_LIMIT = 500


def _filtered(request: AuthenticatedHttpRequest) -> tuple[TaskFilterForm, Any]:
    clients = list(access.clients(request.user).order_by("name").values_list("pk", "name"))
    form = TaskFilterForm(request.GET or None, clients=clients)
    return form, form.apply(access.tasks(request.user))


class CancelPermission:
    """Which listed tasks the user may cancel, by the engine's rule (controls.may_control) with
    the current clients of the listed tasks' sites read in one query: a page of 50 tasks must
    not cost 50 queries."""

    def __init__(self, user: Any, tasks: list[Task]) -> None:
        self.user = user
        site_ids = {t.site_id for t in tasks if t.site_id and t.state in (Task.QUEUED, Task.RUNNING)}
        self.clients = dict(Site.objects.filter(pk__in=site_ids).values_list("pk", "client_id")) if site_ids else {}

    def __call__(self, task: Task) -> bool:
        if task.state not in (Task.QUEUED, Task.RUNNING):
            return False
        site_id = task.site_id if task.target_type == "site" else None
        client_id = self.clients.get(site_id) if site_id is not None else None
        return controls.may_control(self.user, "cancel", task, client_id)


@login_required
def task_list(request: AuthenticatedHttpRequest) -> HttpResponse:
    form, tasks = _filtered(request)
    page = paginate(tasks.select_related("created_by"), request.GET)
    may_cancel = CancelPermission(request.user, page.rows)
    context = {"form": form, "page": page, "tasks": page.rows, "selectable": True,
               "cancellable": {t.pk for t in page.rows if may_cancel(t)},
               "export_query": page.query}
    return render_page(request, "tasks/list.html", context)


@login_required
def task_export(request: AuthenticatedHttpRequest) -> StreamingHttpResponse:
    """The filtered list as CSV, streamed: an export of 200,000 tasks never sits in memory."""
    _form, tasks = _filtered(request)
    response = StreamingHttpResponse(csvsafe.lines(TASK_CSV_FIELDS, task_csv_rows(tasks)),
                                     content_type="text/csv; charset=utf-8")
    stamp = timezone.now().strftime("%Y%m%d-%H%M%S")
    response["Content-Disposition"] = f'attachment; filename="tasks-{stamp}.csv"'
    return response


@login_required
@require_POST
def task_bulk_cancel(request: AuthenticatedHttpRequest) -> HttpResponse:
    ids = [pk for pk in map(parse_int, request.POST.getlist("ids")) if pk][:BULK_LIMIT]
    tasks = access.tasks(request.user).filter(pk__in=ids)
    done, refused = [], []
    for task in tasks:
        try:
            controls.cancel(task, by=request.user, address=client_address(request))
            done.append(task.pk)
        except (controls.ControlRefused, PermissionDenied) as exc:
            refused.append(f"#{task.pk}: {exc}")
    if done:
        messages.success(request, f"Cancelled or asked to stop: {', '.join(f'#{pk}' for pk in done)}.")
    for line in refused:
        messages.error(request, line)
    if not ids:
        messages.error(request, "No task was selected.")
    # Back to the list as it was filtered: only a query string is taken, never a URL.
    back = request.POST.get("back", "").lstrip("?")
    return redirect(reverse("task-list") + (f"?{back}" if back else ""))


@login_required
def task_detail(request: AuthenticatedHttpRequest, task_id: int) -> HttpResponse:
    task = access.access_task(request.user, task_id)
    return render(request, "tasks/detail.html", live_context(request, task, tail=True))


@login_required
def task_log(request: AuthenticatedHttpRequest, task_id: int) -> HttpResponse:
    """The lines after ?after=N, the poller that asks for the next ones, and the parts of the
    page that change while a task runs (out of band): what the task page polls."""
    task = access.access_task(request.user, task_id)
    return render(request, "tasks/detail.html#poll", live_context(request, task, tail=False))


@login_required
def task_log_text(request: AuthenticatedHttpRequest, task_id: int) -> StreamingHttpResponse:
    """The whole log as plain text, streamed (a long log is not shown whole on the page)."""
    task = access.access_task(request.user, task_id)
    lines = access.task_log(request.user, task).order_by("position").values_list("at", "level", "line")
    show = shown.for_user(request.user)
    body = (f"{iso(at)} {level.upper():7} {show.text(line)}\n"
            for at, level, line in lines.iterator(chunk_size=2000))
    return StreamingHttpResponse(body, content_type="text/plain; charset=utf-8")


def _confirmation(request: AuthenticatedHttpRequest, task: Task, action: str) -> Any:
    """The typed-name form a retry of a delete asks for again (None for anything else)."""
    if action != "retry" or not starting.typed_confirmation(task.target_type, task.kind) or task.target is None:
        return None
    data = request.POST if request.method == "POST" else None
    return starting.task_form(request.user, starting.current(task.target), task.kind, data)


@login_required
def task_control(request: AuthenticatedHttpRequest, task_id: int, action: str) -> HttpResponse:
    """GET: what the control will do, with its button (and, to retry a delete, the name to type).
    POST: apply it (hosting.controls checks permission and state, and records the audit
    event; a retry starts as a fresh task would, through hosting.starting)."""
    if action not in controls.TASK_CONTROLS:
        raise Http404("No such control.")
    task = access.access_task(request.user, task_id)
    if not controls.can_control(request.user, task, action):
        raise PermissionDenied(f"You may not {action} this task.")
    form = _confirmation(request, task, action)
    context = {"task": task, "action": action, "form": form, "internals": access.is_admin(request.user)}
    if request.method != "POST":
        applies = action in controls.allowed_controls(request.user, task)
        return render(request, "tasks/control.html", {**context, "applies": applies})
    try:
        if action == "retry":
            confirm = request.POST.get(starting.CONFIRM_FIELD, "") if form is not None else None
            result = controls.retry(task, by=request.user, address=client_address(request), confirm=confirm)
        else:
            result = controls.TASK_CONTROLS[action].run(task, by=request.user, address=client_address(request))
    except starting.ArgumentsInvalid as exc:
        if form is not None and starting.CONFIRM_FIELD in exc.form.errors:
            return render(request, "tasks/control.html", {**context, "form": exc.form, "applies": True}, status=400)
        messages.error(request, f"Task #{task.pk} cannot be retried as it was: {exc}")
        return redirect("task-detail", task_id=task.pk)
    except (controls.ControlRefused, TaskRefused) as exc:
        messages.error(request, str(exc))
        return redirect("task-detail", task_id=task.pk)
    if action == "retry":
        messages.success(request, f"Task #{task.pk} queued again as task #{result.pk}.")
        return redirect("task-detail", task_id=result.pk)
    if action == "cancel" and result.state == Task.RUNNING:
        # Said while the task stops: the page drops it once the task has ended (static/js/app.js).
        messages.success(request, f"Cancel requested: task #{task.pk}.", extra_tags="until-final")
    else:
        messages.success(request, f"{controls.CONTROLS[action].done}: task #{task.pk}.")
    return redirect("task-detail", task_id=task.pk)
