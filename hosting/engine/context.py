"""The Context a step receives (hosting.engine.steps.Context): the task, a Runner wired to the
heartbeat and deadline, the task log, and `state` kept in Task.result["state"]."""
from __future__ import annotations

import json
from typing import Any

from hosting.engine import reconnect
from hosting.engine.tasklog import TaskLogWriter
from hosting.models import Task
from provision.runner import Runner


class TaskContext:
    def __init__(self, task: Task, runner: Runner, log: TaskLogWriter) -> None:
        self.task = task
        self.runner = runner
        self._log = log
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
        reconnect.retry(Task.objects.filter(pk=self.task.pk).update, result=self.result)
        self._saved = snapshot

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
