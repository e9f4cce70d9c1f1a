"""What the task page shows and refreshes while the task runs: state, owner and heartbeat, the
waiting reason, steps, controls, and the log lines after the last one the page has."""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from django.utils import timezone

from hosting import access, controls, shown
from hosting.engine.heartbeat import lost_before
from hosting.models import Task, TaskStep
from hosting.starting import typed_confirmation
from hosting.views.common import AuthenticatedHttpRequest, int_param

LOG_PAGE = 500


@dataclass(frozen=True)
class Line:
    position: int
    level: str
    iso: str     # for <time datetime>
    exact: str   # on hover
    clock: str   # shown
    text: str


def _lines(user: Any, task: Task, after: int | None) -> tuple[list[Line], int]:
    """AFTER given: the lines after it, oldest first. Otherwise the last page of the log (a long
    log opens at its end, where a running task writes) and how many lines come before it.

    Times are formatted here once per line: the template's date filter, three times for each of
    500 lines, cost more than the query."""
    log = access.task_log(user, task).values_list("position", "at", "level", "line")
    if after is not None:
        rows = list(log.filter(position__gt=after).order_by("position")[:LOG_PAGE])
    else:
        rows = list(log.order_by("-position")[:LOG_PAGE])[::-1]
    zone = timezone.get_current_timezone()
    show = shown.for_user(user)
    lines = []
    for position, at, level, text in rows:
        local = at.astimezone(zone)
        lines.append(Line(position, level, local.isoformat(), local.strftime("%Y-%m-%d %H:%M:%S %Z"),
                          local.strftime("%H:%M:%S"), show.text(text)))
    return lines, (lines[0].position if lines and after is None else 0)


def _steps(task: Task) -> list[dict[str, Any]]:
    now = timezone.now()
    rows = []
    for step in TaskStep.objects.filter(task=task).order_by("position"):
        end = step.finished_at or (now if step.state in (TaskStep.RUNNING, TaskStep.UNDOING) else None)
        rows.append({"step": step, "took": (end - step.started_at) if step.started_at and end else None})
    return rows


def heartbeat_stale(task: Task) -> bool:
    """The reaper's rule (3 missed beats), shown before the reaper acts on it."""
    if task.state != Task.RUNNING or task.heartbeat_at is None:
        return False
    return task.heartbeat_at < lost_before(timezone.now())


def live_context(request: AuthenticatedHttpRequest, task: Task, *, tail: bool) -> dict[str, Any]:
    # Positions start at 0: a page that has no line yet asks for those after -1.
    after = None if tail else max(-1, int_param(request.GET, "after", -1) or 0)
    lines, before = _lines(request.user, task, after)
    last = lines[-1].position if lines else (after if after is not None else -1)
    more = len(lines) == LOG_PAGE and not tail
    allowed = controls.allowed_controls(request.user, task)
    private = (task.result or {}).get("private") if isinstance(task.result, dict) else None
    # The one-time login link logs in as Drupal's admin: only the person who asked for it sees it.
    login_url = (private.get("login_url")
                 if isinstance(private, dict) and request.user.pk == task.created_by_id else None)
    return {
        "task": task, "tail": tail, "lines": lines, "last": last, "before": before, "more": more,
        "live": not task.is_final or more, "steps": _steps(task),
        "controls": [(a, a in CONFIRM_PAGES or (a == "retry" and typed_confirmation(task.target_type, task.kind)))
                     for a in allowed],
        "stale": heartbeat_stale(task), "login_url": login_url,
        "queue": task.server.queue if task.server_id and task.server else "local",
        # Worker hosts, queue names and paths are the provider's: client members do not see them.
        "internals": access.is_admin(request.user),
        "unserved": _unserved(request, task),
    }


def _unserved(request: AuthenticatedHttpRequest, task: Task) -> str:
    """Why a queued task that waits for nothing in particular does not start: no cluster serves
    its queue (hosts and pids only for administrators)."""
    if task.state != Task.QUEUED or task.waiting_reason:
        return ""
    from hosting import access, clusters

    return clusters.waiting_reason(task, internals=access.is_admin(request.user))


CONFIRM_PAGES = {"force-stop", "skip", "abort"}
