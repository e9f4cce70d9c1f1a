"""Tasks: queue one on a site, platform or server; list, detail with steps, the log after a
position, the controls of DESIGN §4.9; and the status checks and the audit trail."""
from __future__ import annotations

from datetime import datetime
from typing import Any

from django.http import Http404, HttpRequest
from ninja import Router, Schema, Status
from pydantic import BaseModel, ConfigDict

from hosting import access, clusters, controls, health, shown
from hosting.api.auth import ApiProblem
from hosting.api.common import (
    Cursor,
    Id,
    LogPosition,
    PageNumber,
    PerPage,
    address,
    page_schema,
    paged,
    responses,
)
from hosting.catalogue import TYPES, kinds_for
from hosting.machine import seconds
from hosting.models import Lock, Platform, Server, Site, Task, TaskLog, TaskStep
from hosting.starting import start_task

router = Router()
LOG_LINES = 1000


class TaskIn(BaseModel):
    """`{"type": "backup"}`. A type's arguments go beside the type or under "args" (both are
    accepted; "args" wins on a clash): clone `{"domain", "platform"}` (a platform id), migrate
    `{"platform"}`, restore `{"backup"}` (a backup id), delete `{"confirm": "<the domain>"}`
    (a platform's delete: its name)."""
    # A plain pydantic model, not a ninja Schema: a Schema reads its input through an object
    # getter that drops undeclared keys, so arguments beside the type were silently lost.
    model_config = ConfigDict(extra="allow")
    type: str
    args: dict[str, Any] = {}

    def arguments(self) -> dict[str, Any]:
        return {**(self.model_extra or {}), **self.args}


class TaskOut(Schema):
    id: int
    type: str
    target_type: str
    target: str
    site: int | None
    platform: int | None
    server: int | None
    client: int | None
    state: str
    args: dict[str, Any]
    created_by: str | None
    created_at: datetime
    started_at: datetime | None
    finished_at: datetime | None
    duration: float | None  # seconds from start to finish
    summary: str
    waiting_reason: str


class StepOut(Schema):
    position: int
    name: str
    label: str
    state: str
    started_at: datetime | None
    finished_at: datetime | None
    error: str


class TaskDetailOut(TaskOut):
    steps: list[StepOut]
    controls: list[str]
    heartbeat_at: datetime | None
    deadline_at: datetime | None
    owner_host: str
    attempt: int
    current_step: str
    cancel_requested: bool
    locks: list[str]
    retry_of: int | None


class LogLine(Schema):
    position: int
    at: datetime
    level: str
    line: str


class LogOut(Schema):
    lines: list[LogLine]
    next_after: int
    state: str
    finished: bool


def task_out(t: Task, user: Any = None) -> dict[str, Any]:
    """USER None: the command line's view (every detail)."""
    show = shown.for_user(user if user is not None else "cli")
    # Who started it as the audit trail says (the command line is no user).
    by = t.created_by_label or (t.created_by.get_username() if t.created_by is not None else None)
    return {"id": t.pk, "type": t.kind, "target_type": t.target_type, "target": t.target_label, "site": t.site_id,
            "platform": t.platform_id, "server": t.server_id, "client": t.client_id, "state": t.state,
            "args": show.data(t.args), "created_by": by,
            "created_at": t.created_at, "started_at": t.started_at, "finished_at": t.finished_at,
            "duration": seconds(t.started_at, t.finished_at), "summary": show.text(t.summary),
            "waiting_reason": show.text(t.waiting_reason)}


def detail_out(user: Any, t: Task) -> dict[str, Any]:
    """USER: a user, or the command line's trusted actor ("cli:<login>", hosting.controls)."""
    steps = TaskStep.objects.filter(task=t).order_by("position")
    # A queued task that waits for nothing in particular may wait for a queue nobody serves.
    internals = controls.is_admin(user)
    waiting = clusters.waiting_reason(t, internals=internals)
    show = shown.for_user(user)
    step_rows = [{**StepOut.from_orm(s).dict(), "error": show.text(s.error)} for s in steps]
    return {**task_out(t, user), "waiting_reason": show.text(waiting), "steps": step_rows,
            "controls": controls.allowed_controls(user, t), "heartbeat_at": t.heartbeat_at,
            # The worker's host is the provider's: client members get an empty string.
            "deadline_at": t.deadline_at, "owner_host": t.owner_host if internals else "", "attempt": t.attempt,
            "current_step": t.current_step, "cancel_requested": t.cancel_requested,
            "locks": sorted(t.locks.values_list("key", flat=True)), "retry_of": t.retry_of_id}


def task_json(user: Any, t: Task, *, detail: bool = True) -> dict[str, Any]:
    """A task exactly as GET /api/v1/tasks/{id} (DETAIL) or the task list answers it, for the
    commands' --json: the same function and schema, so there is one shape of a task."""
    schema = TaskDetailOut if detail else TaskOut
    return schema.model_validate(detail_out(user, t) if detail else task_out(t, user)).model_dump()


