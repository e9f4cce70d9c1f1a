"""What a django-q2 worker runs: `execute(task_id)` (DESIGN §4.2 to §4.5, §4.8).

Claim, then run the plan's steps with a heartbeat thread, a Runner wired to cancel, deadline and
shutdown, and undo in reverse on failure. The worker handles SIGTERM and SIGINT while a task
runs, and STOP_SIGNAL (its cluster is stopping, hosting.engine.shutdown): it kills the task's process
tree and ends the task per its type's policy."""
from __future__ import annotations

import logging
import os
import signal
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager

from hosting.engine import clock, ending, reconnect, runsteps, settle, shutdown
from hosting.engine.claim import claim, deadline_seconds
from hosting.engine.context import Lost, TaskContext
from hosting.engine.heartbeat import LOST, Heartbeat, Stop
from hosting.engine.owner import Owner
from hosting.engine.processes import task_runner
from hosting.engine.shutdown import STOP_NOW_SIGNAL, STOP_SIGNAL, STOP_SIGNALS
from hosting.engine.steps import Plan
from hosting.engine.tasklog import TaskLogWriter
from hosting.models import Task, TaskStep
from hosting.operations import plan_for
from provision.errors import TimedOut

_logger = logging.getLogger("hosting.engine")


def execute(task_id: int) -> str:
    """Run task TASK_ID if it is queued and can start now. A stale or duplicate delivery (a task
    that is not queued) does nothing. Returns a word for django-q2's own record."""
    # A delivery may come while the control database restarts: wait for it rather than burn
    # through the deliveries (their messages would be acknowledged as failed, or stay fetched).
    if shutdown.stopping():
        return "not claimed: the cluster is stopping"
    task = reconnect.retry(lambda: Task.objects.filter(pk=task_id).first())
    if task is None:
        return "gone"
    if task.state != Task.QUEUED:
        return f"not queued ({task.state})"
    plan, problem = reconnect.retry(_plan, task)
    owner = Owner.current()
    claimed = reconnect.retry(claim, task_id, owner, plan.extra_locks if plan else ())
    if claimed is None:
        return "waiting or taken"
    if plan is None:
        reconnect.retry(ending.end, task_id, Task.FAILED, f"Could not plan the task: {problem}", owner=owner)
        return Task.FAILED
    return Run(claimed, plan, owner).execute()


def _plan(task: Task) -> tuple[Plan | None, str]:
    try:
        return plan_for(task), ""
    except Exception as exc:  # noqa: BLE001 - any error of a plan builder fails the task
        if reconnect.connection_lost(exc):
            raise  # not the plan's fault: reconnect.retry builds it again
        _logger.exception("no plan for task %s", task.pk)
        return None, runsteps.describe(exc)


@contextmanager
def _signals(handler: Callable[[int, object], None]) -> Iterator[None]:
    # Signal handlers can only be set from the main thread (django-q2 runs tasks there).
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    previous = {sig: signal.signal(sig, handler) for sig in STOP_SIGNALS}
    try:
        yield
    finally:
        for sig, old in previous.items():
            signal.signal(sig, old)


