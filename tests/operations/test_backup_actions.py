"""Acting on backups outside the task list: restore-deleted (a deleted site back from its
pre-delete backup), deleting and downloading from inside the backup store only, and the
`manage.py backups` actions that do them."""
from __future__ import annotations

import json
from io import StringIO
from pathlib import Path

import pytest
from django.core.management import CommandError, call_command

from hosting import backupactions
from hosting.actor import Operator
from hosting.models import AuditEvent, Backup, BackupSchedule, Platform, Site, Task
from hosting.refused import TaskRefused
from hosting.starting import start_task
from tests.operations.conftest import log_of, rows, site_paths, write_rows

# The database engines matter to restore-deleted (a user and a database created again); the rest
# runs on SQLite only.
SQLITE = pytest.mark.parametrize("engine", ["sqlite"])
ADMIN = Operator("cli:test")


@pytest.fixture
def deleted(installed, run):
    """A site with a row in its database, deleted by site.delete; (site, its pre-delete backup)."""
    site = installed()
    write_rows(site, ["precious"])
    task = run(site, "delete")
    assert task.state == Task.SUCCEEDED, log_of(task)
    site.refresh_from_db()
    return site, Backup.objects.get(site=site, kind=Backup.PRE_DELETE)


def test_it_restores_a_deleted_site_from_its_pre_delete_backup(deleted, run):
    site, backup = deleted
    task = start_task(ADMIN, site, "restore-deleted", {"backup": backup.pk})
    from hosting.engine.worker import execute

    execute(task.pk)
    task.refresh_from_db()
    assert task.state == Task.SUCCEEDED, (task.summary, log_of(task))
    site.refresh_from_db()
    assert site.status == Site.ENABLED
    _, directory = site_paths(site)
    assert (directory / "settings.php").is_file()
    assert [r[1] for r in rows(site, "hm_drill")] == ["precious"]
    assert run(site, "verify").state in (Task.SUCCEEDED, Task.WARNING)


@SQLITE
def test_it_refuses_when_a_live_site_took_the_domain(deleted, platform):
    site, backup = deleted
    other = Site.objects.create(domain=site.domain, platform=platform, status=Site.ENABLED)
    with pytest.raises(TaskRefused, match=f"taken by a live site \\(#{other.pk}\\)"):
        start_task(ADMIN, site, "restore-deleted", {"backup": backup.pk})
    assert not Task.objects.filter(kind="restore-deleted").exists()


@SQLITE
def test_it_refuses_when_the_platform_is_gone(deleted):
    site, backup = deleted
    Platform.objects.filter(pk=site.platform_id).update(status=Platform.DELETED)
    with pytest.raises(TaskRefused, match="platform .* is deleted"):
        start_task(ADMIN, site, "restore-deleted", {"backup": backup.pk})


@SQLITE
def test_it_refuses_a_live_site(installed):
    site = installed()
    with pytest.raises(TaskRefused, match="not deleted"):
        start_task(ADMIN, site, "restore-deleted", {})


def test_it_rolls_back_when_the_restore_fails(deleted, run, settings):
    site, backup = deleted
    settings.HARBORMASTER_FAULTS = {"site.restore-deleted": "record"}
    task = run(site, "restore-deleted", {"backup": backup.pk})
    assert task.state == Task.FAILED, log_of(task)
    site.refresh_from_db()
    _, directory = site_paths(site)
    assert site.status == Site.DELETED and not directory.exists()
    # Nothing left in the way: it can be tried again.
    settings.HARBORMASTER_FAULTS = {}
    assert run(site, "restore-deleted", {"backup": backup.pk}).state == Task.SUCCEEDED


@SQLITE
def test_it_refuses_a_tampered_path_for_download_and_delete(installed, run, tmp_path):
    site = installed()
    backup = Backup.objects.get(task=run(site, "backup"))
    outside = tmp_path / "not-a-backup.txt"
    outside.write_text("keep me")
    for tampered in (str(outside), backup.path.replace(site.domain, f"{site.domain}/../../../x"), "relative.tar"):
        Backup.objects.filter(pk=backup.pk).update(path=tampered)
        backup.refresh_from_db()
        with pytest.raises(backupactions.UnsafeBackupPath):
            backupactions.open_archive(backup)
        with pytest.raises(backupactions.UnsafeBackupPath):
            backupactions.delete_backup(ADMIN, backup)
    assert outside.read_text() == "keep me" and Backup.objects.filter(pk=backup.pk).exists()


@SQLITE
def test_it_refuses_to_delete_a_backup_a_restore_will_read(installed, run):
    site = installed()
    backup = Backup.objects.get(task=run(site, "backup"))
    Task.objects.create(kind="restore", target_type="site", site=site, client=site.client,
                        target_label=site.domain, args={"backup": backup.pk})
    with pytest.raises(TaskRefused, match="restoring from backup"):
        backupactions.delete_backup(ADMIN, backup)
    assert Path(backup.path).is_file()


