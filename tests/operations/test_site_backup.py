"""site.backup and site.restore, and the restore drill on every database engine: install, write
rows and files, back up, change them, restore, and find the rows and files of the backup."""
from __future__ import annotations

import hashlib
import os
from pathlib import Path

import pytest

from hosting.models import Backup, Site, Task
from provision.backup import verify_backup
from tests.operations.conftest import log_of, rows, site_paths, snapshot, tree_checksums, write_rows


def test_it_backs_up_a_site_into_one_verified_archive(installed, run, tmp_path):
    site = installed()
    task = run(site, "backup")
    assert task.state == Task.SUCCEEDED, log_of(task)
    backup = Backup.objects.get(task=task)
    path = Path(backup.path)
    assert path.parent == tmp_path / "data" / "backups" / site.domain
    assert path.name.startswith(site.domain) and path.name.endswith(".tar.zst")
    assert backup.kind == Backup.MANUAL and backup.site == site and backup.size == path.stat().st_size
    assert backup.sha256 == hashlib.sha256(path.read_bytes()).hexdigest()
    assert backup.manifest["platform"]["name"] == site.platform.name
    assert backup.manifest["drupal_version"] == "10.3.1"
    assert backup.manifest["database"]["engine"] == site.platform.server.db_engine
    assert backup.manifest["members"] > 5  # the member list itself stays in the archive
    manifest = verify_backup(path)
    assert any(m["path"] == "site/settings.php" for m in manifest["members"])
    assert task.result["backup"] == backup.pk
    assert not [p for p in path.parent.iterdir() if p.name.startswith(".")]  # no partial left


def test_it_restores_rows_and_files_as_they_were(installed, run, engine):
    """The restore drill."""
    site = installed()
    _, directory = site_paths(site)
    write_rows(site, ["before one", "before two"])
    (directory / "files" / "report.txt").write_text("the backed-up report\n")
    (directory / "files" / "big.bin").write_bytes(os.urandom(3 << 20))
    backup_task = run(site, "backup")
    assert backup_task.state == Task.SUCCEEDED, log_of(backup_task)
    backup = Backup.objects.get(task=backup_task)
    expected_rows = {t: rows(site, t) for t in ("users", "config", "hm_drill")}
    expected_files = tree_checksums(directory)

    write_rows(site, ["after"])
    (directory / "files" / "report.txt").write_text("changed\n")
    (directory / "files" / "big.bin").unlink()
    (directory / "files" / "new.txt").write_text("written after the backup\n")

    task = run(site, "restore", {"backup": backup.pk})
    assert task.state == Task.SUCCEEDED, (task.summary, log_of(task))
    assert {t: rows(site, t) for t in ("users", "config", "hm_drill")} == expected_rows
    assert tree_checksums(directory) == expected_files
    safety = Backup.objects.get(task=task)
    assert safety.kind == Backup.PRE_RESTORE  # the way back, kept
    assert Backup.objects.get(pk=backup.pk).verified_at is not None


@pytest.mark.parametrize("engine", ["sqlite"])
def test_it_refuses_a_backup_of_another_site(installed, run):
    one, two = installed(), installed()
    backup_task = run(one, "backup")
    task = run(two, "restore", {"backup": Backup.objects.get(task=backup_task).pk})
    assert task.state == Task.FAILED and "not of" in task.summary
    assert not Backup.objects.filter(task=task).exists()


