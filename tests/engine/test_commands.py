"""`manage.py tasks ...` and `manage.py reap`: what they print, and non-zero exits on bad input."""
from __future__ import annotations

import csv
import json
import subprocess

import psutil
import pytest
from django.core.management import CommandError, call_command

from hosting.actions import queue_task
from hosting.engine.claim import claim
from hosting.engine.owner import Owner, hostname
from hosting.machine import iso
from hosting.models import AuditEvent, Task

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture
def inline(monkeypatch):
    """Deliveries run at once in this process, as a worker would run them."""
    from hosting.engine import worker

    monkeypatch.setattr("hosting.engine.dispatch.dispatch", lambda task_id, queue: worker.execute(task_id) and True)


def run(*args: str) -> str:
    from io import StringIO

    out = StringIO()
    call_command("tasks", *args, stdout=out, stderr=StringIO())
    return out.getvalue()


def test_it_creates_a_task_and_prints_its_id(site, inline):
    out = run("create", "backup", "--site", site.domain, "--arg", "sleep=0")
    task = Task.objects.get()
    assert out.strip() == str(task.pk)
    assert task.kind == "backup" and task.args == {"sleep": 0}
    assert AuditEvent.objects.filter(action="task.queued", actor_label__startswith="cli").exists()


def test_it_waits_and_exits_non_zero_unless_the_task_succeeds(site, inline):
    assert run("create", "site.verify", "--site", site.domain, "--wait").strip().isdigit()
    with pytest.raises(CommandError, match="ended failed"):
        run("create", "verify", "--site", site.domain, "--arg", 'steps=[{"name": "x", "sh": "exit 1"}]', "--wait")


@pytest.mark.parametrize("args, message", [
    (["create", "backup"], "exactly one of"),
    (["create", "backup", "--site", "nowhere.test"], "No site"),
    (["create", "fly", "--site", "www.acme.test"], "Unknown task type"),
    (["create", "platform.verify", "--site", "www.acme.test"], "is a platform task"),
    (["create", "backup", "--site", "www.acme.test", "--arg", "novalue"], "KEY=VALUE"),
    (["show", "abc"], "not a task id"),
    (["show", "4242"], "no task #4242"),
    (["resume", "4242"], "no task #4242"),
    (["clear", "--all"], "add --force"),
    (["force-unlock", "site:1"], "Nothing holds"),
])
def test_it_refuses_bad_input_with_a_message(site, args, message):
    with pytest.raises(CommandError, match=message):
        run(*args)


def test_it_shows_a_task_as_text_and_json(site, inline):
    task = queue_task(site, "backup", args={"steps": [{"name": "dump", "sh": "echo dumped"}]})
    text = run("show", str(task.pk))
    assert f"Task #{task.pk} site.backup www.acme.test: succeeded" in text and "1. dump: done" in text
    data = json.loads(run("show", str(task.pk), "--json"))
    assert data["state"] == "succeeded" and data["steps"][0]["name"] == "dump"
    log = json.loads(run("log", str(task.pk), "--json"))
    assert any(line["line"] == "dumped" for line in log["lines"]) and log["finished"] is True
    assert "dumped" in run("log", str(task.pk))


def test_it_lists_tasks_with_why_they_wait(site):
    holder = queue_task(site, "backup")
    claim(holder.pk, Owner.current())
    waiter = queue_task(site, "verify")
    claim(waiter.pk, Owner.current())
    out = run("list", "--state", "queued")
    assert out.splitlines() == ["ID\tTYPE\tTARGET\tSTATE\tCREATED\tNOTE",
                                f"{waiter.pk}\tsite.verify\twww.acme.test\tqueued\t"
                                f"{iso(waiter.created_at)}\twaiting for task #{holder.pk} holding site:{site.pk}"]


def test_it_controls_tasks(site, member):
    task = queue_task(site, "backup")
    assert run("cancel", str(task.pk)).strip() == f"Task {task.pk}: cancelled"
    out = run("retry", str(task.pk))
    new = Task.objects.exclude(pk=task.pk).get()
    assert out.strip() == f"Task {task.pk} retried as task {new.pk}"
    with pytest.raises(CommandError, match="only a paused task can be aborted"):
        run("abort", str(new.pk))
    claim(new.pk, Owner.current())
    assert run("force-stop", str(new.pk)).strip() == f"Task {new.pk}: cancelled"


