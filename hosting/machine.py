"""Machine-readable output: one time format and one JSON encoder for the API, every command's
`--json` and every CSV export, so that a script can compute a dispatch latency or compare hosts.

Times are ISO 8601 (RFC 3339) in UTC with microseconds, always: `2026-12-02T15:04:05.123456+00:00`,
also when the fraction is zero, so that every value has one shape; the JSON state lines of
hosting.engine.statelog have the same. Python's datetime.fromisoformat (any version), JavaScript's
Date and PostgreSQL read it as it is."""
from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import UTC, datetime
from typing import Any

from django.db.models import QuerySet
from ninja.responses import NinjaJSONEncoder


def iso(value: datetime) -> str:
    return value.astimezone(UTC).isoformat(timespec="microseconds")


def iso_or_empty(value: datetime | None) -> str:
    """A CSV cell: the time, or nothing."""
    return iso(value) if value is not None else ""


def seconds(start: datetime | None, end: datetime | None) -> float | None:
    """A duration as a number of seconds (microseconds kept), None when it has not both ends."""
    if start is None or end is None:
        return None
    return (end - start).total_seconds()


class JSONEncoder(NinjaJSONEncoder):
    def default(self, o: Any) -> Any:
        if isinstance(o, datetime):
            return iso(o)
        return super().default(o)


class LenientJSONEncoder(JSONEncoder):
    """For dumps of anything (the debug bundle's settings): what JSON cannot hold becomes text."""

    def default(self, o: Any) -> Any:
        try:
            return super().default(o)
        except TypeError:
            return str(o)


def dumps(data: Any, *, lenient: bool = False, **options: Any) -> str:
    return json.dumps(data, cls=LenientJSONEncoder if lenient else JSONEncoder, **options)


# The task export, one shape for the panel's download and `manage.py tasks export`; the rows of
# both exports are written by hosting.csvsafe, which guards every cell against formulas.
TASK_CSV_FIELDS = ["id", "type", "target", "state", "user", "created", "started", "finished", "duration"]
_TASK_COLUMNS = ("pk", "target_type", "kind", "target_label", "state", "created_by_label",
                 "created_by__username", "created_at", "started_at", "finished_at")


def task_csv_rows(tasks: QuerySet[Any]) -> Iterator[list[Any]]:
    """The export's rows of TASKS, streamed (200,000 tasks never sit in memory). A task nobody
    started (the system's) has an empty user, as the API's `created_by: null`."""
    for pk, target_type, kind, label, state, by, username, created, started, finished in (
            tasks.values_list(*_TASK_COLUMNS).iterator(chunk_size=2000)):
        took = seconds(started, finished)
        yield [pk, f"{target_type}.{kind}", label, state, by or username or "",
               iso_or_empty(created), iso_or_empty(started), iso_or_empty(finished), "" if took is None else took]


AUDIT_CSV_FIELDS = ["at", "actor", "action", "object_type", "object_id", "object", "client", "address", "detail",
                    "before", "after"]


def audit_csv_rows(events: QuerySet[Any], show: Any = None) -> Iterator[list[Any]]:
    """The audit export's rows of EVENTS, streamed. Before and after as JSON (not Python's repr):
    a script reads them back. SHOW (hosting.shown): what a client member reads of paths."""
    def seen(value: Any) -> Any:
        return show.data(value) if show is not None else value

    for e in events.select_related("client").iterator(chunk_size=2000):
        yield [iso(e.at), e.actor_label, e.action, e.object_type, e.object_id, e.object_label,
               e.client.name if e.client else "", e.address or "", seen(e.detail),
               dumps(seen(e.before)) if e.before is not None else "",
               dumps(seen(e.after)) if e.after is not None else ""]
