"""What scripts read: every command's --json and every CSV export has ISO 8601 times with the zone
and microseconds (also when the fraction is zero), numbers as numbers, and one shape of a task,
the API's: `tasks show --json` is GET /api/v1/tasks/{id}, `tasks list --json` its list's items."""
from __future__ import annotations

import csv
import io
import json
import re
from datetime import datetime, timedelta
from io import StringIO

import pytest
from django.core.management import CommandError, call_command
from django.urls import reverse
from django.utils import timezone

from hosting import audit
from hosting.models import Task, TaskLog, TaskStep
from tests.security.interfaces_cast import *  # noqa: F403
from tests.tenancy.conftest import api_client
from tests.views.conftest import make_task

STAMP = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{6}\+00:00$")
TIME_KEYS = {"created_at", "started_at", "finished_at", "heartbeat_at", "deadline_at", "at", "checked_at"}


def machine_time(value: str) -> datetime:
    assert STAMP.match(value), value
    parsed = datetime.fromisoformat(value)
    assert parsed.tzinfo is not None and parsed.utcoffset() == timedelta(0)
    return parsed


def check_times(data) -> int:
    """Every time in DATA has the machine shape; returns how many were seen."""
    seen = 0
    if isinstance(data, dict):
        for key, value in data.items():
            if key in TIME_KEYS and value is not None:
                machine_time(value)
                seen += 1
            else:
                seen += check_times(value)
    elif isinstance(data, list):
        seen += sum(check_times(v) for v in data)
    return seen


def run(*args: str) -> str:
    out = StringIO()
    call_command(*args, stdout=out, stderr=StringIO())
    return out.getvalue()


@pytest.fixture
def finished(site, admin_user):
    """A finished task whose times include a whole second (no fraction to print by accident)."""
    task = make_task(site, "backup", Task.SUCCEEDED, by=admin_user, attempt=1)
    whole = timezone.now().replace(microsecond=0) - timedelta(minutes=1)
    Task.objects.filter(pk=task.pk).update(created_at=whole, started_at=whole + timedelta(seconds=2, microseconds=5),
                                           finished_at=whole + timedelta(seconds=2, microseconds=205_005))
    TaskStep.objects.create(task=task, position=0, name="dump", state="done", started_at=whole, finished_at=whole)
    TaskLog.objects.create(task=task, position=0, at=whole, line="dumped")
    task.refresh_from_db()
    return task


def test_tasks_show_json_is_the_apis_task(finished, admin_user):
    cli = json.loads(run("tasks", "show", str(finished.pk), "--json"))
    api = api_client(admin_user).get(f"/api/v1/tasks/{finished.pk}").json()
    assert cli == api
    assert check_times(cli) >= 5
    assert machine_time(cli["created_at"]).microsecond == 0  # printed as .000000, still there
    assert isinstance(cli["id"], int) and isinstance(cli["site"], int) and isinstance(cli["attempt"], int)
    assert cli["duration"] == pytest.approx(0.205) and isinstance(cli["duration"], float)
    started, ended = machine_time(cli["started_at"]), machine_time(cli["finished_at"])
    assert (ended - started).total_seconds() == cli["duration"]


def test_tasks_list_json_items_are_the_apis_list_items(finished, site, admin_user):
    queued = make_task(site, "verify", Task.QUEUED)
    cli = json.loads(run("tasks", "list", "--json"))
    api = api_client(admin_user).get("/api/v1/tasks").json()["items"]
    assert cli == api and [t["id"] for t in cli] == [queued.pk, finished.pk]
    assert check_times(cli) == 4 and cli[0]["duration"] is None and cli[0]["created_by"] is None


def test_tasks_log_json_is_the_apis_log(finished, admin_user):
    cli = json.loads(run("tasks", "log", str(finished.pk), "--json"))
    assert cli == api_client(admin_user).get(f"/api/v1/tasks/{finished.pk}/log").json()
    assert check_times(cli) == 1 and cli["lines"][0]["position"] == 0


def test_ping_json_has_a_machine_time(server):
    out = StringIO()
    with pytest.raises(CommandError):  # no cluster serves the server's queue: it says so, and exits 1
        call_command("ping", "--json", stdout=out, stderr=StringIO())
    data = json.loads(out.getvalue())
    assert check_times(data) == 1 and all(isinstance(c["latency_ms"], (float, type(None))) for c in data["checks"])


def _csv(text: str) -> list[dict[str, str]]:
    return list(csv.DictReader(io.StringIO(text)))


def test_every_csv_export_has_machine_times_and_numbers(as_admin, finished, tmp_path):
    path = tmp_path / "tasks.csv"
    call_command("tasks", "export", "--csv", str(path), stdout=StringIO(), stderr=StringIO())
    cli = _csv(path.read_text(encoding="utf-8"))
    panel = _csv(b"".join(as_admin.get(reverse("task-export")).streaming_content).decode())
    assert cli == panel
    (row,) = cli
    assert int(row["id"]) == finished.pk and float(row["duration"]) == pytest.approx(0.205)
    assert all(machine_time(row[k]) for k in ("created", "started", "finished"))
    audit.record("alice", "site.note", after={"size": 3})
    events = _csv(b"".join(as_admin.get(reverse("audit-export")).streaming_content).decode())
    note = next(e for e in events if e["action"] == "site.note")
    machine_time(note["at"])
    assert json.loads(note["after"]) == {"size": 3}
