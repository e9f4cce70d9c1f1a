"""One structured line per task state change, written by the engine at the moment of the change:
queued, running, succeeded / warning / failed / cancelled, paused, and back to queued (a reaper
or a shutdown re-queueing it, a human resuming it).

Logger "harbormaster.tasks", one JSON object per line on stdout (see settings.LOGGING), so that
journald has each change as it happens. The line is emitted after the changing transaction
commits: a change that was rolled back is never reported. Why here and not in a watcher: the
engine changes tasks with conditional UPDATEs, which send no signal, and a watcher polling
every minute would report a minute late (hosting.events still polls, for notifications)."""
from __future__ import annotations

import json
import logging
from datetime import datetime
from typing import Any

from django.db import transaction
from django.utils import timezone

from hosting.machine import iso
from hosting.models import Task

task_logger = logging.getLogger("harbormaster.tasks")
_logger = logging.getLogger("hosting.engine")


def line(task: Task, previous: str | None, at: datetime | None = None) -> dict[str, Any]:
    """The line of TASK having just become task.state (from PREVIOUS, None when it is new)."""
    state = task.state
    duration = None
    if state in Task.FINAL and task.started_at and task.finished_at:
        duration = round((task.finished_at - task.started_at).total_seconds(), 3)
    if at is None:
        at = {Task.RUNNING: task.started_at, Task.QUEUED: task.created_at if previous is None else None}.get(
            state, task.finished_at if state in Task.FINAL else None)
    item: dict[str, Any] = {
        "event": "task.state", "task": task.pk, "type": f"{task.target_type}.{task.kind}",
        "target": task.target_label, "state": state, "previous": previous, "attempt": task.attempt,
        "duration": duration, "queue": task.server.queue if task.server_id else None,
        "server": task.server_id, "client": task.client.name if task.client_id else None,
        "at": iso(at or timezone.now()),
    }
    if state in Task.FINAL + (Task.PAUSED,) and task.summary:
        item["summary"] = task.summary[:300]
    if state == Task.QUEUED and task.waiting_reason:
        item["reason"] = task.waiting_reason[:300]
    if state == Task.RUNNING and task.owner_pid:
        item["owner"] = f"{task.owner_host}:{task.owner_pid}"
    return item


def emit(item: dict[str, Any]) -> None:
    task_logger.info(json.dumps(item, sort_keys=True, default=str))


def created(task: Task) -> None:
    """TASK was just created (queued): log it once the creating transaction commits."""
    transaction.on_commit(lambda: _safely(lambda: emit(line(task, None))), robust=True)


def changed(task_id: int, previous: str | None) -> Task | None:
    """Inside the transaction that changed TASK_ID's state: read the row as it now is, and log
    it once that transaction commits. Returns the row read (the claim hands it to its worker)."""
    task = Task.objects.select_related("server", "client").filter(pk=task_id).first()
    if task is None:
        return None
    item = line(task, previous)
    transaction.on_commit(lambda: _safely(lambda: emit(item)), robust=True)
    return task


def _safely(job: Any) -> None:
    # A log line must never break the engine's work.
    try:
        job()
    except Exception:  # noqa: BLE001
        _logger.exception("could not log a task state change")
