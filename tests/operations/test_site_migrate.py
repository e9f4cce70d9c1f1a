"""site.migrate to another platform of the same server, and its rollback: a failure before any
of its steps leaves the site working where it was."""
from __future__ import annotations

from pathlib import Path

import pytest

from hosting.models import Backup, Site, Task
from tests.operations.conftest import log_of, rows, site_paths, snapshot, steps_of, write_rows

STEPS = ["prepare", "backup", "move", "settings", "updatedb", "vhost", "record", "verify", "cleanup"]


@pytest.fixture
def target(local, make_platform):
    """A second platform whose code brings one pending database update."""
    platform = make_platform(local, "p2")
    (Path(platform.path) / ".standin").mkdir()
    (Path(platform.path) / ".standin" / "pending-updates").write_text("system_update_10400\n")
    return platform


def schema(site) -> str:
    return dict((name, value) for coll, name, value in rows(site, "key_value") if coll == "system.schema")["system"]


def test_it_migrates_a_site_and_runs_its_updates(installed, run, target, platform, tmp_path):
    site = installed()
    write_rows(site, ["kept"])
    _, old_dir = site_paths(site)
    task = run(site, "migrate", {"platform": target.pk})
    assert task.state == Task.SUCCEEDED, (task.summary, log_of(task))
    site.refresh_from_db()
    assert site.platform_id == target.pk
    _, new_dir = site_paths(site)
    assert new_dir == Path(target.docroot) / "sites" / site.domain and not old_dir.exists()
    assert not (new_dir / ".settings.php.pre-migrate").exists()
    assert schema(site) == "10400"  # drush updatedb ran on the target
    assert rows(site, "hm_drill") == [("0", "kept")]
    assert f"root {target.docroot};" in (tmp_path / "data" / "vhosts" / f"{site.domain}.conf").read_text()
    assert Backup.objects.filter(site=site, kind=Backup.PRE_MIGRATE).count() == 1


@pytest.mark.parametrize("engine", ["sqlite"])
def test_it_refuses_a_locked_target(installed, run, target):
    site = installed()
    assert run(target, "lock").state == Task.SUCCEEDED
    task = run(site, "migrate", {"platform": target.pk})
    assert task.state == Task.FAILED and "locked" in task.summary


@pytest.mark.parametrize("engine", ["sqlite"])
@pytest.mark.parametrize("fault", STEPS)
def test_it_leaves_the_site_where_it_was_when_a_step_fails(installed, run, target, settings, fault):
    site = installed()
    write_rows(site, ["one", "two"])
    before = snapshot(site)
    settings.HARBORMASTER_FAULTS = {"site.migrate": fault}
    task = run(site, "migrate", {"platform": target.pk})
    assert task.state == Task.FAILED, log_of(task)
    assert "injected fault" in task.summary
    assert snapshot(site) == before
    assert not (Path(target.docroot) / "sites" / site.domain).exists()
    assert steps_of(task)[fault] == "failed"


@pytest.mark.parametrize("engine", ["mysql", "postgresql"])
@pytest.mark.parametrize("fault", ["vhost", "cleanup"])
def test_it_puts_the_old_schema_back_after_updatedb(installed, run, target, settings, fault):
    site = installed()
    write_rows(site, ["one"])
    before = snapshot(site)
    settings.HARBORMASTER_FAULTS = {"site.migrate": fault}
    task = run(site, "migrate", {"platform": target.pk})
    assert task.state == Task.FAILED, log_of(task)
    assert steps_of(task)["updatedb"] == "undone"
    assert snapshot(site) == before
    assert schema(site) != "10400"


@pytest.mark.parametrize("engine", ["sqlite"])
def test_it_moves_a_site_back_when_the_target_cannot_boot_it(installed, run, target):
    site = installed()
    (Path(target.path) / ".standin" / "fail-updatedb").write_text("update failed: missing module\n")
    write_rows(site, ["one"])
    before = snapshot(site)
    task = run(site, "migrate", {"platform": target.pk})
    assert task.state == Task.FAILED and "missing module" in task.summary
    assert snapshot(site) == before
    assert Site.objects.get(pk=site.pk).platform_id != target.pk


@pytest.mark.parametrize("engine", ["sqlite"])
def test_it_moves_the_files_by_rename_and_backs_up_only_the_database(installed, run, target):
    site = installed()
    _, old_dir = site_paths(site)
    (old_dir / "files" / "big.bin").write_bytes(b"x" * (1 << 20))
    inode = (old_dir / "files" / "big.bin").stat().st_ino
    task = run(site, "migrate", {"platform": target.pk})
    assert task.state == Task.SUCCEEDED, (task.summary, log_of(task))
    site.refresh_from_db()
    _, new_dir = site_paths(site)
    assert (new_dir / "files" / "big.bin").stat().st_ino == inode  # renamed, not copied
    safety = Backup.objects.get(site=site, kind=Backup.PRE_MIGRATE)
    assert safety.manifest["files_included"] is False and safety.manifest["totals"]["files"] == 0
