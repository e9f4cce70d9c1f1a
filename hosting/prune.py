"""Task-history retention: finished tasks older than HARBORMASTER_TASK_RETENTION_DAYS go, with
their steps and log lines, in small batches, each its own short transaction.

Why batches: one DELETE of 2,000,000 log lines holds SQLite's only write lock (or PostgreSQL's
row locks and a long transaction) for seconds, and every claim, heartbeat and log write of the
running tasks waits behind it. Each transaction here deletes at most `batch` rows, and the
pruner then rests as long as the transaction took, so that a writer sleeping in SQLite's busy
handler finds the lock free (SQLite does not queue waiters: a pruner that took the lock again
at once could starve them).

What stays, whatever its age:
- queued, running and paused tasks, and any task holding a lock;
- a task that a Backup row names (the site page links each backup to the task that made it);
- a task with a retry that stays (a retry chain goes as a whole, when its newest task goes);
- each site's newest scheduled backup task: hosting.schedules counts the period from it.
Audit events are not touched: they are the record of who did what, kept on their own terms.
Nodes keep their own `verified_at`, so no page needs an old verify task."""
from __future__ import annotations

import logging
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from functools import partial
from typing import TypeVar

from django.conf import settings
from django.db import IntegrityError, connection, transaction
from django.db.models import Count, Exists, Model, OuterRef, Q, QuerySet
from django.utils import timezone

from hosting.actor import Actor
from hosting.models import Backup, Lock, Task, TaskLog, TaskStep, TaskWatch

ACTOR = "system:retention"
BATCH = 500           # rows deleted per transaction at most
SCAN = 500            # candidate tasks read per round
SCHEDULED_BUDGET = 120.0  # seconds one scheduled run may take; the next run goes on
CHECKPOINT_EVERY = 10     # transactions between SQLite WAL checkpoints
T = TypeVar("T")
_logger = logging.getLogger("hosting.prune")


@dataclass
class Pruned:
    """What a run removed (or, dry, would remove), and how long it held the database."""

    cutoff: datetime
    tasks: int = 0
    steps: int = 0
    log_lines: int = 0
    kept: int = 0          # finished before the cutoff but kept (see the module docstring)
    skipped: int = 0       # changed while being pruned (a retry made that moment): next run
    transactions: int = 0
    longest: float = 0.0   # seconds of the longest transaction
    finished: bool = True  # False: the time budget ran out first
    durations: list[float] = field(default_factory=list, repr=False)

    @property
    def rows(self) -> int:
        return self.tasks + self.steps + self.log_lines


def cutoff_for(days: int, now: datetime | None = None) -> datetime:
    return (now or timezone.now()) - timedelta(days=days)


def eligible(cutoff: datetime) -> QuerySet[Task]:
    """Finished tasks older than CUTOFF that nothing needs: every rule but the retry chains,
    which are walked per batch (chain_keeps)."""
    newer_scheduled = Task.objects.filter(site_id=OuterRef("site_id"), target_type="site", kind="backup",
                                          args__kind=Backup.SCHEDULED, created_at__gt=OuterRef("created_at"))
    newest_scheduled = Q(target_type="site", kind="backup", args__kind=Backup.SCHEDULED) & ~Exists(newer_scheduled)
    # created_at < cutoff follows from finished_at < cutoff; it is there for the index.
    return (Task.objects.filter(state__in=Task.FINAL, finished_at__lt=cutoff, created_at__lt=cutoff)
            .exclude(Exists(Lock.objects.filter(task_id=OuterRef("pk"))))
            .exclude(Exists(Backup.objects.filter(task_id=OuterRef("pk"))))
            .exclude(newest_scheduled))


def chain_keeps(ids: list[int], cutoff: datetime) -> set[int]:
    """Those of IDS with a retry (a retry of a retry, ...) that is not eligible: they stay, so
    that "retry of #N" still leads somewhere. Chains are short; one query per generation."""
    parent: dict[int, int] = {}
    keep: set[int] = set()
    frontier = list(ids)
    while frontier:
        children = list(Task.objects.filter(retry_of_id__in=frontier).values_list("pk", "retry_of_id"))
        if not children:
            break
        parent.update(children)
        doomed = set(eligible(cutoff).filter(pk__in=[c for c, _ in children]).values_list("pk", flat=True))
        for child, _ in children:
            if child not in doomed:
                node = child
                while node in parent:
                    node = parent[node]
                    keep.add(node)
        frontier = [c for c, _ in children if c in doomed]
    return keep & set(ids)


def _counts(model: type[Model], ids: list[int]) -> dict[int, int]:
    return dict(model._default_manager.filter(task_id__in=ids).values("task_id").annotate(n=Count("pk"))
                .values_list("task_id", "n"))


