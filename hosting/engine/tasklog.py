"""Task log lines: buffered by the worker, written in small batches, ordered by `position`.

A chatty program (rsync -v, drush) can print thousands of lines a second; one INSERT and one
transaction per line would make the log the bottleneck of the control database. A line is
written at once when the last write is FLUSH_AFTER seconds old or more; lines that come sooner
wait and are written together, by the next line after that or by the heartbeat thread, which
looks every LOOK_EVERY seconds. So a line is in the database within about FLUSH_AFTER +
LOOK_EVERY seconds (the live log shows it within a second, with the page's 0.5 s poll), a
chatty program costs at most 1/FLUSH_AFTER transactions a second, and a SIGKILLed worker loses
the lines of its last fraction of a second at most.

Every line is made storable and capped (hosting.engine.loglimits), and a task's log is bounded.

A writer with an owner (a worker, or a reaper rolling a task back) writes only while the task is
running under that owner: the check is folded into the statement that reads the next position,
so it costs nothing. A worker whose task was taken from it (reaped, force-stopped) drops its
lines from then on and is told (on_lost), so that it stops: it must write nothing after the
line that ends the task."""
from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable

from django.db import DatabaseError, IntegrityError, transaction
from django.db.models import Aggregate, Count, Max, OuterRef, Subquery, Sum
from django.db.models.functions import Left, Length
from django.utils import timezone

from hosting.engine import reconnect
from hosting.engine.loglimits import Budget, Placed, clean, limits, over_head, resume
from hosting.engine.owner import Owner
from hosting.models import Task, TaskLog

FLUSH_AFTER = 0.2
LOOK_EVERY = 0.1
MAX_BUFFER = 200
# Lines kept while the control database is unreachable; older ones are dropped (and counted).
MAX_KEPT = 20_000
_LEVELS = {value for value, _ in TaskLog.LEVELS}
_logger = logging.getLogger("hosting.engine")


def append(task_id: int, level: str, line: str) -> None:
    """Write one line now (reaper, controls, the end of a task: rare lines from outside the
    worker's writer, never counted against the log's budget)."""
    _insert_batch(task_id, [(timezone.now(), _level(level), clean(line))])


def _level(level: str) -> str:
    return level if level in _LEVELS else "info"


def _insert_batch(task_id: int, lines: list[tuple]) -> None:
    # Positions are max+1 under the write transaction. On SQLite (IMMEDIATE) writers queue up;
    # on PostgreSQL two writers of the same task can pick the same position: the unique
    # constraint refuses one, which tries again.
    def write(careful: bool) -> bool:
        last = TaskLog.objects.filter(task_id=task_id).aggregate(m=Max("position"))["m"]
        start = 0 if last is None else last + 1
        _insert(task_id, [(start + i, line) for i, line in enumerate(lines)], careful=careful)
        return True

    _transact(task_id, write)


class _Refused(Exception):
    """The database refused a batch for one of its lines: written again one line at a time."""


def _transact(task_id: int, write: Callable[[bool], bool]) -> bool:
    """Run WRITE in a transaction, again when two writers took the same position, and again
    line by line (careful) when the database refused a line."""
    careful = False
    for attempt in range(8):
        try:
            with transaction.atomic():
                return write(careful)
        except IntegrityError:
            if attempt == 7:
                raise
            time.sleep(0.01 * (attempt + 1))
        except _Refused as exc:
            _logger.warning("task %s: the database refused a log line (%s); writing its batch line by line",
                            task_id, exc)
            careful = True
    raise IntegrityError(f"task {task_id}: no free log position after 8 attempts")


def _insert(task_id: int, rows: list[tuple[int, tuple]], *, careful: bool = False) -> None:
    """Insert ROWS ((position, (at, level, line))). A line the database refuses anyway (clean()
    should leave none) must not take its batch with it: CAREFUL inserts one row at a time,
    each in a savepoint, and puts a note in place of a refused one."""
    made = [TaskLog(task_id=task_id, position=p, at=at, level=level, line=line) for p, (at, level, line) in rows]
    if not careful:
        try:
            TaskLog.objects.bulk_create(made)
        except IntegrityError:
            raise
        except (DatabaseError, ValueError) as exc:
            if reconnect.connection_lost(exc):
                raise
            raise _Refused(exc.__class__.__name__) from exc
        return
    for row in made:
        try:
            with transaction.atomic():
                row.save(force_insert=True)
        except IntegrityError:
            raise
        except (DatabaseError, ValueError) as exc:
            if reconnect.connection_lost(exc):
                raise
            row.line = f"[a log line could not be stored: {exc.__class__.__name__}]"
            with transaction.atomic():
                row.save(force_insert=True)


def _log_figures(first: bool) -> dict:
    logs = TaskLog.objects.filter(task_id=OuterRef("pk")).order_by().values("task_id")
    figures = {"last": Subquery(logs.annotate(v=Max("position")).values("v"))}
    if first:
        figures["count"] = Subquery(logs.annotate(v=Count("pk")).values("v"))
        figures["chars"] = Subquery(logs.annotate(v=Sum(Length("line"))).values("v"))
    return figures