class Run:
    """One claimed task, run by this worker."""

    def __init__(self, task: Task, plan: Plan, owner: Owner) -> None:
        self.task = task
        self.plan = plan
        self.owner = owner
        self.stop = Stop()
        # Lines are written only while this worker owns the task; a flush that finds it taken
        # drops them and stops the run.
        self.log = TaskLogWriter(task.pk, owner, on_lost=lambda: self.stop.request("lost", LOST))
        self.deadline = deadline_seconds(task)
        remaining = ((task.deadline_at - reconnect.retry(clock.db_now)).total_seconds() if task.deadline_at
                     else self.deadline)
        # The Runner measures with the monotonic clock what the database clock allowed at claim.
        self.runner = task_runner(self.log, task.pk, owner, should_stop=self.stop, seconds=remaining)
        self.ctx = TaskContext(task, self.runner, self.log, owner=owner, stop=self.stop)
        self.heartbeat = Heartbeat(task.pk, owner, self.stop, self.log, deadline_seconds=self.deadline)
        # Settling waits for a control database that is restarting: the run's outcome must not be lost.
        self.settler = settle.Settler(task.pk, owner, self.log, patient=True)
        self.got: list[int] = []

    def execute(self) -> str:
        with _signals(self._on_signal):
            self.heartbeat.start()
            try:
                outcome = self._run()
            except Exception as exc:  # noqa: BLE001 - an engine bug must still end the task
                if reconnect.connection_lost(exc):
                    # The database stayed away longer than the worker waits: the heartbeat has
                    # stopped, and a reaper settles the task (re-queue or roll back) once it is back.
                    _logger.error("task %s: the control database stayed unreachable; leaving the task to a reaper",
                                  self.task.pk)
                    outcome = settle.LOST
                else:
                    _logger.exception("task %s: the engine failed", self.task.pk)
                    self.settler.end(Task.FAILED, f"The engine failed: {runsteps.describe(exc)}")
                    outcome = Task.FAILED
            finally:
                self.heartbeat.halt()
                self.log.flush()
        if signal.SIGTERM in self.got:
            # Die as asked, now that the task is settled (in a cluster SIGTERM is ignored
            # otherwise: the main process stops the cluster, see hosting.engine.shutdown).
            signal.signal(signal.SIGTERM, signal.SIG_DFL)
            os.kill(os.getpid(), signal.SIGTERM)
        return outcome

    def _on_signal(self, signum: int, _frame: object) -> None:
        self.got.append(signum)
        # The cluster's STOP_SIGNAL and the group's SIGTERM or SIGINT that often comes with it
        # (in either order) are one stop; its STOP_NOW_SIGNAL, or a second SIGTERM or SIGINT, is
        # the second one, which cuts a rollback short.
        direct = sum(1 for sig in self.got if sig not in (STOP_SIGNAL, STOP_NOW_SIGNAL))
        self.stop.signals = max(self.stop.signals, direct, 2 if signum == STOP_NOW_SIGNAL else 1)
        reason = ("The worker's cluster was stopped" if signum in (STOP_SIGNAL, STOP_NOW_SIGNAL)
                  else f"The worker was stopped ({signal.Signals(signum).name})")
        # Nothing here takes a lock the interrupted main thread could hold (the Runner's takes
        # its own while it starts a program): the Runner asks self.stop every `poll` seconds and
        # kills the tree itself. A rollback's Runner asks Stop.during_rollback, so a signal that
        # belongs to the first stop never cuts the rollback short.
        self.stop.request("shutdown", reason)

    def _run(self) -> str:
        task = self.task
        resume = bool(self.ctx.result.pop("resume", False))
        verb = "Resumed" if resume else "Started"
        self.log.write("info", f"{verb} on {self.owner.host} by worker {self.owner.pid} (attempt {task.attempt}).")
        # Written at once: the log's first line shows as soon as the task runs, and a line
        # written from outside (a cancel) cannot take a position before it.
        self.log.flush()
        try:
            rows = runsteps.prepare(task, self.plan, resume=resume, ctx=self.ctx)
            self.ctx.save_state()  # drops the resume flag: a second delivery starts afresh
        except runsteps.PlanMismatch as exc:
            self.settler.pause(str(exc))
            return Task.PAUSED
        except Lost:
            return settle.LOST
        failure = runsteps.run_forward(self.ctx, self.plan, rows)
        if failure is None:
            skipped = [r.label or r.name for r in rows if r.state == TaskStep.SKIPPED]
            if skipped or self.ctx.warned or self.ctx.result.get("warning"):
                why = f" (skipped: {', '.join(skipped)})" if skipped else ""
                self.settler.end(Task.WARNING, f"Done with warnings{why}.")
                return Task.WARNING
            self.settler.end(Task.SUCCEEDED, f"Done: {len(rows)} step{'' if len(rows) == 1 else 's'}.")
            return Task.SUCCEEDED
        return self._after_failure(failure, rows)

    def _after_failure(self, failure: runsteps.Failure, rows: list[TaskStep]) -> str:
        kind = self.stop.kind
        if kind is None and isinstance(failure.error, TimedOut):
            kind = "deadline"
        if kind is None and reconnect.connection_lost(failure.error):
            # The step needed the control database while it restarted: not the step's fault.
            kind = "database"
        step = failure.step.title
        when = f"during step {step}" if failure.started else f"before step {step}"
        if kind == "lost":
            self.log.write("warning", self.stop.reason or "This worker no longer owns the task.")
            return settle.LOST
        cause = {
            "cancel": f"{self.stop.reason} {when}",
            "deadline": f"The task ran past its deadline of {self.deadline} s {when}",
            "shutdown": f"The worker was stopped {when}",
            "database": f"The control database could not be reached {when} ({failure.message})",
        }.get(kind or "", f"Step {step} failed: {failure.message}")
        if kind in ("shutdown", "database") and self.task.type.idempotent:
            gave_up = "worker lost" if kind == "shutdown" else "tried"
            return settle.requeue_or_give_up(self.task, cause, gave_up, self.settler)
        interrupted = failure.row if kind and failure.started else None
        pairs = runsteps.to_undo(self.plan, rows, interrupted)
        final = Task.CANCELLED if kind == "cancel" else Task.FAILED
        self.ctx.runner = settle.rollback_runner(self.log, self.stop, self.task.pk, self.owner)
        return settle.roll_back(self.ctx, pairs, cause, self.settler, final=final)
