"""Ending a task, re-queueing it, pausing it. Each is one conditional UPDATE plus, in the same
transaction, the release of its locks (DESIGN §4.6: locks of finished tasks are always released
in the transaction that finishes them). Whoever waited on them is handed over after commit."""
from __future__ import annotations

from collections.abc import Callable, Iterable

from django.db import transaction

from hosting.engine import clock, statelog, tasklog
from hosting.engine.dispatch import dispatch_ids
from hosting.engine.fairness import wake_after
from hosting.engine.loglimits import clean
from hosting.engine.owner import Owner
from hosting.models import Lock, Task

# Called with a task's id after the transaction that ended it commits (hosting.apps registers
# hosting.batches.child_ended): what waits on a task's end without the engine knowing what it is.
ENDED: list[Callable[[int], None]] = []


def _tell_ended(task_id: int) -> None:
    for listener in ENDED:
        listener(task_id)


_LEVEL = {Task.SUCCEEDED: "info", Task.WARNING: "warning", Task.FAILED: "error",
          Task.CANCELLED: "warning", Task.PAUSED: "warning", Task.QUEUED: "warning"}


def _scope(task_id: int, owner: Owner | None, states: Iterable[str]):
    qs = Task.objects.filter(pk=task_id, state__in=list(states))
    if owner is not None:
        # Only the owner may end a running task: a worker whose task was force-stopped or
        # reaped meanwhile changes nothing.
        qs = qs.filter(**owner.fields())
    return qs


def _previous(task_id: int, owner: Owner | None, states: Iterable[str]) -> str | None:
    """The state the task is leaving, read under a row lock so that it is the one the UPDATE
    changes (PostgreSQL; SQLite's immediate transactions serialise writers anyway)."""
    return _scope(task_id, owner, states).select_for_update(no_key=True).values_list("state", flat=True).first()


def end(task_id: int, state: str, summary: str, *, owner: Owner | None = None,
        states: Iterable[str] = (Task.RUNNING,)) -> bool:
    """Make the task final (succeeded, warning, failed, cancelled) and release its locks."""
    assert state in Task.FINAL
    states = tuple(states)
    summary = clean(summary)  # it quotes errors, which quote the client's file names
    with transaction.atomic():
        previous = _previous(task_id, owner, states)
        if previous is None:
            return False
        changed = _scope(task_id, owner, states).update(
            state=state, summary=summary[:1000], finished_at=clock.now_expr(), current_step="",
            cancel_requested=False, processes=[], waiting_reason="", waiting_on=None, waited_at=None)
        if not changed:
            return False
        Lock.objects.filter(task_id=task_id).delete()
        tasklog.append(task_id, _LEVEL[state], summary)
        statelog.changed(task_id, previous)
        # robust: the task has ended whatever happens to the wake-up; a missed one is made up
        # by the reconciler within a beat.
        transaction.on_commit(lambda: wake_after(task_id), robust=True)
        # robust too: a listener's failure is made up by its own reconciliation (batches: a beat).
        transaction.on_commit(lambda: _tell_ended(task_id), robust=True)
    return True


def requeue(task_id: int, reason: str, *, owner: Owner | None = None,
            states: Iterable[str] = (Task.RUNNING,), resume: bool = False) -> bool:
    """Put a running (or paused) task back in the queue, release its locks, hand it over.
    RESUME keeps its step rows and state so it continues where it stopped."""
    reason = clean(reason)
    with transaction.atomic():
        task = _scope(task_id, owner, states).select_for_update(no_key=True).first()
        if task is None:
            return False
        result = dict(task.result or {})
        if resume:
            result["resume"] = True
        else:
            result.pop("resume", None)
            result.pop("state", None)
        _scope(task_id, owner, states).update(
            state=Task.QUEUED, owner_host="", owner_pid=None, owner_started=None, heartbeat_at=None,
            deadline_at=None, current_step="", cancel_requested=False, processes=[], result=result,
            waiting_reason=reason[:500], waiting_on=None, waited_at=clock.now_expr())
        if not resume:
            # A fresh start must not hold what a half-done run held; a resumed task keeps its
            # locks (nobody may touch what it left half-done) until it ends.
            Lock.objects.filter(task_id=task_id).delete()
        tasklog.append(task_id, "warning", reason)
        statelog.changed(task_id, task.state)
        transaction.on_commit(lambda: (dispatch_ids([task_id]), wake_after(task_id)), robust=True)
    return True


def pause(task_id: int, summary: str, *, owner: Owner | None = None,
          states: Iterable[str] = (Task.RUNNING,)) -> bool:
    """Stop a task that needs a human. It keeps its locks: nobody may work on what it left
    half-done until someone resumes, skips or aborts it."""
    states = tuple(states)
    summary = clean(summary)
    with transaction.atomic():
        previous = _previous(task_id, owner, states)
        if previous is None:
            return False
        changed = _scope(task_id, owner, states).update(
            state=Task.PAUSED, summary=summary[:1000], cancel_requested=False, processes=[],
            heartbeat_at=None, current_step="")
        if not changed:
            return False
        tasklog.append(task_id, "warning", summary)
        statelog.changed(task_id, previous)
    return True
