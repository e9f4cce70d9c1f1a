"""The human controls of a task (DESIGN §4.9), for the panel, the API and the commands alike:
one table (CONTROLS), so that a control has the same name in the panel's URL, the API's path
and the command line's subcommand. Part of the actions layer, above the engine: the engine
never imports it.

Each control checks permission with `can_control` (one rule, reused by every interface to show
or hide a button), records an AuditEvent, and refuses with ControlRefused (a message for the
person) when the task is not in a state the control applies to. The rule is the one for starting
the task's type (hosting.access), asked of the target's client as it is now: a site moved to
another client takes its tasks' controls with it. A retry is a fresh start (hosting.starting):
refusals, arguments and a delete's typed confirmation are checked again.

`by` is a user, or an operator (hosting.actor: the command line). Views and API endpoints must
pass request.user, never an operator."""
from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from django.core.exceptions import PermissionDenied
from django.db import transaction

from hosting import access, audit
from hosting.actor import Actor, is_operator, name_of
from hosting.engine import ending, fence, runsteps, tasklog
from hosting.engine.fairness import wake_after
from hosting.engine.owner import Owner
from hosting.models import Lock, Site, Task, TaskStep
from hosting.starting import CONFIRM_FIELD, start_task

# What a client's own people may do with their client's tasks, each only on a type their role
# may start (a member cancels or retries a backup, not a delete); everything else is for admins.
CLIENT_ACTIONS = {"cancel", "retry"}
UNLOCK_WARNING = ("Force-unlocking lets other tasks work on this resource while the task that holds "
                  "it may still be running: the resource can end up in an inconsistent state. Use it "
                  "only when you know the holder is not touching it any more.")


class ControlRefused(Exception):
    """The control does not apply to the task as it is now; the message says why."""


def is_admin(user: Actor | None) -> bool:
    return is_operator(user) or (access.is_admin(user) and bool(getattr(user, "is_active", False)))


def current_client_id(task: Task) -> int | None:
    """The client that TASK's target belongs to now (read afresh; None for platforms and servers,
    whose tasks are for administrators)."""
    if task.target_type != "site" or task.site_id is None:
        return None
    return Site.objects.filter(pk=task.site_id).values_list("client_id", flat=True).first()


def may_control(user: Actor | None, action: str, task: Task, client_id: int | None) -> bool:
    """The rule of can_control for a target whose current client is CLIENT_ID (a list that
    reads the clients of many tasks at once asks this)."""
    if action not in CONTROLS:
        raise ValueError(f"unknown control {action!r}")
    if is_admin(user):
        return True
    if user is None or not getattr(user, "is_authenticated", False) or not getattr(user, "is_active", False):
        return False
    return action in CLIENT_ACTIONS and access.may_start_kind(user, task.target_type, client_id, task.kind)


def can_control(user: Actor | None, task: Task, action: str) -> bool:
    """May USER apply ACTION to TASK? Admins (staff or superuser) may do everything; a client's
    managers and members may cancel and retry the tasks of their client's sites whose type their
    role may start (hosting.access.may_start_kind), judged by the client the site has now."""
    if action not in CONTROLS:
        raise ValueError(f"unknown control {action!r}")
    if is_admin(user):
        return True
    return may_control(user, action, task, current_client_id(task))


def allowed_controls(user: Actor | None, task: Task) -> list[str]:
    """The controls USER may use on TASK in its present state (for buttons and API links)."""
    by_state = {
        Task.QUEUED: ["cancel"], Task.RUNNING: ["cancel", "force-stop"],
        Task.PAUSED: ["resume", "skip", "abort"],
    }
    actions = by_state.get(task.state, ["retry"] if _retryable(task) else [])
    return [a for a in actions if can_control(user, task, a)]


def _retryable(task: Task) -> bool:
    """Retry is offered on a task that ended without succeeding and whose target still exists."""
    if not task.is_final or task.state == Task.SUCCEEDED:
        return False
    target = task.target
    return target is not None and (getattr(target, "status", "") != "deleted" or _revives(task))


def _revives(task: Task) -> bool:
    """Does the task's type run on a deleted record (restore-deleted)? Its retry does too."""
    from hosting.catalogue import TYPES

    known = TYPES.get(f"{task.target_type}.{task.kind}")
    return bool(known and known.revives)


def _check(user: Actor | None, task: Task, action: str) -> None:
    if not can_control(user, task, action):
        raise PermissionDenied(f"You may not {action} task #{task.pk}.")


def _who(user: Actor | None) -> str:
    return name_of(user)


def _fresh(task: Task) -> Task:
    return Task.objects.select_for_update(no_key=True).get(pk=task.pk)


