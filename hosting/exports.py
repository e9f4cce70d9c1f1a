"""What the CSV exports hold (written by hosting.csvsafe): the task list's, the same in the panel
and in `manage.py tasks export`, and the audit trail's. Rows are read in chunks from a values
query, so a large export never sits in memory."""
from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from django.db.models import QuerySet

from hosting.models import AuditEvent, Task

TASK_FIELDS = ["id", "type", "target", "state", "user", "created", "started", "finished", "duration"]
AUDIT_FIELDS = ["at", "actor", "action", "object_type", "object_id", "object", "client", "address", "detail",
                "before", "after"]
CHUNK = 2000


def task_rows(tasks: QuerySet[Task]) -> Iterator[list[Any]]:
    """One row per task: empty cells for what a task has not got (no person, no start, no end)."""
    rows = tasks.values_list("pk", "target_type", "kind", "target_label", "state", "created_by__username",
                             "created_at", "started_at", "finished_at")
    for pk, target_type, kind, label, state, username, created, started, finished in rows.iterator(chunk_size=CHUNK):
        took = f"{(finished - started).total_seconds():.1f}" if started and finished else ""
        yield [pk, f"{target_type}.{kind}", label, state, username or "",
               *[(t.isoformat() if t else "") for t in (created, started, finished)], took]


def audit_rows(events: QuerySet[AuditEvent]) -> Iterator[list[Any]]:
    for e in events.select_related("client").iterator(chunk_size=CHUNK):
        yield [e.at.isoformat(), e.actor_label, e.action, e.object_type, e.object_id, e.object_label,
               e.client.name if e.client else "", e.address or "", e.detail,
               str(e.before) if e.before is not None else "", str(e.after) if e.after is not None else ""]