# --- Starting tasks -------------------------------------------------------------------------
# Through hosting.starting, as the panel's task pages and the retry control: the role rule, the
# panel's refusals (409) and its argument forms (400), the typed name of a delete.

def _kind(target_type: str, kind: str) -> str:
    if f"{target_type}.{kind}" not in TYPES:
        known = ", ".join(kinds_for(target_type))
        raise ApiProblem(f"Unknown task type {kind!r} for a {target_type}; known: {known}.")
    return kind


def _start(request: HttpRequest, target: Site | Platform | Server, kind: str, data: dict[str, Any]) -> Task:
    return start_task(request.user, target, kind, data, address=address(request))


def start_site_task(request: HttpRequest, site_id: int, kind: str, data: dict[str, Any]) -> Task:
    kind = _kind("site", kind)
    return _start(request, access.site_for_action(request.user, site_id, kind), kind, data)


@router.post("/sites/{site_id}/tasks", response=responses(TaskOut, 202), tags=["tasks"])
def create_site_task(request: HttpRequest, site_id: Id, payload: TaskIn):
    """Queue a task on the site: `{"type": "backup"}`; arguments beside the type or under
    "args" (see TaskIn). 409 when it cannot run now, with the reason."""
    return Status(202, task_out(start_site_task(request, site_id, payload.type, payload.arguments()), request.user))


@router.post("/platforms/{platform_id}/tasks", response=responses(TaskOut, 202), tags=["tasks"])
def create_platform_task(request: HttpRequest, platform_id: Id, payload: TaskIn):
    """Administrators: verify, lock, unlock, delete (`{"type": "delete", "confirm": "<name>"}`)."""
    kind = _kind("platform", payload.type)
    platform = access.platform_for_action(request.user, platform_id, kind)
    return Status(202, task_out(_start(request, platform, kind, payload.arguments()), request.user))


@router.post("/servers/{server_id}/tasks", response=responses(TaskOut, 202), tags=["tasks"])
def create_server_task(request: HttpRequest, server_id: Id, payload: TaskIn):
    """Administrators: verify."""
    kind = _kind("server", payload.type)
    server = access.server_for_action(request.user, server_id, kind)
    return Status(202, task_out(_start(request, server, kind, payload.arguments()), request.user))


# --- Reading tasks --------------------------------------------------------------------------

@router.get("/tasks", response=responses(page_schema(TaskOut)), tags=["tasks"])
def list_tasks(request: HttpRequest, state: str = "", type: str = "", site: Id | None = None,
               platform: Id | None = None, server: Id | None = None, client: Id | None = None,
               page: PageNumber = 1, per_page: PerPage = 50,
               cursor: Cursor = ""):
    qs = access.tasks(request.user).select_related("created_by")
    filters = {"state": state, "kind": type, "site_id": site, "platform_id": platform, "server_id": server,
               "client_id": client}
    qs = qs.filter(**{k: v for k, v in filters.items() if v})
    return paged(qs.order_by("-created_at", "-id"), page, per_page, cursor, lambda t: task_out(t, request.user))


@router.get("/tasks/{task_id}", response=responses(TaskDetailOut), tags=["tasks"])
def get_task(request: HttpRequest, task_id: Id):
    return detail_out(request.user, access.access_task(request.user, task_id))


@router.get("/tasks/{task_id}/log", response=responses(LogOut), tags=["tasks"])
def get_task_log(request: HttpRequest, task_id: Id, after: LogPosition = -1):
    """Lines after position AFTER (at most 1000); ask again with next_after for more."""
    return log_out(access.access_task(request.user, task_id), after, user=request.user)


def log_out(task: Task, after: int = -1, limit: int = LOG_LINES, *, user: Any = None) -> dict[str, Any]:
    """The log lines of TASK after position AFTER that USER may read (also `manage.py tasks log
    --json`, the administrators' tool: without USER, every line)."""
    log = access.task_log(user, task) if user is not None else TaskLog.objects.filter(task=task)
    lines = list(log.filter(position__gt=max(after, -1)).order_by("position")
                 .values("position", "at", "level", "line")[:limit])
    show = shown.for_user(user if user is not None else "cli")
    for line in lines:
        line["line"] = show.text(line["line"])
    return {"lines": lines, "next_after": lines[-1]["position"] if lines else max(after, -1),
            "state": task.state, "finished": task.is_final}


def _control(request: HttpRequest, task_id: int, action: str, **options: Any) -> dict[str, Any]:
    task = access.access_task(request.user, task_id)
    if not controls.can_control(request.user, task, action):
        raise access.PermissionDenied(f"You may not {action} this task.")
    result = controls.TASK_CONTROLS[action].run(task, by=request.user, address=address(request), **options)
    result.refresh_from_db()
    return detail_out(request.user, result)


