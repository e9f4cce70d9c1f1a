"""Task log lines: buffered by the worker, written in small batches, ordered by `position`.

A chatty program (rsync -v, drush) can print thousands of lines a second; one INSERT and one
transaction per line would make the log the bottleneck of the control database. Lines are kept
for at most FLUSH_EVERY seconds (the panel polls about that often) and written together."""
from __future__ import annotations

import logging
import threading
import time

from django.db import IntegrityError, transaction
from django.db.models import Max
from django.utils import timezone

from hosting.engine import reconnect
from hosting.models import TaskLog

FLUSH_EVERY = 0.5
MAX_BUFFER = 200
# Lines kept while the control database is unreachable; older ones are dropped (and counted).
MAX_KEPT = 20_000
_LEVELS = {"debug", "info", "warning", "error"}
_logger = logging.getLogger("hosting.engine")


def append(task_id: int, level: str, line: str) -> None:
    """Write one line now (reaper, controls: rare lines from outside the worker)."""
    _write(task_id, [(timezone.now(), _level(level), line)])


def _level(level: str) -> str:
    return level if level in _LEVELS else "info"


def _write(task_id: int, lines: list[tuple]) -> None:
    # Positions are max+1 under the write transaction. On SQLite (IMMEDIATE) writers queue up;
    # on PostgreSQL two writers of the same task can pick the same position: the unique
    # constraint refuses one, which tries again.
    for attempt in range(8):
        try:
            with transaction.atomic():
                last = TaskLog.objects.filter(task_id=task_id).aggregate(m=Max("position"))["m"]
                start = 0 if last is None else last + 1
                TaskLog.objects.bulk_create([
                    TaskLog(task_id=task_id, position=start + i, at=at, level=level, line=line)
                    for i, (at, level, line) in enumerate(lines)
                ])
            return
        except IntegrityError:
            if attempt == 7:
                raise
            time.sleep(0.01 * (attempt + 1))


class TaskLogWriter:
    """The log of one running task. Thread-safe: the step code, the Runner's output pump and the
    heartbeat thread all write to it."""

    def __init__(self, task_id: int) -> None:
        self.task_id = task_id
        self._buffer: list[tuple] = []
        self._lock = threading.Lock()
        self._last_flush = time.monotonic()
        # Set while the database is unreachable: lines wait in the buffer, written at most every
        # FLUSH_EVERY (not at every line past MAX_BUFFER), and the oldest beyond MAX_KEPT dropped.
        self._failing = False
        self._dropped = 0

    def write(self, level: str, line: str) -> None:
        with self._lock:
            self._buffer.append((timezone.now(), _level(level), line))
            full = len(self._buffer) >= MAX_BUFFER and not self._failing
            due = full or time.monotonic() - self._last_flush >= FLUSH_EVERY
        if due:
            self.flush()

    __call__ = write

    def flush(self, *, strict: bool = False) -> None:
        """Write the buffered lines. When the database cannot take them they stay buffered for
        the next flush (STRICT: and the error is raised, for reconnect.retry)."""
        with self._lock:
            lines, self._buffer = self._buffer, []
            self._last_flush = time.monotonic()
            if not lines:
                return
            note = [(timezone.now(), "warning", f"{self._dropped} log lines were dropped while the control "
                     "database was unreachable.")] if self._dropped else []
            try:
                _write(self.task_id, note + lines)
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

    def _keep(self, lines: list[tuple]) -> None:
        if not self._failing:
            _logger.warning("task %s: the control database is unreachable; keeping its log lines", self.task_id)
        self._failing = True
        if len(lines) > MAX_KEPT:
            self._dropped += len(lines) - MAX_KEPT
            lines = lines[-MAX_KEPT:]
        self._buffer = lines