class TaskLogWriter:
    """The log of one running task. Thread-safe: the step code, the Runner's output pump and the
    heartbeat thread all write to it."""

    def __init__(self, task_id: int, owner: Owner | None = None, *,
                 on_lost: Callable[[], None] | None = None) -> None:
        self.task_id = task_id
        self.owner = owner
        self.on_lost = on_lost
        # The task is not this owner's any more: every line is dropped from now on.
        self.lost = False
        self._buffer: list[tuple] = []
        self._lock = threading.Lock()
        self._last_flush = time.monotonic()
        # Set while the database is unreachable: lines wait in the buffer, written at most every
        # FLUSH_AFTER (not at every line past MAX_BUFFER), and the oldest beyond MAX_KEPT dropped.
        self._failing = False
        self._dropped = 0
        self._budget: Budget | None = None  # read with the first flush

    def write(self, level: str, line: str) -> None:
        if self.lost:
            return
        entry = (timezone.now(), _level(level), clean(line))
        with self._lock:
            self._buffer.append(entry)
            full = len(self._buffer) >= MAX_BUFFER and not self._failing
            due = full or time.monotonic() - self._last_flush >= FLUSH_AFTER
        if due:
            self.flush()

    __call__ = write

    def due(self) -> bool:
        """Lines wait that the heartbeat thread should write now."""
        return bool(self._buffer) and time.monotonic() - self._last_flush >= FLUSH_AFTER

    def flush(self, *, strict: bool = False) -> None:
        """Write the buffered lines. When the database cannot take them they stay buffered for
        the next flush (STRICT: and the error is raised, for reconnect.retry)."""
        with self._lock:
            lines, self._buffer = self._buffer, []
            self._last_flush = time.monotonic()
            if not lines or self.lost:
                return
            note = [(timezone.now(), "warning", f"{self._dropped} log lines were dropped while the control "
                     "database was unreachable.")] if self._dropped else []
            try:
                owned = self._store(note + lines)
            except Exception as exc:  # noqa: BLE001 - a log write must never fail the task
                if not reconnect.connection_lost(exc):
                    _logger.exception("could not write %d log lines of task %s", len(lines), self.task_id)
                    return
                self._keep(lines)
                reconnect.reset()  # the next flush opens a new session
                if strict:
                    raise
                return
            self._failing = False
            self._dropped = 0
            if not owned:
                self.lost = True
                _logger.warning("task %s is no longer run by %s: %d log lines dropped, and the rest will be",
                                self.task_id, self.owner, len(lines))
        if not owned and self.on_lost is not None:
            self.on_lost()

    def _store(self, lines: list[tuple]) -> bool:
        """Write LINES in one transaction; False (nothing written) when the task is not this
        writer's owner's any more."""
        placed: list[Placed] = []

        def write(careful: bool) -> bool:
            figures = self._figures()
            if figures is None:
                return False
            budget = self._budget or self._first_budget(figures["count"] or 0, figures["chars"] or 0)
            last = figures["last"]
            placed[:] = [budget.place(lines, 0 if last is None else last + 1)]
            self._apply(placed[0], careful)
            return True

        owned = _transact(self.task_id, write)
        if owned:
            self._budget = placed[0].state
        return owned

    def _first_budget(self, count: int, chars: int) -> Budget:
        """This writer's budget, from what earlier runs of the task wrote: a log they filled past
        its head is read once (at most the limit's rows), so that a re-queued, resumed or rolled
        back task keeps one head, one marker and one window, not one of each per run."""
        bounds = limits()
        if not over_head(bounds, count, chars):
            return Budget(bounds, count, chars)
        rows = (TaskLog.objects.filter(task_id=self.task_id).order_by("position")
                .values_list("position", Length("line"), Left("line", 60)))
        return resume(bounds, list(rows))

    def _figures(self) -> dict | None:
        """The last position of the log (and on the first flush its size), or None when the
        owner does not run the task any more."""
        first = self._budget is None
        if self.owner is None:
            aggregates: dict[str, Aggregate] = {"last": Max("position")}
            if first:
                aggregates.update(count=Count("pk"), chars=Sum(Length("line")))
            return TaskLog.objects.filter(task_id=self.task_id).aggregate(**aggregates)
        figures = _log_figures(first)
        return (Task.objects.filter(pk=self.task_id, state=Task.RUNNING, **self.owner.fields())
                .annotate(**figures).values(*figures).first())

    def _apply(self, placed: Placed, careful: bool) -> None:
        if placed.rows:
            _insert(self.task_id, placed.rows, careful=careful)
        if placed.delete:
            TaskLog.objects.filter(task_id=self.task_id, position__in=placed.delete).delete()
        if placed.marker is not None:
            position, dropped = placed.marker
            line = placed.state.marker_line(dropped)
            if placed.new_marker:
                _insert(self.task_id, [(position, (timezone.now(), "warning", line))])
            else:
                TaskLog.objects.filter(task_id=self.task_id, position=position).update(line=line)

    def _keep(self, lines: list[tuple]) -> None:
        if not self._failing:
            _logger.warning("task %s: the control database is unreachable; keeping its log lines", self.task_id)
        self._failing = True
        if len(lines) > MAX_KEPT:
            self._dropped += len(lines) - MAX_KEPT
            lines = lines[-MAX_KEPT:]
        self._buffer = lines