def test_it_keeps_the_former_names_of_controls_with_a_notice(site):
    from io import StringIO

    task = queue_task(site, "backup")
    claim(task.pk, Owner.current())
    out, err = StringIO(), StringIO()
    call_command("tasks", "stop", str(task.pk), stdout=out, stderr=err)
    assert out.getvalue().strip() == f"Task {task.pk}: cancelled"
    assert "`tasks stop` is now `tasks force-stop`" in err.getvalue()
    with pytest.raises(CommandError, match="Nothing holds"):
        call_command("tasks", "unlock", "site:1", stdout=out, stderr=err)


def test_it_names_the_controls_as_the_panel_and_the_api_do():
    from hosting import controls
    from hosting.api.tasks import router
    from hosting.management.commands.tasks import Command

    parser = Command().create_parser("manage.py", "tasks")
    commands = parser._subparsers._group_actions[0].choices
    assert set(controls.CONTROLS) <= set(commands)
    paths = {path.rsplit("/", 1)[-1] for path in router.path_operations}
    assert set(controls.CONTROLS) <= paths


def test_it_refuses_on_the_command_line_what_the_panel_refuses(site):
    site.status = "disabled"
    site.save(update_fields=["status"])
    with pytest.raises(CommandError, match="The site is disabled already."):
        run("create", "disable", "--site", site.domain)
    with pytest.raises(CommandError, match="platform"):
        run("create", "migrate", "--site", site.domain, "--arg", "platform=4242")
    assert not Task.objects.exists()


def test_it_exports_csv(site, tmp_path, inline):
    task = queue_task(site, "backup", by=None)
    path = tmp_path / "tasks.csv"
    run("export", "--csv", str(path))
    rows = list(csv.DictReader(path.open()))
    assert list(rows[0]) == ["id", "type", "target", "state", "user", "created", "started", "finished", "duration"]
    assert rows[0]["id"] == str(task.pk) and rows[0]["state"] == "succeeded" and rows[0]["type"] == "site.backup"
    assert float(rows[0]["duration"]) >= 0
    with pytest.raises(CommandError, match="Cannot write"):
        run("export", "--csv", str(tmp_path / "missing" / "x.csv"))


def test_it_clears_finished_history_only_unless_told_otherwise(site, make_site, inline):
    done = queue_task(site, "backup")
    Task.objects.filter(pk=done.pk).update(state=Task.SUCCEEDED)
    running = queue_task(make_site("b.test"), "backup")
    Task.objects.filter(pk=running.pk).update(state=Task.QUEUED)
    assert run("clear").startswith("Deleted 1 tasks (")
    assert list(Task.objects.values_list("pk", flat=True)) == [running.pk]
    assert run("clear", "--all", "--force").startswith("Deleted 1 tasks (")


def test_it_clears_in_batches_with_long_logs_trimmed_first(site):
    from django.utils import timezone

    from hosting import prune
    from hosting.models import TaskLog, TaskStep

    now = timezone.now()
    tasks = [Task.objects.create(kind="verify", target_type="site", site=site, state=Task.SUCCEEDED) for _ in range(12)]
    TaskLog.objects.bulk_create([TaskLog(task=tasks[0], position=i, level="info", line="x", at=now) for i in range(45)])
    TaskStep.objects.bulk_create([TaskStep(task=t, position=0, name="s", state="done") for t in tasks])
    live = Task.objects.create(kind="verify", target_type="site", site=site, state=Task.QUEUED)
    result = prune.clear(batch=10)
    assert (result.tasks, result.steps, result.log_lines) == (12, 12, 45)
    # No transaction deleted more than a batch: 45 lines alone need 5, 12 tasks with a step each 3.
    assert result.transactions >= 8
    assert list(Task.objects.values_list("pk", flat=True)) == [live.pk]


def test_it_reaps_once_and_prints_what_it_did(site, monkeypatch):
    from io import StringIO

    monkeypatch.setattr("hosting.engine.dispatch.dispatch", lambda task_id, queue: True)
    proc = subprocess.Popen(["sleep", "0.01"])
    started = psutil.Process(proc.pid).create_time()
    proc.wait()
    task = queue_task(site, "backup")
    claim(task.pk, Owner(hostname(), proc.pid, started))
    out = StringIO()
    call_command("reap", "--queue", "local", stdout=out)
    text = out.getvalue()
    assert f"task #{task.pk}" in text and "is lost" in text and "re-queued" in text
    assert "Lost tasks settled: 1." in text
    assert Task.objects.get(pk=task.pk).state == Task.QUEUED
