"""Running a Plan's steps in order and undoing them in reverse (DESIGN §4.8).

Used by the worker, and by a reaper that rolls back the task of a lost worker. Step rows
(TaskStep) record each step's state, times and error; `state` is saved after every step."""
from __future__ import annotations

from dataclasses import dataclass

from django.utils import timezone

from hosting.engine import reconnect
from hosting.engine.context import TaskContext
from hosting.engine.steps import Plan, Step
from hosting.models import Task, TaskStep
from provision.errors import ProvisionError

DONE_STATES = (TaskStep.DONE, TaskStep.SKIPPED)


class PlanMismatch(Exception):
    """The task's recorded steps are not the steps of its plan any more."""


@dataclass
class Failure:
    row: TaskStep
    step: Step
    error: BaseException
    # False when the task was stopped between steps, before this one began.
    started: bool = True

    @property
    def message(self) -> str:
        return describe(self.error)


@dataclass
class Rollback:
    ok: bool
    undone: int = 0
    row: TaskStep | None = None      # the step whose undo failed or that cannot be undone
    error: str = ""


def describe(exc: BaseException) -> str:
    # ProvisionError messages are written for people and carry no secrets; anything else is a
    # bug in an operation: its type says more than a bare message.
    if isinstance(exc, ProvisionError):
        return str(exc)
    text = str(exc)
    return f"{type(exc).__name__}: {text}" if text else type(exc).__name__


def prepare(task: Task, plan: Plan, *, resume: bool) -> list[TaskStep]:
    """The step rows of this run: fresh ones, or on resume the recorded ones. Run again from the
    start after a lost connection: it reads the rows again."""
    return reconnect.retry(_prepare, task, plan, resume=resume)


def _prepare(task: Task, plan: Plan, *, resume: bool) -> list[TaskStep]:
    rows = list(TaskStep.objects.filter(task=task).order_by("position"))
    if resume and rows:
        if [r.name for r in rows] != [s.name for s in plan.steps]:
            raise PlanMismatch("The steps of this task type changed since the task was paused; "
                               "abort it and start a new one.")
        return rows
    if rows:
        TaskStep.objects.filter(task=task).delete()
    return TaskStep.objects.bulk_create([
        TaskStep(task=task, position=i, name=s.name, label=s.title) for i, s in enumerate(plan.steps)
    ])


def _mark(row: TaskStep, state: str, **fields: object) -> None:
    row.state = state
    for key, value in fields.items():
        setattr(row, key, value)
    reconnect.retry(TaskStep.objects.filter(pk=row.pk).update, state=state, **fields)


def run_forward(ctx: TaskContext, plan: Plan, rows: list[TaskStep]) -> Failure | None:
    """Run every step not done yet, in order. Returns the first failure, or None."""
    total = len(rows)
    for row, step in zip(rows, plan.steps):
        if row.state in DONE_STATES:
            continue
        try:
            ctx.check_stop()  # told to stop during the previous step's Python code
        except Exception as exc:  # noqa: BLE001
            return Failure(row, step, exc, started=False)
        _mark(row, TaskStep.RUNNING, started_at=timezone.now(), finished_at=None, error="")
        reconnect.retry(Task.objects.filter(pk=ctx.task.pk).update, current_step=step.name)
        ctx.info(f"Step {row.position + 1}/{total}: {step.title}")
        try:
            step.run(ctx)
        except Exception as exc:  # noqa: BLE001 - every failure of a step is the task's failure
            _mark(row, TaskStep.FAILED, finished_at=timezone.now(), error=describe(exc)[:1000])
            return Failure(row, step, exc)
        _mark(row, TaskStep.DONE, finished_at=timezone.now())
        ctx.save_state()
    return None


def to_undo(plan: Plan, rows: list[TaskStep], interrupted: TaskStep | None) -> list[tuple[TaskStep, Step]]:
    """The steps whose effects may be present, last first: the completed ones (and those a lost
    worker was undoing), plus the interrupted step when it was stopped from outside (cancel,
    deadline, lost worker): it may have done part of its work. A step that failed by itself
    is expected to have cleaned up after itself."""
    pairs = []
    for row, step in zip(rows, plan.steps):
        if row.state in (TaskStep.DONE, TaskStep.UNDOING) or (interrupted is not None and row.pk == interrupted.pk):
            pairs.append((row, step))
    return list(reversed(pairs))


def blocker(pairs: list[tuple[TaskStep, Step]]) -> TaskStep | None:
    """The first step (in undo order) that cannot be undone, if any."""
    for row, step in pairs:
        if step.undo is None and not step.reversible:
            return row
    return None


def roll_back(ctx: TaskContext, pairs: list[tuple[TaskStep, Step]]) -> Rollback:
    """Undo PAIRS in the order given; stop at the first undo that fails."""
    stuck = blocker(pairs)
    if stuck is not None:
        return Rollback(False, row=stuck, error=f"step {stuck.label or stuck.name} cannot be undone")
    undone = 0
    for row, step in pairs:
        if step.undo is None:
            continue  # nothing to undo (a check, a read)
        _mark(row, TaskStep.UNDOING)
        ctx.info(f"Undoing step {row.position + 1}: {step.title}")
        try:
            step.undo(ctx)
        except Exception as exc:  # noqa: BLE001
            message = describe(exc)
            _mark(row, TaskStep.UNDO_FAILED, error=message[:1000])
            ctx.error(f"Undo of step {step.title} failed: {message}")
            return Rollback(False, undone, row, message)
        _mark(row, TaskStep.UNDONE, finished_at=timezone.now())
        ctx.save_state()
        undone += 1
    return Rollback(True, undone)


def first_open(rows: list[TaskStep]) -> TaskStep | None:
    """Where a paused task continues: the first step that is not done or skipped."""
    for row in rows:
        if row.state not in DONE_STATES:
            return row
    return None
