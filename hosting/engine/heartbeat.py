"""The heartbeat (DESIGN §4.3): a thread in the worker process that, every
HARBORMASTER_HEARTBEAT seconds while a task runs, stamps heartbeat_at with the database clock,
reads cancel_requested and the deadline, records the task's process groups and flushes its log.
Between beats it looks at the log every LOOK_EVERY seconds and writes lines that have waited
FLUSH_AFTER seconds, so that the live log shows them soon and lines written just before the
worker is SIGKILLed are not lost with it (the writer flushes by itself only when a later line
comes).

The beat is conditional on the owner: when it changes nothing, the task was force-stopped or
taken over by a reaper, and this worker must stop and kill its processes at once."""
from __future__ import annotations

import logging
import threading
import time
from datetime import datetime, timedelta

from django.conf import settings
from django.db import connection
from django.db.models import BooleanField, ExpressionWrapper, Q

from hosting.engine import clock, reconnect
from hosting.engine.owner import Owner
from hosting.engine.processes import own_groups
from hosting.engine.tasklog import LOOK_EVERY, TaskLogWriter
from hosting.models import Task

# A running task whose heartbeat is older than this many beats is lost (hosting.engine.reaper).
LOST_BEATS = 3
LOST = ("This worker no longer owns the task (it was force-stopped or settled by a reaper); "
        "it writes nothing more, and its processes were stopped.")
_logger = logging.getLogger("hosting.engine")


class Stop:
    """Why the task must stop, if it must. Shared by the heartbeat thread, the worker's signal
    handler and the Runner (as its should_stop callback, asked every fraction of a second)."""

    # A cancel outranks a shutdown: a worker stopping must not re-queue what a person cancelled.
    PRIORITY = {"deadline": 1, "shutdown": 2, "cancel": 3, "lost": 4}

    def __init__(self) -> None:
        self.kind: str | None = None
        self.reason: str | None = None
        self.signals = 0
        # Re-entrant: the worker's signal handler requests a stop, and a second signal may
        # interrupt that handler in the same thread while it holds the lock.
        self._lock = threading.RLock()

    def request(self, kind: str, reason: str) -> None:
        with self._lock:
            if self.kind is None or self.PRIORITY[kind] > self.PRIORITY[self.kind]:
                self.kind, self.reason = kind, reason

    def __call__(self) -> str | None:
        return self.reason if self.kind else None

    def during_rollback(self) -> str | None:
        """A rollback is only stopped when the task is no longer ours, or the worker is told
        to stop a second time."""
        if self.kind == "lost" or self.signals >= 2:
            return self.reason or "stopped"
        return None


def interval() -> float:
    return float(settings.HARBORMASTER_HEARTBEAT)


def lost_before(now: datetime, beat: float | None = None) -> datetime:
    """The one lost-task rule: a running task whose last heartbeat is older than this (LOST_BEATS
    beats before NOW) is lost. The reaper acts on it; the dashboard, the live task view and the
    health checks show it (a task that beat since is alive)."""
    return now - timedelta(seconds=LOST_BEATS * (interval() if beat is None else beat))


class Heartbeat:
    def __init__(self, task_id: int, owner: Owner, stop: Stop, log: TaskLogWriter | None = None,
                 *, deadline_seconds: int | None = None, every: float | None = None) -> None:
        self.task_id = task_id
        self.owner = owner
        self.stop = stop
        self.log = log
        self.deadline_seconds = deadline_seconds
        self.every = every if every is not None else interval()
        self._halt = threading.Event()
        self._thread: threading.Thread | None = None
        self._groups: list = []

    def beat(self) -> bool:
        """One beat. Returns False when the task is no longer this owner's."""
        alive = Task.objects.filter(pk=self.task_id, state=Task.RUNNING, **self.owner.fields()).update(
            heartbeat_at=clock.now_expr())
        if not alive:
            self.stop.request("lost", LOST)
            return False
        row = (Task.objects.filter(pk=self.task_id)
               .annotate(past=ExpressionWrapper(Q(deadline_at__lte=clock.now_expr()), output_field=BooleanField()))
               .values("cancel_requested", "cancel_reason", "past").first())
        if row and row["cancel_requested"]:
            self.stop.request("cancel", row["cancel_reason"] or "Cancelled")
        if row and row["past"]:
            self.stop.request("deadline", f"The task ran past its deadline of {self.deadline_seconds} s")
        groups = own_groups(self.task_id, self.owner)
        if groups and groups != self._groups:
            self._groups = groups
            Task.objects.filter(pk=self.task_id, state=Task.RUNNING, **self.owner.fields()).update(processes=groups)
        if self.log is not None:
            self.log.flush()
        return True

    def start(self) -> None:
        self._thread = threading.Thread(target=self._loop, name=f"heartbeat-{self.task_id}", daemon=True)
        self._thread.start()

    def halt(self) -> None:
        self._halt.set()
        if self._thread is not None:
            self._thread.join(timeout=30)

    def _loop(self) -> None:
        failing = False
        next_beat = time.monotonic() + self.every
        try:
            while not self._halt.wait(max(0.0, min(LOOK_EVERY, next_beat - time.monotonic()))):
                try:
                    if time.monotonic() < next_beat:
                        if self.log is not None and self.log.due():
                            self.log.flush()
                        continue
                    next_beat = time.monotonic() + self.every
                    self.beat()
                except Exception as exc:  # noqa: BLE001 - a database hiccup must not end the beat;
                    # three missed beats make the task lost, which is the right outcome
                    if not reconnect.connection_lost(exc):
                        _logger.exception("heartbeat of task %s failed", self.task_id)
                    elif not failing:
                        _logger.warning("heartbeat of task %s: the control database is unreachable (%s)",
                                        self.task_id, exc.__class__.__name__)
                    failing = True
                    # Django never reopens a failed connection by itself: without this, every
                    # later beat would fail too, long after the database is back.
                    reconnect.reset()
                else:
                    failing = False
        finally:
            connection.close()
