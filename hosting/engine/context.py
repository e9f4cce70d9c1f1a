"""The Context a step receives (hosting.engine.steps.Context): the task, a Runner wired to the
heartbeat and deadline, the task log, and `state` kept in Task.result["state"].

With an owner, every write of the run (state, flags, step rows, the current step) is one
conditional statement that changes something only while the task is running under that owner:
a worker that was stopped (SIGSTOP, a frozen host) and resumes after a reaper took its task over
writes nothing, and stops (Lost). The records a step writes (sites, backups, audit events, the
tasks it queues, database locks) go through `recording()`, which holds them to the same rule."""
from __future__ import annotations

import json
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from django.db import transaction

from hosting.engine import reconnect
from hosting.engine.heartbeat import LOST, Stop
from hosting.engine.owner import Owner
from hosting.engine.tasklog import TaskLogWriter
from hosting.models import Task
from provision.errors import Cancelled
from provision.runner import Runner


class Lost(Cancelled):
    """The task is not this run's any more: stop, and write nothing."""


class TaskContext:
    def __init__(self, task: Task, runner: Runner, log: TaskLogWriter, *, owner: Owner | None = None,
                 stop: Stop | None = None) -> None:
        self.task = task
        self.runner = runner
        self._log = log
        self.owner = owner
        self.stop = stop
        result = task.result if isinstance(task.result, dict) else {}
        self.result: dict[str, Any] = dict(result)
        self.state: dict[str, Any] = dict(result.get("state") or {})
        # What the row holds now, so that a step that changed nothing writes nothing.
        self._saved = _snapshot({**result, "state": self.state})
        # The operation said something the person who asked should look at: the task ends
        # `warning`, not `succeeded`.
        self.warned = False

    def log(self, level: str, line: str) -> None:
        if level == "warning":
            self.warned = True
        self._log.write(level, self.runner.redact(line))

    def info(self, line: str) -> None:
        self.log("info", line)

    def warning(self, line: str) -> None:
        self.log("warning", line)

    def error(self, line: str) -> None:
        self.log("error", line)

    def check_stop(self) -> None:
        self.runner.check_stop()

    def save_state(self) -> None:
        """Persist `state` now: a resumed task, or an undo run by a reaper after this worker is
        lost, starts from what is saved here."""
        self.result["state"] = self.state
        snapshot = _snapshot(self.result)
        if snapshot is not None and snapshot == self._saved:
            return
        self.owned(reconnect.retry(self.mine().update, result=self.result))
        self._saved = snapshot

    def mine(self):  # noqa: ANN201 - a QuerySet of Task
        """The task's row while this run owns it (every row without an owner)."""
        rows = Task.objects.filter(pk=self.task.pk)
        return rows.filter(state=Task.RUNNING, **self.owner.fields()) if self.owner is not None else rows

    def owned(self, changed: int) -> int:
        """CHANGED rows from a conditional write of this run: none means the task was taken
        from it. Raises Lost then (and tells the worker to stop)."""
        if changed or self.owner is None:
            return changed
        if self.stop is not None:
            self.stop.request("lost", LOST)
        raise Lost(LOST)

    def check_owned(self) -> None:
        """Raise Lost if the run does not own the task any more (one SELECT; before work that
        no conditional write guards, such as a failed step cleaning up after itself)."""
        if self.owner is not None:
            self.owned(int(self.mine().exists()))

    @contextmanager
    def recording(self) -> Iterator[None]:
        """A transaction for the records a step writes, entered only while this run owns the
        task: the task's row is read under a row lock first (on SQLite the IMMEDIATE transaction
        holds every other writer off), so a reaper cannot take the task over between the check
        and the writes, and a run that lost it raises Lost before writing anything."""
        with transaction.atomic():
            if self.owner is not None:
                held = self.mine().select_for_update(no_key=True).values_list("pk", flat=True)[:1]
                self.owned(len(held))
            yield

    def set_flag(self, key: str, value: Any) -> None:
        self.result[key] = value
        self.save_state()


def _snapshot(result: dict[str, Any]) -> str | None:
    """RESULT as the row would hold it (None when it cannot be encoded: then it is written, and
    the database says what is wrong). Only this worker writes a running task's result."""
    try:
        return json.dumps(result, sort_keys=True)
    except (TypeError, ValueError):
        return None