def _groups(ids: list[int], lines: dict[int, int], steps: dict[int, int], batch: int) -> Iterator[list[int]]:
    """IDS in runs whose rows (task, steps, lines) fit in BATCH; a task alone over it is its own run."""
    group: list[int] = []
    size = 0
    for pk in ids:
        rows = 1 + steps.get(pk, 0) + min(lines.get(pk, 0), batch)
        if group and size + rows > batch:
            yield group
            group, size = [], 0
        group.append(pk)
        size += rows
    if group:
        yield group


class _Pruner:
    def __init__(self, cutoff: datetime, batch: int, dry_run: bool, deadline: float | None,
                 progress: Callable[[Pruned], None] | None) -> None:
        self.result = Pruned(cutoff)
        self.cutoff, self.batch, self.dry_run = cutoff, max(1, batch), dry_run
        self.deadline, self.progress = deadline, progress

    def _timed(self, work: Callable[[], T]) -> T:
        started = time.perf_counter()
        with transaction.atomic():
            value = work()
        took = time.perf_counter() - started
        self.result.transactions += 1
        self.result.longest = max(self.result.longest, took)
        self.result.durations.append(took)
        # Rest as long as the transaction held the lock: waiting writers get their turn. The
        # checkpoint happens in the rest (it does not hold the write lock).
        rested = self._checkpoint() if self.result.transactions % CHECKPOINT_EVERY == 0 else 0.0
        time.sleep(max(0.0, min(took, 0.25) - rested))
        return value

    def _checkpoint(self) -> float:
        """SQLite: copy the WAL back into the database between transactions. Left to SQLite,
        the commit that passes 1,000 WAL pages checkpoints inside the COMMIT call, which then
        takes tens of milliseconds longer (the lock is free by then, but nobody can tell)."""
        if connection.vendor != "sqlite":
            return 0.0
        started = time.perf_counter()
        with connection.cursor() as cursor:
            cursor.execute("PRAGMA wal_checkpoint(PASSIVE)")
        return time.perf_counter() - started

    def _autocheckpoint(self, pages: int) -> None:
        if connection.vendor == "sqlite" and not self.dry_run:
            with connection.cursor() as cursor:
                cursor.execute(f"PRAGMA wal_autocheckpoint={int(pages)}")

    def _out_of_time(self) -> bool:
        return self.deadline is not None and time.monotonic() >= self.deadline

    def run(self) -> Pruned:
        self._autocheckpoint(0)
        try:
            return self._run()
        finally:
            self._autocheckpoint(1000)  # SQLite's default

    def _run(self) -> Pruned:
        after = 0
        while not self._out_of_time():
            ids = list(eligible(self.cutoff).filter(pk__gt=after).order_by("pk").values_list("pk", flat=True)[:SCAN])
            if not ids:
                break
            after = ids[-1]
            kept = chain_keeps(ids, self.cutoff)
            self.result.kept += len(kept)
            ids = [pk for pk in ids if pk not in kept]
            lines, steps = _counts(TaskLog, ids), _counts(TaskStep, ids)
            if self.dry_run:
                self.result.tasks += len(ids)
                self.result.steps += sum(steps.values())
                self.result.log_lines += sum(lines.values())
                continue
            for pk in ids:
                if lines.get(pk, 0) > self.batch:
                    self._trim_log(pk)
            for group in _groups(ids, lines, steps, self.batch):
                if self._out_of_time():
                    break
                self._delete(group)
            if self.progress:
                self.progress(self.result)
        self.result.finished = not self._out_of_time()
        return self.result

    def _trim_log(self, pk: int) -> None:
        """A task whose log alone is over a batch: its lines go first, a batch at a time."""
        while not self._out_of_time():
            chunk = list(TaskLog.objects.filter(task_id=pk).order_by("position")
                         .values_list("pk", flat=True)[:self.batch])
            if not chunk:
                return
            self.result.log_lines += self._timed(partial(_raw_delete, TaskLog.objects.filter(pk__in=chunk)))

    def _delete(self, group: list[int]) -> None:
        def work() -> tuple[int, int, int]:
            # Read again under the lock: a task changed since the scan (a lock, a backup, a retry
            # made meanwhile, which is newer than the cutoff) stays.
            retried = Task.objects.filter(retry_of_id=OuterRef("pk"), created_at__gte=self.cutoff)
            ids = list(eligible(self.cutoff).filter(pk__in=group).exclude(Exists(retried))
                       .values_list("pk", flat=True))
            if not ids:
                return 0, 0, 0
            # The database's foreign keys are not ON DELETE SET NULL (Django does it itself):
            # what points at a pruned task forgets it first.
            Task.objects.filter(retry_of_id__in=ids).update(retry_of=None)
            Task.objects.filter(waiting_on_id__in=ids).update(waiting_on=None)
            lines = _raw_delete(TaskLog.objects.filter(task_id__in=ids))
            steps = _raw_delete(TaskStep.objects.filter(task_id__in=ids))
            _raw_delete(TaskWatch.objects.filter(task_id__in=ids))
            return _raw_delete(Task.objects.filter(pk__in=ids)), steps, lines

        try:
            tasks, steps, lines = self._timed(work)
        except IntegrityError:
            # A row made meanwhile points at one of them (PostgreSQL checks at commit); the
            # whole group stays for the next run, which will see that row.
            self.result.skipped += len(group)
            return
        self.result.tasks += tasks
        self.result.steps += steps
        self.result.log_lines += lines
        self.result.skipped += len(group) - tasks


