"""How a task that did not finish by itself is settled (DESIGN §4.6, §4.8): the one policy the
worker (its own task stopped, timed out or failed) and the reaper (a lost worker's task) share.

- Give up or re-queue: a task that may run again is re-queued until it has run
  HARBORMASTER_MAX_ATTEMPTS times, then failed.
- Roll back, then pause or fail: the steps whose effects may be present are undone with a fresh
  Runner that has HARBORMASTER_ROLLBACK_DEADLINE seconds; the task ends failed (or cancelled)
  when every undo worked, and is paused for a human when one failed.

Both write through `Settler`: the run's log is flushed first, so that the summary line comes
after every line of the run, and nothing is written once the run lost the task."""
from __future__ import annotations

from collections.abc import Callable

from django.conf import settings

from hosting.engine import ending, reconnect, runsteps
from hosting.engine.context import TaskContext
from hosting.engine.heartbeat import Stop
from hosting.engine.owner import Owner
from hosting.engine.processes import task_runner
from hosting.engine.steps import Step
from hosting.engine.tasklog import TaskLogWriter
from hosting.models import Task, TaskStep
from hosting.tasktypes import TYPES
from provision.runner import Runner

# What a run returns when it does not own its task any more: whoever took it settles it.
LOST = "lost"


def idempotent(target_type: str, kind: str) -> bool:
    """Whether a task of this type may simply run again. A type missing from the catalogue
    (removed since the task started) is treated as destructive: a human decides."""
    known = TYPES.get(f"{target_type}.{kind}")
    return bool(known and known.idempotent)


def rollback_deadline() -> float:
    """Seconds a rollback may take, from its start: a fresh budget, since the run's own Runner
    was killed or is past the task's deadline when undoing begins."""
    return float(settings.HARBORMASTER_ROLLBACK_DEADLINE)


class Settler:
    """Ends, pauses or re-queues one run's task, as OWNER. PATIENT waits for a control database
    that restarts (a worker: the outcome of its run must not be lost); a reaper's housekeeping
    loop settles the task again on its next tick instead."""

    def __init__(self, task_id: int, owner: Owner, log: TaskLogWriter, *, patient: bool) -> None:
        self.task_id = task_id
        self.owner = owner
        self.log = log
        self.patient = patient

    def _do(self, how: Callable[..., bool], *args: object) -> bool:
        if self.patient:
            reconnect.retry(self.log.flush, strict=True)
        else:
            self.log.flush()
        if self.log.lost:
            return False  # not ours: the conditional UPDATE would change nothing anyway
        if self.patient:
            return reconnect.retry(how, self.task_id, *args, owner=self.owner)
        return how(self.task_id, *args, owner=self.owner)

    def end(self, state: str, summary: str) -> bool:
        return self._do(ending.end, state, summary)

    def pause(self, summary: str) -> bool:
        return self._do(ending.pause, summary)

    def requeue(self, reason: str) -> bool:
        return self._do(ending.requeue, reason)


def requeue_or_give_up(task: Task, cause: str, gave_up: str, settler: Settler) -> str:
    """Re-queue TASK, or fail it when it has run HARBORMASTER_MAX_ATTEMPTS times (GAVE_UP says
    what happened that often: "worker lost", "tried"). Returns the state it was left in."""
    attempts = int(settings.HARBORMASTER_MAX_ATTEMPTS)
    if task.attempt >= attempts:
        settler.end(Task.FAILED, f"{cause}; {gave_up} {task.attempt} times, not trying again.")
        return Task.FAILED
    settler.requeue(f"{cause}; re-queued (attempt {task.attempt + 1} of {attempts} next).")
    return Task.QUEUED


def rollback_runner(log: TaskLogWriter, stop: Stop, task_id: int, owner: Owner) -> Runner:
    """A fresh Runner for undoing: the run's own one was killed or is past the task's deadline,
    and undoing must be able to run programs. Only a lost task or a second stop request stops it."""
    return task_runner(log, task_id, owner, should_stop=stop.during_rollback, seconds=rollback_deadline())


def roll_back(ctx: TaskContext, pairs: list[tuple[TaskStep, Step]], cause: str, settler: Settler, *,
              final: str = Task.FAILED) -> str:
    """Undo PAIRS (runsteps.to_undo) with CTX (whose runner is a rollback_runner), then end the
    task FINAL, or pause it when an undo failed. Returns the state it was left in, or LOST when
    the run lost the task meanwhile (it then wrote nothing more)."""
    result = runsteps.roll_back(ctx, pairs)
    if result.lost or (ctx.stop is not None and ctx.stop.kind == "lost"):
        return LOST
    if not result.ok:
        if not settler.pause(f"{cause}; {result.error}: paused for a human."):
            return LOST
        return Task.PAUSED
    done = "rolled back." if result.undone else "nothing to roll back."
    # A cause that ends a sentence ("… not on PATH.") is not followed by a second mark.
    if not settler.end(final, f"{cause.rstrip('.;')}; {done}"):
        return LOST
    return final
