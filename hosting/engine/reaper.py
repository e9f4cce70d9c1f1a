"""The reaper (DESIGN §4.6): finds running tasks whose worker is gone and settles them.

A running task is lost when its heartbeat is older than 3 beats (database clock), or, on this
host, when its owner process is gone (pid and start time). Safe on many hosts at once: a
reaper first takes the task over with a conditional UPDATE on the owner and heartbeat it saw,
so exactly one reaper settles each loss. Before that, when the owner ran on this host, the
owner's tree is killed and confirmed gone (hosting.engine.fence: a stopped worker must not go
on once continued; this also kills the task's leftover processes, Semaphore's orphan bug); a
task whose owner cannot be confirmed gone is paused, with the reason, not settled. A task whose
owner ran on another host is left to that host's reaper, which can fence it, for LONG_LOST
beats. Then:
- an idempotent task (or one lost before its first step) is re-queued, up to
  HARBORMASTER_MAX_ATTEMPTS runs, then failed "worker lost N times";
- a destructive task is rolled back here, with the reaper's own Runner, when every step it
  may have touched can be undone ("worker lost during step X; rolled back"), else paused
  ("worker lost during step X") for a human. Rolling back runs programs on the task's server,
  and must not race an owner that might still run: only a reaper serving that server's queue,
  on the owner's host, does it; another reaper pauses the task after LONG_LOST beats (that
  server's own reaper would have acted long before)."""
from __future__ import annotations

import functools
import logging
import threading
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta

from django.db import connection

from hosting.engine import clock, ending, fence, runsteps, settle
from hosting.engine.context import TaskContext
from hosting.engine.heartbeat import LOST, Heartbeat, Stop, interval, lost_before
from hosting.engine.owner import Owner, hostname, process_alive
from hosting.engine.routing import cluster_queue
from hosting.engine.settle import Settler, idempotent
from hosting.engine.tasklog import TaskLogWriter
from hosting.models import Task, TaskStep
from hosting.operations import plan_for

LONG_LOST = 10
_logger = logging.getLogger("hosting.engine")


@dataclass(frozen=True)
class Seen:
    """A running task as the reaper saw it: the takeover only succeeds if nothing changed."""
    pk: int
    host: str
    pid: int | None
    started: float | None
    heartbeat: datetime | None
    why: str


