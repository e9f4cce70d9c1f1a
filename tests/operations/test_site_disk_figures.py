"""Quotas and disk figures count what is really used: the site's database as its server measures
it (verify and backup record it; it was always 0), and everything the backup store holds for the
site (archives, packs, loose objects, indexes; only the small archives counted: 8 backups held
335 MB on disk and counted 18 KB). Real MariaDB and PostgreSQL servers."""
from __future__ import annotations

import os
from pathlib import Path

import pytest

from hosting import quotas
from hosting.actions import TaskRefused, queue_task
from hosting.models import Backup, Client, Site, Task
from hosting.operations import resources
from provision.sitefiles import disk_usage
from tests.operations.conftest import log_of, query, site_db, site_paths


def fill(site, rows: int = 400) -> None:
    """About ROWS kilobytes of rows in the site's database."""
    db, docroot = site_db(site)
    query(db, docroot, "CREATE TABLE hm_bulk (id INTEGER PRIMARY KEY, body TEXT)")
    for start in range(0, rows, 100):
        values = ", ".join(f"({i}, '{'x' * 1000}')" for i in range(start, start + 100))
        query(db, docroot, f"INSERT INTO hm_bulk (id, body) VALUES {values}")
    if db.driver == "mysql":
        query(db, docroot, "ANALYZE TABLE hm_bulk")  # information_schema's figures are InnoDB's statistics


def test_verify_and_backup_record_the_database_size(installed, run):
    site = installed()
    fill(site)
    task = run(site, "verify")
    assert task.state == Task.SUCCEEDED, log_of(task)
    site.refresh_from_db()
    measured = resources.db_driver(site.platform.server).database_size(site.db_name)
    assert site.disk_db_bytes == measured
    assert site.disk_db_bytes > 300_000
    Site.objects.filter(pk=site.pk).update(disk_db_bytes=0)
    assert run(site, "backup").state == Task.SUCCEEDED
    assert Site.objects.get(pk=site.pk).disk_db_bytes > 300_000


@pytest.mark.parametrize("engine", ["sqlite"])
def test_the_sqlite_size_is_the_file_with_its_journal(installed, run):
    site = installed()
    fill(site, 200)
    run(site, "verify")
    site.refresh_from_db()
    db, _ = site_db(site)
    path = Path(db.database)
    assert site.disk_db_bytes == sum(p.stat().st_size for p in (path, Path(f"{path}-wal")) if p.exists())


@pytest.mark.parametrize("engine", ["sqlite"])
def test_backups_count_the_whole_store_of_the_site(installed, run, tmp_path):
    site = installed(client=Client.objects.create(name="roomy"))
    _, directory = site_paths(site)
    for n in range(3):
        (directory / "files" / f"upload{n}.bin").write_bytes(os.urandom(2 << 20))
        assert run(site, "backup").state == Task.SUCCEEDED
    site.refresh_from_db()
    store = tmp_path / "data" / "backups" / site.domain
    archives = sum(b.size for b in Backup.objects.filter(site=site))
    assert site.disk_backup_bytes == disk_usage(store)
    assert site.disk_backup_bytes > 6 << 20 > archives * 10  # the packs, not only the archives
    assert quotas.disk_used(site.client) >= site.disk_backup_bytes + site.disk_files_bytes


@pytest.mark.parametrize("engine", ["sqlite"])
def test_the_disk_quota_counts_the_backup_store(installed, run):
    client = Client.objects.create(name="tight")
    site = installed(client=client)
    _, directory = site_paths(site)
    (directory / "files" / "upload.bin").write_bytes(os.urandom(4 << 20))
    assert run(site, "backup").state == Task.SUCCEEDED
    site.refresh_from_db()
    archives = sum(b.size for b in Backup.objects.filter(site=site))
    # Room for the files, the database and the archives, not for what the store holds.
    Client.objects.filter(pk=client.pk).update(
        max_disk_bytes=site.disk_files_bytes + site.disk_db_bytes + archives + (1 << 20))
    client.refresh_from_db()
    with pytest.raises(TaskRefused, match="disk quota"):
        queue_task(site, "backup")
    assert quotas.usage_of([client])[client.pk]["disk_bytes"] == quotas.disk_used(client)


@pytest.mark.parametrize("engine", ["sqlite"])
def test_retention_measures_the_store_again(installed, run, settings):
    from hosting import retention
    from hosting.models import BackupSchedule

    site = installed()
    _, directory = site_paths(site)
    for n in range(3):
        (directory / "files" / f"upload{n}.bin").write_bytes(os.urandom(1 << 20))
        assert run(site, "backup", {"kind": Backup.SCHEDULED}).state == Task.SUCCEEDED
        (directory / "files" / f"upload{n}.bin").unlink()
    BackupSchedule.objects.create(site=site, keep_count=1, keep_days=None)
    before = Site.objects.get(pk=site.pk).disk_backup_bytes
    assert len(retention.apply(site)) == 2
    after = Site.objects.get(pk=site.pk).disk_backup_bytes
    assert after == disk_usage(resources.backup_dir(site.domain)) and after < before