@pytest.mark.parametrize("engine", ["sqlite"])
def test_it_follows_or_keeps_a_symlinked_files_directory(installed, run, tmp_path, settings):
    site = installed()
    _, directory = site_paths(site)
    settings.HARBORMASTER_FILES_ROOTS = [tmp_path / "bigfiles"]
    big = tmp_path / "bigfiles" / site.domain  # the site's own place under a files root
    big.parent.mkdir()
    (directory / "files").rename(big)
    (directory / "files").symlink_to(big)
    (big / "photo.jpg").write_bytes(b"jpeg" * 1000)
    follow = Backup.objects.get(task=run(site, "backup"))
    assert follow.manifest["files_symlink"]["followed"] is True
    paths = {m["path"] for m in verify_backup(follow.path)["members"]}
    assert "site/files/photo.jpg" in paths
    Site.objects.filter(pk=site.pk).update(files_symlink=Site.FILES_KEEP_LINK)
    keep = Backup.objects.get(task=run(site, "backup"))
    members = {m["path"]: m for m in verify_backup(keep.path, files_link_roots=[big])["members"]}
    assert members["site/files"]["type"] == "symlink" and "site/files/photo.jpg" not in members


RESTORE_STEPS = ["check", "safety-backup", "restore", "verify", "record"]


def _backed_up_then_changed(installed, run):
    site = installed()
    _, directory = site_paths(site)
    write_rows(site, ["in the backup"])
    (directory / "files" / "a.txt").write_text("in the backup\n")
    backup = Backup.objects.get(task=run(site, "backup"))
    write_rows(site, ["changed since"])
    (directory / "files" / "a.txt").write_text("changed since\n")
    (directory / "files" / "b.txt").write_text("new since\n")
    return site, backup


@pytest.mark.parametrize("engine", ["sqlite"])
@pytest.mark.parametrize("fault", RESTORE_STEPS)
def test_it_leaves_the_site_as_it_was_when_a_restore_step_fails(installed, run, settings, fault):
    site, backup = _backed_up_then_changed(installed, run)
    before = snapshot(site)
    settings.HARBORMASTER_FAULTS = {"site.restore": fault}
    task = run(site, "restore", {"backup": backup.pk})
    assert task.state == Task.FAILED and "injected fault" in task.summary, log_of(task)
    assert snapshot(site) == before


@pytest.mark.parametrize("engine", ["mysql", "postgresql"])
def test_it_puts_the_pre_restore_state_back_on_failure(installed, run, settings):
    site, backup = _backed_up_then_changed(installed, run)
    before = snapshot(site)
    settings.HARBORMASTER_FAULTS = {"site.restore": "record"}
    task = run(site, "restore", {"backup": backup.pk})
    assert task.state == Task.FAILED, log_of(task)
    assert [s.state for s in task.steps.filter(name="restore")] == ["undone"]
    assert snapshot(site) == before


@pytest.mark.parametrize("engine", ["sqlite"])
def test_it_removes_what_a_killed_backup_left(installed, run, tmp_path):
    site = installed()
    dest = tmp_path / "data" / "backups" / site.domain
    dest.mkdir(parents=True, exist_ok=True)
    leftover = dest / f".{site.domain}-20300101T000000Z.tar.zst.abcd1234.partial"
    leftover.write_bytes(b"half an archive")
    task = run(site, "backup")
    assert task.state == Task.SUCCEEDED and not leftover.exists()
    assert "left by an interrupted backup" in log_of(task)


@pytest.mark.parametrize("engine", ["sqlite"])
def test_it_keeps_newer_backups_restorable_when_retention_deletes_older_ones(installed, run):
    from hosting import retention
    from hosting.models import BackupSchedule

    site = installed()
    _, directory = site_paths(site)
    (directory / "files" / "kept.bin").write_bytes(os.urandom(1 << 16))
    made = []
    for _ in range(3):
        task = run(site, "backup", {"kind": Backup.SCHEDULED})
        assert task.state == Task.SUCCEEDED, log_of(task)
        made.append(Backup.objects.get(task=task))
    BackupSchedule.objects.create(site=site, keep_count=1)
    assert sorted(retention.apply(site)) == sorted(b.pk for b in made[:2])
    newest = Backup.objects.get(site=site, kind=Backup.SCHEDULED)
    assert verify_backup(newest.path)["totals"]["files"] > 0  # every object it names survived
    task = run(site, "restore", {"backup": newest.pk})
    assert task.state == Task.SUCCEEDED, log_of(task)
