"""site.sync through the engine: another site's database and files copied onto a site of the same
client on the same server, with real SQLite, MariaDB and PostgreSQL site databases and the
stand-in drush as a real subprocess."""
from __future__ import annotations

import os
from pathlib import Path

import pytest

from hosting.models import Backup, Client, Site, Task
from tests.operations.conftest import log_of, rows, site_paths, snapshot, steps_of, write_rows


@pytest.fixture
def pair(installed):
    """(source, target): two installed sites of one client, each with rows and files of its own."""
    client = Client.objects.create(name="acme")
    source, target = installed(client=client), installed(client=client)
    write_rows(source, ["from-production"])
    write_rows(target, ["staging-only"])
    (site_paths(source)[1] / "files" / "logo.png").write_bytes(b"production logo")
    (site_paths(source)[1] / "files" / "sub").mkdir(exist_ok=True)
    (site_paths(source)[1] / "files" / "sub" / "doc.txt").write_text("a document")
    (site_paths(target)[1] / "files" / "staging-only.txt").write_text("gone after the sync")
    return source, target


def _files(site) -> Path:
    return site_paths(site)[1] / "files"


def test_it_copies_the_database_and_the_files_and_keeps_the_targets_settings(pair, run):
    source, target = pair
    settings_before = (site_paths(target)[1] / "settings.php").read_text()
    source_before = snapshot(source)
    task = run(target, "sync", {"source": source.pk, "database": True, "files": True})
    assert task.state == Task.SUCCEEDED, log_of(task)
    assert rows(target, "hm_drill") == [("0", "from-production")]
    assert (_files(target) / "logo.png").read_bytes() == b"production logo"
    assert (_files(target) / "sub" / "doc.txt").read_text() == "a document"
    assert not (_files(target) / "staging-only.txt").exists()
    assert (site_paths(target)[1] / "settings.php").read_text() == settings_before
    after = Site.objects.get(pk=target.pk)
    assert (after.db_name, after.db_user) == (target.db_name, target.db_user)
    assert snapshot(source) == source_before
    assert Backup.objects.filter(site=target, kind=Backup.PRE_RESTORE, task_id=task.pk).exists()
    assert list(steps_of(task)) == ["prepare", "backup", "database", "files", "updatedb", "cache", "record"]
    assert "updatedb" in log_of(task) and "cache:rebuild" in log_of(task)


@pytest.mark.parametrize("engine", ["sqlite"])
def test_database_only_leaves_the_files(pair, run):
    source, target = pair
    task = run(target, "sync", {"source": source.pk, "database": True, "files": False})
    assert task.state == Task.SUCCEEDED, log_of(task)
    assert rows(target, "hm_drill") == [("0", "from-production")]
    assert (_files(target) / "staging-only.txt").exists() and not (_files(target) / "logo.png").exists()


@pytest.mark.parametrize("engine", ["sqlite"])
def test_files_only_leaves_the_database(pair, run):
    source, target = pair
    task = run(target, "sync", {"source": source.pk, "database": False, "files": True})
    assert task.state == Task.SUCCEEDED, log_of(task)
    assert rows(target, "hm_drill") == [("0", "staging-only")]
    assert (_files(target) / "logo.png").exists() and not (_files(target) / "staging-only.txt").exists()


@pytest.mark.parametrize("fault", ["files", "updatedb", "cache", "record"])
def test_a_failure_in_the_middle_puts_the_target_back(pair, run, settings, fault, engine):
    if engine != "sqlite" and fault != "updatedb":
        pytest.skip("one fault point per server engine is enough")
    source, target = pair
    before, source_before = snapshot(target), snapshot(source)
    settings.HARBORMASTER_FAULTS = {"site.sync": fault}
    task = run(target, "sync", {"source": source.pk, "database": True, "files": True})
    assert task.state == Task.FAILED, log_of(task)
    assert snapshot(target) == before
    assert rows(target, "hm_drill") == [("0", "staging-only")]
    assert snapshot(source) == source_before


@pytest.mark.parametrize("engine", ["sqlite"])
def test_links_in_the_sources_files_are_not_followed(pair, run, tmp_path):
    source, target = pair
    outside = tmp_path / "outside"
    outside.mkdir()
    (outside / "secret.txt").write_text("not the site's")
    os.symlink(outside, _files(source) / "elsewhere")
    os.symlink("/etc/passwd", _files(source) / "passwd")
    task = run(target, "sync", {"source": source.pk, "database": False, "files": True})
    assert task.state == Task.WARNING, log_of(task)  # done, saying what was left out
    assert not os.path.lexists(_files(target) / "elsewhere") and not os.path.lexists(_files(target) / "passwd")
    assert "is a link; it is not followed nor copied" in log_of(task)
    assert (_files(target) / "logo.png").exists()


@pytest.mark.parametrize("engine", ["sqlite"])
def test_the_engine_refuses_what_the_form_would(pair, run, installed, make_platform, make_server):
    source, target = pair
    other = installed(client=Client.objects.create(name="other"))
    elsewhere = installed(on=make_platform(make_server("sqlite", name="far"), "p2"), client=target.client)
    for source_id, words in ((other.pk, "no such site"), (target.pk, "from itself"),
                             (elsewhere.pk, "another server"), (999999, "no such site")):
        task = run(target, "sync", {"source": source_id, "database": True, "files": True})
        assert task.state == Task.FAILED and words in log_of(task), log_of(task)
    assert rows(target, "hm_drill") == [("0", "staging-only")]