class Reaper:
    def __init__(self, queue: str | None = None, *, beat: float | None = None,
                 report: Callable[[str], None] | None = None, background: bool = False) -> None:
        self.queue = queue or cluster_queue()
        self.beat = beat if beat is not None else interval()
        self.report = report or (lambda line: _logger.warning("%s", line))
        # In a cluster, rollbacks run in threads so one long undo does not hold up other reaps.
        self.background = background
        self.rollbacks: list[threading.Thread] = []
        # The tasks this reaper is settling now. A task it took over that is not here any more
        # (its rollback thread died, say on a database error) is judged like any other: once
        # its heartbeat is silent, it is taken over again and settled.
        self.settling: set[int] = set()
        # After this reaper lost the database, silence is counted from the moment it answers
        # again: the workers could not beat either, and get LOST_BEATS beats to reconnect.
        self.outage = False
        self.answering_since: datetime | None = None

    def lost_database(self) -> None:
        """Told by the housekeeping loop that a tick failed on a lost database connection."""
        self.outage = True
        self.answering_since = None

    # -- finding ---------------------------------------------------------------------------

    def find_lost(self) -> list[Seen]:
        """Running tasks that look lost, oldest heartbeat first."""
        # Nothing runs (an idle fleet): one query instead of three. Not after an outage: then
        # the moment the database answers again is taken below.
        if not self.outage and not Task.objects.filter(state=Task.RUNNING).exists():
            return []
        me = Owner.current()
        now = clock.db_now()
        stale_before = lost_before(now, self.beat)
        long_before = now - timedelta(seconds=LONG_LOST * self.beat)
        if self.outage:
            self.answering_since = self.answering_since or now
            if self.answering_since > stale_before:
                stale_before = long_before = now - timedelta(days=3650)  # nobody is silent yet
            else:
                self.outage = False
        fields = ("pk", "owner_host", "owner_pid", "owner_started", "heartbeat_at", "server__queue", "kind",
                  "target_type")
        found: dict[int, Seen] = {}
        # On this host the owner's death is certain at once: no need to wait for 3 beats.
        for row in Task.objects.filter(state=Task.RUNNING, owner_host=me.host).values(*fields):
            if row["owner_pid"] == me.pid:
                continue  # ours: alive, and judged by its heartbeat below
            if not process_alive(row["owner_pid"], row["owner_started"]):
                found[row["pk"]] = self._seen(row, f"its worker (pid {row['owner_pid']}) is gone")
        stale = (Task.objects.filter(state=Task.RUNNING, heartbeat_at__lt=stale_before)
                 .order_by("heartbeat_at").values(*fields)[:50])
        for row in stale:
            if row["pk"] in found or row["pk"] in self.settling:
                continue
            destructive = not idempotent(row["target_type"], row["kind"])
            elsewhere = row["owner_host"] != me.host or (destructive and row["server__queue"] != self.queue)
            if elsewhere and row["heartbeat_at"] >= long_before:
                continue  # its owner's host fences and settles it, its own server's reaper rolls it back
            age = (now - row["heartbeat_at"]).total_seconds()
            found[row["pk"]] = self._seen(row, f"no heartbeat for {age:.0f} s")
        return sorted(found.values(), key=lambda s: (s.heartbeat or now, s.pk))

    @staticmethod
    def _seen(row: dict, why: str) -> Seen:
        return Seen(row["pk"], row["owner_host"], row["owner_pid"], row["owner_started"], row["heartbeat_at"], why)

    # -- settling --------------------------------------------------------------------------

    def reap_one(self) -> bool:
        """Find one running task whose owner is gone and settle it. Returns whether there was
        one (another reaper may have won it: still True, look again)."""
        for seen in self.find_lost():
            if self.settle(seen):
                return True
        return False

    def reap_all(self) -> int:
        count = 0
        while self.reap_one():
            count += 1
        return count

    def take_over(self, seen: Seen, me: Owner) -> bool:
        return bool(Task.objects.filter(
            pk=seen.pk, state=Task.RUNNING, owner_host=seen.host, owner_pid=seen.pid,
            owner_started=seen.started, heartbeat_at=seen.heartbeat,
        ).update(**me.fields(), heartbeat_at=clock.now_expr()))

    def settle(self, seen: Seen) -> bool:
        me = Owner.current()
        fenced = None
        if seen.host == hostname():
            # Before the takeover, outside any transaction: a worker stopped inside one holds
            # its locks (on SQLite the whole database) until it is killed.
            fenced = fence.fence(seen.pk, Owner(seen.host, seen.pid or 0, seen.started),
                                 heartbeat_at=seen.heartbeat)
            if fenced is None:
                return False  # it beat, or was settled, meanwhile
            if fenced.killed:
                self.report(f"task #{seen.pk}: killed its worker's processes {fenced.killed}")
        if not self.take_over(seen, me):
            return False
        task = Task.objects.select_related("server").get(pk=seen.pk)
        step_row = TaskStep.objects.filter(task=task, state__in=[TaskStep.RUNNING, TaskStep.UNDOING]).first()
        where = f"during step {step_row.label or step_row.name}" if step_row else \
            (f"during step {task.current_step}" if task.current_step else "before its first step")
        self.report(f"task #{task.pk} ({task}) is lost: {seen.why}; {where}")
        stop = Stop()
        log = TaskLogWriter(task.pk, me, on_lost=lambda: stop.request("lost", LOST))
        beat = Heartbeat(task.pk, me, stop, log, every=self.beat)
        beat.start()
        job = functools.partial(self._settle_owned, task, seen, me, stop, beat, log, step_row, where, fenced)
        self.settling.add(task.pk)
        if self.background and not idempotent(task.target_type, task.kind):
            thread = threading.Thread(target=self._in_thread, args=(task.pk, job), name=f"rollback-{task.pk}",
                                      daemon=True)
            self.rollbacks = [t for t in self.rollbacks if t.is_alive()] + [thread]
            thread.start()
        else:
            try:
                job()
            finally:
                self.settling.discard(task.pk)
        return True

    def _in_thread(self, task_id: int, job: Callable[[], None]) -> None:
        try:
            job()
        except Exception:  # noqa: BLE001
            _logger.exception("settling lost task %s failed; it is settled again once its heartbeat is silent",
                              task_id)
        finally:
            self.settling.discard(task_id)
            connection.close()

    def _settle_owned(self, task: Task, seen: Seen, me: Owner, stop: Stop, beat: Heartbeat, log: TaskLogWriter,
                      step_row: TaskStep | None, where: str, fenced: fence.Fenced | None) -> None:
        try:
            if step_row is not None and step_row.state == TaskStep.RUNNING:
                TaskStep.objects.filter(pk=step_row.pk).update(
                    state=TaskStep.FAILED, error="The worker was lost during this step.")
                step_row.state = TaskStep.FAILED
            if fenced is not None and not fenced.gone:
                ending.pause(task.pk, f"Worker lost {where}; {fenced.why}: it may still act on the task, "
                             "so it was neither rolled back nor re-queued: paused for a human.", owner=me)
                self.report(f"task #{task.pk}: paused ({fenced.why})")
                return
            started = TaskStep.objects.filter(task=task).exclude(state=TaskStep.PENDING).exists()
            if idempotent(task.target_type, task.kind) or not started:
                self._requeue(task, settle.Settler(task.pk, me, log, patient=False), where)
            else:
                self._roll_back(task, seen, me, stop, log, step_row, where)
        finally:
            beat.halt()

    def _requeue(self, task: Task, settler: Settler, where: str) -> None:
        state = settle.requeue_or_give_up(task, f"Worker lost {where}", "worker lost", settler)
        if state == Task.FAILED:
            self.report(f"task #{task.pk}: failed (worker lost {task.attempt} times)")
        else:
            self.report(f"task #{task.pk}: re-queued")

    def _roll_back(self, task: Task, seen: Seen, me: Owner, stop: Stop, log: TaskLogWriter,
                   step_row: TaskStep | None, where: str) -> None:
        cause = f"Worker lost {where}"
        if seen.host != hostname():
            ending.pause(task.pk, f"{cause}; its worker ran on {seen.host}, whose reaper did not settle it, and "
                         "cannot be stopped from here, so it was not rolled back: paused for a human.", owner=me)
            self.report(f"task #{task.pk}: paused (its worker ran on {seen.host})")
            return
        if task.server is not None and task.server.queue != self.queue:
            ending.pause(task.pk, f"{cause}; its server's workers did not answer, so it could not be rolled "
                         "back from here: paused for a human.", owner=me)
            self.report(f"task #{task.pk}: paused (another server's task)")
            return
        try:
            plan = plan_for(task)
        except Exception as exc:  # noqa: BLE001
            ending.pause(task.pk, f"{cause}; its steps could not be loaded ({runsteps.describe(exc)}): "
                         "paused for a human.", owner=me)
            self.report(f"task #{task.pk}: paused (no plan)")
            return
        rows = list(TaskStep.objects.filter(task=task).order_by("position"))
        if [r.name for r in rows] != [s.name for s in plan.steps]:
            ending.pause(task.pk, f"{cause}; its steps changed since it started: paused for a human.", owner=me)
            return
        interrupted = next((r for r in rows if step_row is not None and r.pk == step_row.pk), None)
        pairs = runsteps.to_undo(plan, rows, interrupted)
        stuck = runsteps.blocker(pairs)
        if stuck is not None:
            ending.pause(task.pk, f"{cause}; step {stuck.label or stuck.name} cannot be undone: paused for a human.",
                         owner=me)
            self.report(f"task #{task.pk}: paused")
            return
        log.write("warning", f"{cause}; rolling back on {me.host} (reaper pid {me.pid}).")
        ctx = TaskContext(task, settle.rollback_runner(log, stop, task.pk, me), log, owner=me, stop=stop)
        outcome = settle.roll_back(ctx, pairs, cause, settle.Settler(task.pk, me, log, patient=False))
        if outcome == settle.LOST:
            self.report(f"task #{task.pk}: taken from this reaper during its rollback")
        elif outcome == Task.PAUSED:
            self.report(f"task #{task.pk}: paused (rollback failed)")
        else:
            self.report(f"task #{task.pk}: rolled back, failed")

    def wait(self, timeout: float | None = None) -> None:
        """Wait for rollbacks running in threads (the `reap` command's single pass)."""
        for thread in self.rollbacks:
            thread.join(timeout)