def cancel(task: Task, *, by: Actor, address: str | None = None) -> Task:
    """Queued: cancelled at once. Running: its worker kills the process tree at its next
    heartbeat, rolls back, and ends it `cancelled`."""
    _check(by, task, "cancel")
    who = _who(by)
    with transaction.atomic():
        task = _fresh(task)
        if task.state == Task.QUEUED:
            ending.end(task.pk, Task.CANCELLED, f"Cancelled by {who} before it started.", states=(Task.QUEUED,))
        elif task.state == Task.RUNNING:
            if not task.cancel_requested:
                Task.objects.filter(pk=task.pk).update(cancel_requested=True, cancel_reason=f"Cancelled by {who}")
                tasklog.append(task.pk, "warning",
                               f"Cancel requested by {who}: stopping its programs and rolling back.")
        elif task.state == Task.PAUSED:
            raise ControlRefused(f"Task #{task.pk} is paused: abort it to end it, or resume it.")
        else:
            raise ControlRefused(f"Task #{task.pk} has already ended ({task.state}).")
        audit.record(by, "task.cancel", task, address=address, before={"state": task.state})
    task.refresh_from_db()
    return task


def force_stop(task: Task, *, by: Actor, address: str | None = None) -> Task:
    """For a running task whose worker is gone or does not answer: mark it final now and release
    its locks, without waiting for the worker or rolling back. A worker on this host is killed
    with its programs first, and must be confirmed gone (hosting.engine.fence): if it cannot be,
    the task is paused instead, keeping its locks. A worker elsewhere that is still alive writes
    nothing more and stops at its next heartbeat."""
    _check(by, task, "force-stop")
    who = _who(by)
    task = Task.objects.get(pk=task.pk)
    if task.state != Task.RUNNING:
        hint = " Cancel it instead." if task.state == Task.QUEUED else ""
        raise ControlRefused(f"Task #{task.pk} is {task.state}, not running.{hint}")
    owner = Owner(task.owner_host, task.owner_pid or 0, task.owner_started)
    # Killed before the transaction: a worker stopped inside one of its own holds its locks
    # until it dies (on SQLite, the whole database).
    fenced = fence.fence(task.pk, owner) if owner.is_here() else None
    with transaction.atomic():
        task = _fresh(task)
        if task.state != Task.RUNNING or (task.owner_host, task.owner_pid, task.owner_started) != (
                owner.host, owner.pid, owner.started):
            raise ControlRefused(f"Task #{task.pk} changed meanwhile (it is {task.state}); look again.")
        if fenced is not None and not fenced.gone:
            ending.pause(task.pk, f"Force-stop by {who} did not end the task: {fenced.why}; it may still act on "
                         "its target: paused for a human, keeping its locks.", states=(Task.RUNNING,))
            audit.record(by, "task.force_stop", task, address=address,
                         detail=f"owner {task.owner_host} pid {task.owner_pid}; paused: {fenced.why}")
        else:
            if fenced is not None:
                where = f"Its worker and programs on {owner.host} were killed: {fenced.killed}." if fenced.killed \
                    else f"Nothing of it was left running on {owner.host}."
            else:
                where = (f"Its programs run on {owner.host}: its worker there writes nothing more and kills them "
                         "at its next heartbeat if it is still alive.")
            tasklog.append(task.pk, "warning", (
                f"Force-stopped by {who}: marked final without waiting for its worker "
                f"({task.owner_host} pid {task.owner_pid}) and without rolling back; its locks are released. "
                f"Check the state of its target. {where}"))
            ending.end(task.pk, Task.CANCELLED, f"Force-stopped by {who}.", states=(Task.RUNNING,))
            audit.record(by, "task.force_stop", task, address=address,
                         detail=f"owner {task.owner_host} pid {task.owner_pid}")
    task.refresh_from_db()
    return task


def retry(task: Task, *, by: Actor, address: str | None = None, confirm: str | None = None) -> Task:
    """A new task with the same type, target and arguments; returns the new task. It starts as a
    fresh one would (hosting.starting.start_task): the role rule on the target as it is now, the
    refusals, the arguments checked again, and for a delete CONFIRM, the target's name typed
    again. Raises TaskRefused or starting.ArgumentsInvalid besides the controls' errors."""
    _check(by, task, "retry")
    if not task.is_final:
        raise ControlRefused(f"Task #{task.pk} is {task.state}: only a task that has ended can be retried.")
    target = task.target
    if target is None or getattr(target, "status", "") == "deleted" and not _revives(task):
        raise ControlRefused(f"The {task.target_type} of task #{task.pk} no longer exists.")
    data = dict(task.args or {})
    data.pop(CONFIRM_FIELD, None)  # only the caller's own typing confirms
    if confirm is not None:
        data[CONFIRM_FIELD] = confirm
    with transaction.atomic():
        new = start_task(by, target, task.kind, data, address=address, retry_of=task)
        audit.record(by, "task.retry", task, address=address, after={"task": new.pk})
    return new