def _raw_delete(qs: QuerySet) -> int:
    # One DELETE ... WHERE, without Django's collector, which would first load every row to
    # cascade and set null what the caller has already handled.
    return qs._raw_delete(qs.db)


def prune(days: int, *, batch: int = BATCH, dry_run: bool = False, budget: float | None = None,
          now: datetime | None = None, progress: Callable[[Pruned], None] | None = None) -> Pruned:
    """Delete (DRY_RUN: count) finished tasks older than DAYS days, as the module says. BUDGET:
    stop after that many seconds (what is left is still old next time)."""
    if days < 1:
        raise ValueError("Tasks are pruned after 1 day at the earliest.")
    deadline = time.monotonic() + budget if budget is not None else None
    result = _Pruner(cutoff_for(days, now), batch, dry_run, deadline, progress).run()
    if result.finished:
        left = Task.objects.filter(state__in=Task.FINAL, finished_at__lt=result.cutoff).count()
        # Left behind: what the rules keep, and (not dry) the tasks that changed meanwhile.
        result.kept = left - result.tasks if dry_run else left - result.skipped
    return result


def summary(result: Pruned, dry_run: bool = False) -> str:
    verb = "Would prune" if dry_run else "Pruned"
    text = (f"{verb} {result.tasks:,} tasks ({result.steps:,} steps, {result.log_lines:,} log lines) "
            f"finished before {result.cutoff:%Y-%m-%d %H:%M} UTC")
    if not dry_run:
        text += f" in {result.transactions:,} transactions (longest {result.longest * 1000:.0f} ms)"
    text += f"; kept {result.kept:,} older tasks that backups, retries, locks or the backup schedule need"
    if result.skipped:
        text += f"; {result.skipped:,} changed meanwhile and wait for the next run"
    if not result.finished:
        text += "; stopped at the time budget, the rest goes next time"
    return text + "."


def run_scheduled() -> str:
    """What the django-q2 schedule calls (hourly): prune by the setting, within a time budget,
    and leave one audit event when something went."""
    days = int(settings.HARBORMASTER_TASK_RETENTION_DAYS)
    if days <= 0:
        return "task retention is off (HARBORMASTER_TASK_RETENTION_DAYS=0)"
    result = prune(days, budget=SCHEDULED_BUDGET)
    text = summary(result)
    if result.tasks:
        record(ACTOR, result)
        _logger.info("%s", text)
    return text


def record(actor: Actor | None, result: Pruned) -> None:
    from hosting import audit

    audit.record(actor, "tasks.pruned", after={"tasks": result.tasks, "steps": result.steps,
                                                "log_lines": result.log_lines, "cutoff": result.cutoff.isoformat()},
                 detail=summary(result)[:1000])


def clear(everything: bool = False, *, batch: int = BATCH) -> Pruned:
    """`tasks clear`: every finished task (EVERYTHING: every task, also queued, running and
    paused) goes with its steps and log, in transactions of at most BATCH rows with the
    pruner's rests between them: clearing 1,000,000 tasks never holds the write lock for more
    than one batch. Each batch is read again in its transaction and deleted through Django's
    collector, so what points at a task (retries, backups, locks, watches) is handled as one
    task's delete would handle it."""
    pruner = _Pruner(timezone.now(), batch, False, None, None)
    result = pruner.result

    def tasks() -> QuerySet[Task]:
        return Task.objects.all() if everything else Task.objects.filter(state__in=Task.FINAL)

    def work(group: list[int]) -> dict[str, int]:
        return tasks().filter(pk__in=group).delete()[1]

    pruner._autocheckpoint(0)
    try:
        after = 0
        while ids := list(tasks().filter(pk__gt=after).order_by("pk").values_list("pk", flat=True)[:SCAN]):
            after = ids[-1]
            lines, steps = _counts(TaskLog, ids), _counts(TaskStep, ids)
            for pk in ids:
                if lines.get(pk, 0) > pruner.batch:
                    pruner._trim_log(pk)
            for group in _groups(ids, lines, steps, pruner.batch):
                deleted = pruner._timed(partial(work, group))
                result.tasks += deleted.get("hosting.Task", 0)
                result.steps += deleted.get("hosting.TaskStep", 0)
                result.log_lines += deleted.get("hosting.TaskLog", 0)
    finally:
        pruner._autocheckpoint(1000)
    return result
