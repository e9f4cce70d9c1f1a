"""site.cache-rebuild, site.updatedb and site.cron through the engine, with the stand-in drush
run as a real subprocess."""
from __future__ import annotations

from pathlib import Path

import pytest
from django.core.management import call_command

from hosting.models import Backup, Task
from tests.operations.conftest import log_of, rows, snapshot, steps_of, write_rows

pytestmark = pytest.mark.parametrize("engine", ["sqlite"])


def _pending(platform, updates: str) -> None:
    (Path(platform.path) / ".standin").mkdir(exist_ok=True)
    (Path(platform.path) / ".standin" / "pending-updates").write_text(updates)


def _state(site) -> dict[tuple[str, str], str]:
    return {(coll, name): value for coll, name, value in rows(site, "key_value")}


def test_it_rebuilds_caches(installed, run):
    site = installed()
    task = run(site, "cache-rebuild")
    assert task.state == Task.SUCCEEDED, log_of(task)
    assert "cache:rebuild" in log_of(task) and "Cache rebuild complete." in log_of(task)
    assert rows(site, "cache_bootstrap") == []


def test_it_runs_cron(installed, run):
    site = installed()
    task = run(site, "cron")
    assert task.state == Task.SUCCEEDED, log_of(task)
    assert "core:cron" in log_of(task) and "Cron run completed." in log_of(task)
    assert int(_state(site)[("state", "system.cron_last")]) > 0


def test_cron_failure_fails_the_task(installed, run, platform):
    site = installed()
    (Path(platform.path) / ".standin").mkdir(exist_ok=True)
    (Path(platform.path) / ".standin" / "fail-core:cron").write_text("PHP Fatal error: cron broke\n")
    task = run(site, "cron")
    assert task.state == Task.FAILED
    assert "cron broke" in log_of(task)


def test_it_backs_up_then_runs_database_updates(installed, run, platform):
    site = installed()
    _pending(platform, "system_update_10400\nnode_update_10201\n")
    task = run(site, "updatedb")
    assert task.state == Task.SUCCEEDED, log_of(task)
    state = _state(site)
    assert state[("system.schema", "system")] == "10400" and state[("system.schema", "node")] == "10201"
    assert "Update completed: node_update_10201" in log_of(task)
    backup = Backup.objects.get(site=site, kind=Backup.PRE_UPDATE)
    assert Path(backup.path).is_file() and backup.task_id == task.pk
    assert list(steps_of(task).values()) == ["done"] * 3


def test_no_pending_updates_is_a_success(installed, run):
    site = installed()
    task = run(site, "updatedb")
    assert task.state == Task.SUCCEEDED, log_of(task)
    assert "No pending updates." in log_of(task)


@pytest.mark.parametrize("fault", ["updatedb", "cache"])
def test_a_failure_after_the_updates_puts_the_database_back(installed, run, platform, settings, fault):
    site = installed()
    write_rows(site, ["one"])
    before = snapshot(site)
    _pending(platform, "system_update_10400\n")
    settings.HARBORMASTER_FAULTS = {"site.updatedb": fault}
    task = run(site, "updatedb")
    assert task.state == Task.FAILED, log_of(task)
    assert snapshot(site) == before
    assert _state(site).get(("system.schema", "system")) != "10400"


def test_a_failing_update_is_undone(installed, run, platform):
    site = installed()
    write_rows(site, ["one"])
    before = snapshot(site)
    _pending(platform, "not an update\n")
    task = run(site, "updatedb")
    assert task.state == Task.FAILED
    assert steps_of(task)["updatedb"] in ("failed", "undone")
    assert snapshot(site) == before


def test_the_command_line_queues_them(installed, capsys):
    site = installed()
    for kind in ("cache-rebuild", "updatedb", "cron"):
        call_command("site", kind, site.domain)
        out = capsys.readouterr().out
        assert f"{kind} queued as task" in out
        task = Task.objects.filter(site=site, kind=kind).latest("pk")
        assert task.state == Task.QUEUED
        task.delete()


def _drush(site, line: str, by):
    from hosting.engine.worker import execute
    from hosting.starting import start_task

    task = start_task(by, site, "drush", {"command": line})
    execute(task.pk)
    task.refresh_from_db()
    return task


def test_an_administrator_runs_any_drush_command_as_an_argument_list(installed, admin_user):
    site = installed()
    task = _drush(site, "watchdog:show --count=20", admin_user)
    assert task.state == Task.SUCCEEDED, log_of(task)
    assert task.args["argv"] == ["watchdog:show", "--count=20"]
    assert "No log messages available." in log_of(task)
    # A shell would run the second command; drush gets one more argument and refuses it.
    task = _drush(site, "watchdog:show --count='1; touch /tmp/hm-owned'", admin_user)
    assert task.state == Task.FAILED and not Path("/tmp/hm-owned").exists()
    task = _drush(site, "no:such-command", admin_user)
    assert task.state == Task.FAILED and 'Command "no:such-command" is not defined' in log_of(task)


@pytest.mark.parametrize("line", ["watchdog:show --uri=other.example.test", "@prod status", "status -l other",
                                  "status --root=/", "", "rm -rf /; status", "'unclosed"])
def test_it_refuses_what_would_leave_the_site(installed, admin_user, line):
    from hosting.starting import ArgumentsInvalid, start_task

    site = installed()
    with pytest.raises(ArgumentsInvalid):
        start_task(admin_user, site, "drush", {"command": line})
    assert not Task.objects.filter(site=site, kind="drush").exists()


def test_a_client_runs_only_the_allowed_commands(installed, django_user_model):
    from hosting.models import Client, DrushCommand
    from hosting.starting import ArgumentsInvalid, start_task
    from tests.conftest import user_in

    client = Client.objects.create(name="acme")
    site = installed(client=client)
    member = user_in(django_user_model, "member", client, "member")
    with pytest.raises(ArgumentsInvalid, match="not among the commands"):
        start_task(member, site, "drush", {"command": "watchdog:show"})
    DrushCommand.objects.create(name="watchdog:show")
    task = _drush(site, "watchdog:show --count=5", member)
    assert task.state == Task.SUCCEEDED, log_of(task)
    with pytest.raises(ArgumentsInvalid, match="not among the commands"):
        start_task(member, site, "drush", {"command": "sql:query 'DROP TABLE users'"})


def test_the_command_line_runs_drush(installed, capsys):
    site = installed()
    call_command("site", "drush", site.domain, "--", "watchdog:show", "--count=2")
    assert "drush queued as task" in capsys.readouterr().out
    from hosting.engine.worker import execute

    task = Task.objects.get(site=site, kind="drush")
    execute(task.pk)
    task.refresh_from_db()
    assert task.state == Task.SUCCEEDED and task.args["argv"] == ["watchdog:show", "--count=2"]