@pytest.mark.parametrize("engine", ["sqlite"])
def test_the_command_line_syncs(pair, capsys):
    from django.core.management import call_command
    from django.core.management.base import CommandError

    from hosting.engine.worker import execute

    source, target = pair
    call_command("site", "sync", target.domain, "--from", source.domain, "--database")
    assert f"{target.domain}: sync from {source.domain} (database) queued as task" in capsys.readouterr().out
    task = Task.objects.get(site=target, kind="sync")
    assert task.args == {"source": source.pk, "database": True, "files": False}
    execute(task.pk)
    task.refresh_from_db()
    assert task.state == Task.SUCCEEDED, log_of(task)
    assert rows(target, "hm_drill") == [("0", "from-production")]
    with pytest.raises(CommandError, match="cannot be synced from itself"):
        call_command("site", "sync", target.domain, "--from", target.domain)
    with pytest.raises(CommandError, match="No site 'nowhere.test'"):
        call_command("site", "sync", target.domain, "--from", "nowhere.test")


@pytest.mark.parametrize("engine", ["sqlite"])
def test_it_waits_while_another_task_holds_the_source(pair, run):
    from hosting.actions import queue_task
    from hosting.engine.worker import execute
    from hosting.models import Lock

    source, target = pair
    holder = queue_task(source, "backup")
    Lock.objects.create(key=f"site:{source.pk}", task=holder)
    task = queue_task(target, "sync", args={"source": source.pk, "database": True, "files": True})
    execute(task.pk)
    task.refresh_from_db()
    assert task.state == Task.QUEUED and f"site:{source.pk}" in task.waiting_reason
    assert rows(target, "hm_drill") == [("0", "staging-only")]
    Lock.objects.filter(task=holder).delete()
    execute(task.pk)
    task.refresh_from_db()
    assert task.state == Task.SUCCEEDED, log_of(task)
    assert not Lock.objects.filter(key__in=[f"site:{source.pk}", f"site:{target.pk}"]).exists()


@pytest.mark.parametrize("engine", ["sqlite"])
def test_a_link_planted_in_the_targets_files_is_not_written_through(pair, run, tmp_path):
    source, target = pair
    outside = tmp_path / "victim"
    outside.mkdir()
    (outside / "logo.png").write_text("must stay")
    os.symlink(outside / "logo.png", _files(target) / "logo.png")
    os.symlink(outside, _files(target) / "sub")
    task = run(target, "sync", {"source": source.pk, "database": False, "files": True})
    assert task.state == Task.WARNING, log_of(task)  # the backup says it left the links out
    assert (outside / "logo.png").read_text() == "must stay" and sorted(os.listdir(outside)) == ["logo.png"]
    assert not (_files(target) / "logo.png").is_symlink()
    assert (_files(target) / "logo.png").read_bytes() == b"production logo"
    assert (_files(target) / "sub" / "doc.txt").read_text() == "a document"


@pytest.fixture
def imported_pair(make_platform, local, run):
    """Two sites imported by a platform verify, each with its SQLite file inside its directory."""
    from hosting.engine.worker import execute

    platform = make_platform(local, "d10i", sites=2, verified=False, status="queued")
    assert run(platform, "verify").state == Task.SUCCEEDED
    for verify in Task.objects.filter(kind="verify", target_type="site", state=Task.QUEUED):
        execute(verify.pk)
    source, target = Site.objects.filter(platform=platform).order_by("domain")
    assert source.db_file == target.db_file == "private/db.sqlite"
    write_rows(source, ["from-production"])
    write_rows(target, ["staging-only"])
    (_files(source) / "logo.png").write_bytes(b"production logo")
    return source, target


@pytest.mark.parametrize("engine", ["sqlite"])
@pytest.mark.parametrize("fault", [None, "cache"])
def test_a_site_with_its_sqlite_file_inside_gets_its_own_file_loaded(imported_pair, run, settings, fault):
    source, target = imported_pair
    db_file = site_paths(target)[1] / "private" / "db.sqlite"
    before = snapshot(target)
    settings.HARBORMASTER_FAULTS = {"site.sync": fault} if fault else {}
    task = run(target, "sync", {"source": source.pk, "database": True, "files": True})
    if fault:
        assert task.state == Task.FAILED, log_of(task)
        assert rows(target, "hm_drill") == [("0", "staging-only")] and snapshot(target)["rows"] == before["rows"]
        return
    assert task.state in (Task.SUCCEEDED, Task.WARNING), log_of(task)
    assert rows(target, "hm_drill") == [("0", "from-production")]
    assert db_file.is_file() and rows(source, "hm_drill") == [("0", "from-production")]
    assert (_files(target) / "logo.png").read_bytes() == b"production logo"
    assert (site_paths(target)[1] / "settings.php").read_text() == before["settings"]
