"""The Context a step receives (hosting.engine.steps.Context): the task, a Runner wired to the
heartbeat and deadline, the task log, and `state` kept in Task.result["state"]."""
from __future__ import annotations

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
        reconnect.retry(Task.objects.filter(pk=self.task.pk).update, result=self.result)

    def set_flag(self, key: str, value: Any) -> None:
        self.result[key] = value
        reconnect.retry(Task.objects.filter(pk=self.task.pk).update, result=self.result)