@SQLITE
def test_the_command_downloads_deletes_and_lists_deleted_sites(deleted, installed, run, tmp_path):
    site, backup = deleted
    out = StringIO()
    call_command("backups", "list", "--deleted", "--json", stdout=out)
    assert [b["id"] for b in json.loads(out.getvalue())] == [backup.pk]
    target = tmp_path / "copy.tar.zst"
    call_command("backups", "download", str(backup.pk), str(target), stdout=StringIO())
    assert target.read_bytes() == Path(backup.path).read_bytes()
    with pytest.raises(CommandError, match="exists"):
        call_command("backups", "download", str(backup.pk), str(target), stdout=StringIO())
    with pytest.raises(CommandError, match="--yes"):
        call_command("backups", "delete", str(backup.pk), stdout=StringIO())
    call_command("backups", "delete", str(backup.pk), "--yes", stdout=StringIO())
    assert not Backup.objects.filter(pk=backup.pk).exists() and not Path(backup.path).exists()
    assert AuditEvent.objects.filter(action="backup.deleted", object_id=str(backup.pk)).exists()


@SQLITE
def test_the_command_queues_restore_deleted(deleted):
    site, backup = deleted
    out = StringIO()
    call_command("backups", "restore-deleted", str(backup.pk), stdout=out)
    task = Task.objects.get(kind="restore-deleted")
    assert f"#{task.pk}" in out.getvalue() and task.args == {"backup": backup.pk} and task.site_id == site.pk


@SQLITE
def test_the_command_shows_and_sets_a_schedule(installed):
    site = installed()
    out = StringIO()
    call_command("backups", "schedule", "show", site.domain, stdout=out)
    assert "no schedule" in out.getvalue()
    call_command("backups", "schedule", "set", site.domain, "--frequency", "weekly", "--keep-count", "3",
                 "--keep-days", "none", stdout=StringIO())
    schedule = BackupSchedule.objects.get(site=site)
    assert (schedule.frequency, schedule.keep_count, schedule.keep_days, schedule.enabled) == ("weekly", 3, None, True)
    out = StringIO()
    call_command("backups", "schedule", "show", site.domain, "--json", stdout=out)
    assert json.loads(out.getvalue())["source"] == "site"
    with pytest.raises(CommandError, match="number"):
        call_command("backups", "schedule", "set", site.domain, "--keep-count", "-1", stdout=StringIO())


@SQLITE
def test_it_exports_a_backup_as_one_plain_tar(installed, run, tmp_path, client, admin_user):
    import subprocess
    import tarfile

    site = installed()
    backup = Backup.objects.get(task=run(site, "backup"))
    _, directory = site_paths(site)
    target = tmp_path / "plain.tar"
    call_command("backups", "download", str(backup.pk), str(target), "--tar", stdout=StringIO())
    names = subprocess.run(["tar", "-tf", str(target)], check=True, capture_output=True, text=True).stdout.split()
    assert "database.sql" in names and "manifest.json" in names and "site/settings.php" in names
    with tarfile.open(target) as tar:
        settings_php = tar.extractfile("site/settings.php")
        assert settings_php is not None and settings_php.read() == (directory / "settings.php").read_bytes()
    client.force_login(admin_user)
    response = client.get(f"/backups/{backup.pk}/download/?as=tar")
    assert response.status_code == 200 and response["Content-Type"] == "application/x-tar"
    assert response["Content-Disposition"].endswith('.tar"')
    assert b"".join(response.streaming_content) == target.read_bytes()
    from tests.tenancy.conftest import api_client

    api = api_client(admin_user, "read")
    answer = api.get(f"/api/v1/backups/{backup.pk}/download?as=tar")
    assert answer.status_code == 200 and b"".join(answer.streaming_content) == target.read_bytes()
    stored = api.get(f"/api/v1/backups/{backup.pk}/download")
    assert b"".join(stored.streaming_content) == Path(backup.path).read_bytes()


@SQLITE
def test_a_failed_restore_deleted_can_be_retried(deleted, settings):
    from hosting import controls
    from hosting.engine.worker import execute

    site, backup = deleted
    settings.HARBORMASTER_FAULTS = {"site.restore-deleted": "vhost"}
    failed = start_task(ADMIN, site, "restore-deleted", {"backup": backup.pk})
    execute(failed.pk)
    failed.refresh_from_db()
    assert failed.state == Task.FAILED and Site.objects.get(pk=site.pk).status == Site.DELETED
    settings.HARBORMASTER_FAULTS = {}
    retry = controls.retry(failed, by=ADMIN)
    execute(retry.pk)
    retry.refresh_from_db()
    assert retry.state == Task.SUCCEEDED, log_of(retry)
    assert Site.objects.get(pk=site.pk).status == Site.ENABLED