def _paused(task: Task, action: str, by: Actor) -> Task:
    _check(by, task, action)
    fresh = _fresh(task)
    if fresh.state != Task.PAUSED:
        done = {"resume": "resumed", "skip": "skipped", "abort": "aborted"}[action]
        raise ControlRefused(f"Task #{fresh.pk} is {fresh.state}: only a paused task can be {done}.")
    return fresh


def resume(task: Task, *, by: Actor, address: str | None = None) -> Task:
    """A paused task continues from the first step that is not done (the failed one)."""
    with transaction.atomic():
        task = _paused(task, "resume", by)
        ending.requeue(task.pk, f"Resumed by {_who(by)}.", states=(Task.PAUSED,), resume=True)
        audit.record(by, "task.resume", task, address=address)
    task.refresh_from_db()
    return task


def skip(task: Task, *, by: Actor, address: str | None = None) -> Task:
    """Mark the step a paused task stopped at as skipped and continue; the task ends `warning`."""
    with transaction.atomic():
        task = _paused(task, "skip", by)
        rows = list(TaskStep.objects.filter(task=task).order_by("position"))
        step = runsteps.first_open(rows)
        if step is not None:
            TaskStep.objects.filter(pk=step.pk).update(state=TaskStep.SKIPPED)
        result = dict(task.result or {})
        result["warning"] = True
        Task.objects.filter(pk=task.pk).update(result=result)
        name = (step.label or step.name) if step else "(none)"
        ending.requeue(task.pk, f"Step {name} skipped by {_who(by)}; continuing.", states=(Task.PAUSED,), resume=True)
        audit.record(by, "task.skip", task, address=address, detail=f"step {name}")
    task.refresh_from_db()
    return task


def abort(task: Task, *, by: Actor, address: str | None = None) -> Task:
    """A paused task ends `failed` and releases its locks, left as it is."""
    with transaction.atomic():
        task = _paused(task, "abort", by)
        ending.end(task.pk, Task.FAILED, f"Aborted by {_who(by)} while paused: {task.summary}", states=(Task.PAUSED,))
        audit.record(by, "task.abort", task, address=address)
    task.refresh_from_db()
    return task


def force_unlock(key: str, *, by: Actor, address: str | None = None) -> Lock:
    """Admin only: remove a lock whatever holds it (see UNLOCK_WARNING). Returns the removed row."""
    with transaction.atomic():
        lock = Lock.objects.select_for_update(of=("self",)).select_related("task").filter(key=key).first()
        if lock is None:
            raise ControlRefused(f"Nothing holds the lock {key}.")
        _check(by, lock.task, "force-unlock")
        holder = lock.task_id
        lock.delete()
        tasklog.append(holder, "warning", f"Lock {key} was removed by {_who(by)} (force-unlock). {UNLOCK_WARNING}")
        audit.record(by, "lock.force_unlock", lock.task, address=address, detail=f"{key}: {UNLOCK_WARNING}")
        transaction.on_commit(lambda: wake_after(holder), robust=True)
    return lock


@dataclass(frozen=True)
class Control:
    """One control, named the same everywhere: the panel's /tasks/<id>/<name>/, the API's
    POST /tasks/{id}/<name> (force-unlock: /locks/{id}/force-unlock) and `manage.py tasks <name>`."""

    name: str
    label: str   # the panel's button
    help: str    # the command line's help and the API's summary
    done: str    # what the panel says afterwards
    run: Callable[..., Any]
    on_lock: bool = False  # applies to a lock (its key), not to a task


CONTROLS: dict[str, Control] = {c.name: c for c in [
    Control("cancel", "Cancel", "Cancel a queued or running task.", "Cancelled", cancel),
    Control("force-stop", "Force-stop", "Force-stop a running task whose worker is gone or hangs.",
            "Force-stopped", force_stop),
    Control("retry", "Retry", "Queue a new task with the same arguments.", "Queued again", retry),
    Control("resume", "Resume", "Continue a paused task from its failed step.", "Resumed", resume),
    Control("skip", "Skip step", "Skip the failed step of a paused task and continue.", "Step skipped", skip),
    Control("abort", "Abort", "End a paused task as failed and release its locks.", "Aborted", abort),
    Control("force-unlock", "Force-unlock", "Force-unlock a resource (admin; see the warning).", "Unlocked",
            force_unlock, on_lock=True),
]}
TASK_CONTROLS = {name: c for name, c in CONTROLS.items() if not c.on_lock}