def _control_endpoint(action: str):
    def endpoint(request: HttpRequest, task_id: Id):
        return _control(request, task_id, action)
    endpoint.__name__ = f"task_{action.replace('-', '_')}"
    return endpoint


def _register_controls() -> None:
    # One endpoint per control, so the schema lists each (POST /tasks/{id}/cancel, ...).
    for action in controls.TASK_CONTROLS:
        if action != "retry":
            router.post(f"/tasks/{{task_id}}/{action}", response=responses(TaskDetailOut), tags=["tasks"],
                        summary=f"{action.capitalize()} a task",
                        description="Returns the task after the control.")(_control_endpoint(action))


_register_controls()


class RetryIn(Schema):
    """To retry a delete, its target's name (domain or platform name) typed again."""
    confirm: str | None = None


@router.post("/tasks/{task_id}/retry", response=responses(TaskDetailOut), tags=["tasks"], summary="Retry a task")
def task_retry(request: HttpRequest, task_id: Id, payload: RetryIn | None = None):
    """A new task with the same type, target and arguments, started as a fresh one would be:
    the caller's role for the type on the target's current client, the refusals (409), the
    arguments checked again (400); a delete needs `{"confirm": "<domain or name>"}`. Returns
    the new task."""
    confirm = payload.confirm if payload is not None else None
    return _control(request, task_id, "retry", confirm=confirm)


# --- Locks ----------------------------------------------------------------------------------

class LockOut(Schema):
    id: int
    key: str
    task: int
    acquired_at: datetime


def _lock_out(lock: Lock) -> dict[str, Any]:
    return {"id": lock.pk, "key": lock.key, "task": lock.task_id, "acquired_at": lock.acquired_at}


def _locks(user: Any):
    # A lock is seen by whoever sees the task holding it.
    locks = Lock.objects.all()
    return locks if access.is_admin(user) else locks.filter(task__in=access.tasks(user))


@router.get("/locks", response=responses(page_schema(LockOut)), tags=["locks"])
def list_locks(request: HttpRequest, page: PageNumber = 1, per_page: PerPage = 50,
               cursor: Cursor = ""):
    return paged(_locks(request.user).order_by("acquired_at", "id"), page, per_page, cursor, _lock_out)


@router.post("/locks/{lock_id}/force-unlock", response=responses(LockOut), tags=["locks"])
def force_unlock(request: HttpRequest, lock_id: Id):
    """Administrators only: remove a lock whose holder is known to be dead (see the warning in
    the panel); the task keeps running if it was not."""
    lock = _locks(request.user).filter(pk=lock_id).first()
    if lock is None:
        raise Http404("No such lock.")
    if not controls.can_control(request.user, lock.task, "force-unlock"):
        raise access.PermissionDenied("Only administrators may force-unlock.")
    out = _lock_out(lock)  # the row is gone afterwards (and its pk with it)
    controls.force_unlock(lock.key, by=request.user, address=address(request))
    return out


# --- Status and audit -----------------------------------------------------------------------

class CheckOut(Schema):
    name: str
    ok: bool
    latency_ms: float | None
    group: str
    detail: str | None = None


class StatusOut(Schema):
    ok: bool
    checks: list[CheckOut]


@router.get("/status", response=responses(StatusOut), tags=["status"])
def status(request: HttpRequest):
    """Every health check; details (hosts, paths, errors) only for administrators."""
    checks = health.cached()
    detail = access.is_admin(request.user)
    return {"ok": all(c.ok for c in checks), "checks": [c.as_dict(detail=detail) for c in checks]}


class AuditOut(Schema):
    id: int
    at: datetime
    actor: str
    action: str
    object_type: str
    object_id: str
    object_label: str
    client: int | None
    address: str | None
    before: Any = None
    after: Any = None
    detail: str


@router.get("/audit", response=responses(page_schema(AuditOut)), tags=["audit"])
def list_audit(request: HttpRequest, client: Id | None = None, action: str = "", object_type: str = "",
               object_id: str = "", page: PageNumber = 1, per_page: PerPage = 50,
               cursor: Cursor = ""):
    qs = access.audit_events(request.user)
    filters = {"client_id": client, "action": action, "object_type": object_type, "object_id": object_id}
    qs = qs.filter(**{k: v for k, v in filters.items() if v})
    show = shown.for_user(request.user)
    return paged(qs, page, per_page, cursor, lambda e: {
        "id": e.pk, "at": e.at, "actor": e.actor_label, "action": e.action, "object_type": e.object_type,
        "object_id": e.object_id, "object_label": e.object_label, "client": e.client_id, "address": e.address,
        "before": show.data(e.before), "after": show.data(e.after), "detail": show.text(e.detail)})
