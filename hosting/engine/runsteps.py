"""Running a Plan's steps in order and undoing them in reverse (DESIGN §4.8).

Used by the worker, and by a reaper that rolls back the task of a lost worker. Step rows
(TaskStep) record each step's state, times and error; `state` is saved after every step.
Every one of these writes is conditional on the run still owning the task (TaskContext.mine):
at each step boundary a run that lost its task finds out, writes nothing, and stops (Lost)."""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from django.utils import timezone

from hosting.engine import reconnect
from hosting.engine.context import Lost, TaskContext
from hosting.engine.loglimits import clean
from hosting.engine.steps import Plan, Step
from hosting.models import Task, TaskLog, TaskStep
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
    lost: bool = False               # the run lost the task meanwhile: it wrote nothing more


def describe(exc: BaseException) -> str:
    # ProvisionError messages are written for people and carry no secrets; anything else is a
    # bug in an operation: its type says more than a bare message.
    if isinstance(exc, ProvisionError):
        return str(exc)
    text = str(exc)
    return f"{type(exc).__name__}: {text}" if text else type(exc).__name__


def prepare(task: Task, plan: Plan, *, resume: bool, ctx: TaskContext | None = None) -> list[TaskStep]:
    """The step rows of this run: fresh ones, or on resume the recorded ones. Run again from the
    start after a lost connection: it reads the rows again. With CTX, raises Lost when the run
    does not own the task any more."""
    return reconnect.retry(_prepare, task, plan, resume=resume, ctx=ctx)


def _prepare(task: Task, plan: Plan, *, resume: bool, ctx: TaskContext | None) -> list[TaskStep]:
    if ctx is not None and ctx.owner is not None:
        # One statement says both whether the run owns the task and whether it has step rows
        # (a LEFT JOIN: one row with no step when it has none, no row when it is not ours).
        found = list(ctx.mine().order_by().values_list("steps__pk", flat=True))
        ctx.owned(len(found))
        have = any(pk is not None for pk in found)
        rows = list(TaskStep.objects.filter(task=task).order_by("position")) if have and resume else []
    else:
        rows = list(TaskStep.objects.filter(task=task).order_by("position"))
        have = bool(rows)
    if resume and rows:
        if [r.name for r in rows] != [s.name for s in plan.steps]:
            raise PlanMismatch("The steps of this task type changed since the task was paused; "
                               "abort it and start a new one.")
        return rows
    if have:
        TaskStep.objects.filter(task=task).delete()
    return TaskStep.objects.bulk_create([
        TaskStep(task=task, position=i, name=s.name, label=s.title) for i, s in enumerate(plan.steps)
    ])


def _mark(ctx: TaskContext, row: TaskStep, state: str, **fields: Any) -> None:
    """Record ROW's new STATE, if the run still owns the task (else Lost, and nothing changes)."""
    rows = TaskStep.objects.filter(pk=row.pk)
    if ctx.owner is not None:
        rows = rows.filter(task__in=ctx.mine())
    ctx.owned(reconnect.retry(rows.update, state=state, **fields))
    row.state = state
    for key, value in fields.items():
        setattr(row, key, value)


def run_forward(ctx: TaskContext, plan: Plan, rows: list[TaskStep]) -> Failure | None:
    """Run every step not done yet, in order. Returns the first failure, or None."""
    total = len(rows)
    for row, step in zip(rows, plan.steps, strict=False):
        if row.state in DONE_STATES:
            continue
        try:
            ctx.check_stop()  # told to stop during the previous step's Python code
            # The current step first: its conditional UPDATE is the ownership check of this
            # boundary, before the step row says it runs.
            ctx.owned(reconnect.retry(ctx.mine().update, current_step=step.name))
            _mark(ctx, row, TaskStep.RUNNING, started_at=timezone.now(), finished_at=None, error="")
        except Exception as exc:  # noqa: BLE001
            return Failure(row, step, exc, started=False)
        ctx.info(f"Step {row.position + 1}/{total}: {step.title}")
        try:
            step.run(ctx)
        except Exception as exc:  # noqa: BLE001 - every failure of a step is the task's failure
            detail = getattr(exc, "detail", "")
            if detail:
                # What the error names of other clients' (whose database): administrators only.
                ctx.log(TaskLog.DETAIL, str(detail))
            try:
                _mark(ctx, row, TaskStep.FAILED, finished_at=timezone.now(), error=clean(describe(exc))[:1000])
            except Lost as lost:
                return Failure(row, step, lost)
            return Failure(row, step, exc)
        try:
            _mark(ctx, row, TaskStep.DONE, finished_at=timezone.now())
            ctx.save_state()
        except Lost as exc:
            return Failure(row, step, exc)
    return None


def to_undo(plan: Plan, rows: list[TaskStep], interrupted: TaskStep | None) -> list[tuple[TaskStep, Step]]:
    """The steps whose effects may be present, last first: the completed ones (and those a lost
    worker was undoing), plus the interrupted step when it was stopped from outside (cancel,
    deadline, lost worker): it may have done part of its work. A step that failed by itself
    is expected to have cleaned up after itself."""
    pairs = []
    for row, step in zip(rows, plan.steps, strict=False):
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
        try:
            _mark(ctx, row, TaskStep.UNDOING)
            ctx.info(f"Undoing step {row.position + 1}: {step.title}")
            try:
                step.undo(ctx)
            except Lost:
                raise
            except Exception as exc:  # noqa: BLE001
                message = clean(describe(exc))
                _mark(ctx, row, TaskStep.UNDO_FAILED, error=message[:1000])
                ctx.error(f"Undo of step {step.title} failed: {message}")
                return Rollback(False, undone, row, message)
            _mark(ctx, row, TaskStep.UNDONE, finished_at=timezone.now())
            ctx.save_state()
        except Lost as exc:
            return Rollback(False, undone, row, str(exc), lost=True)
        undone += 1
    return Rollback(True, undone)


def first_open(rows: list[TaskStep]) -> TaskStep | None:
    """Where a paused task continues: the first step that is not done or skipped."""
    for row in rows:
        if row.state not in DONE_STATES:
            return row
    return None
