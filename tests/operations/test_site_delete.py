"""site.delete: backup first, then files, database and vhost; a failure before any step puts
everything back, database rows included."""
from __future__ import annotations

from pathlib import Path

import pytest

from hosting.models import Backup, Site, Task
from hosting.operations import resources
from tests.operations.conftest import log_of, site_paths, snapshot, write_rows

STEPS = ["prepare", "backup", "files", "database", "vhost", "record", "purge"]


def test_it_deletes_a_site_after_backing_it_up(installed, run, local, tmp_path):
    site = installed()
    _, directory = site_paths(site)
    task = run(site, "delete")
    assert task.state == Task.SUCCEEDED, (task.summary, log_of(task))
    site.refresh_from_db()
    assert site.status == Site.DELETED
    assert not directory.exists()
    assert not [p for p in directory.parent.iterdir() if p.name.startswith(".deleting-")]
    assert not (tmp_path / "data" / "vhosts" / f"{site.domain}.conf").exists()
    assert not resources.db_driver(local).database_exists(site.db_name)
    backup = Backup.objects.get(site=site, kind=Backup.PRE_DELETE)
    assert Path(backup.path).is_file()


@pytest.mark.parametrize("engine", ["sqlite"])
def test_it_only_marks_a_site_that_never_reached_the_disk(platform, domains, run):
    site = Site.objects.create(domain=domains.new(), platform=platform, status=Site.FAILED)
    task = run(site, "delete")
    assert task.state == Task.SUCCEEDED, log_of(task)
    assert Site.objects.get(pk=site.pk).status == Site.DELETED
    assert not Backup.objects.exists()


@pytest.mark.parametrize("engine", ["sqlite"])
@pytest.mark.parametrize("fault", STEPS)
def test_it_leaves_the_site_working_when_a_step_fails(installed, run, settings, fault):
    site = installed()
    write_rows(site, ["precious"])
    before = snapshot(site)
    settings.HARBORMASTER_FAULTS = {"site.delete": fault}
    task = run(site, "delete")
    assert task.state == Task.FAILED and "injected fault" in task.summary, log_of(task)
    assert snapshot(site) == before
    _, directory = site_paths(site)
    assert not [p for p in directory.parent.iterdir() if p.name.startswith(".deleting-")]


@pytest.mark.parametrize("engine", ["sqlite"])
def test_it_puts_a_disabled_site_back_disabled(installed, run, settings):
    site = installed()
    assert run(site, "disable").state == Task.SUCCEEDED
    write_rows(site, ["precious"])
    before = snapshot(site)
    settings.HARBORMASTER_FAULTS = {"site.delete": "purge"}
    assert run(site, "delete").state == Task.FAILED
    assert snapshot(site) == before


@pytest.mark.parametrize("engine", ["mysql", "postgresql"])
def test_it_reloads_a_dropped_database_on_failure(installed, run, settings):
    site = installed()
    write_rows(site, ["precious"])
    before = snapshot(site)
    settings.HARBORMASTER_FAULTS = {"site.delete": "record"}
    task = run(site, "delete")
    assert task.state == Task.FAILED, log_of(task)
    assert [s.state for s in task.steps.filter(name="database")] == ["undone"]
    assert snapshot(site) == before  # the user logs in with its old password again


@pytest.mark.parametrize("engine", ["sqlite"])
def test_it_removes_the_sites_certificate_keys(installed, run):
    from hosting.models import Certificate

    site = installed()
    version = resources.tls_dir() / "sites" / site.domain / "v1"
    version.mkdir(parents=True)
    (version / "privkey.pem").write_text("key")
    Certificate.objects.create(site=site, path=str(version), domains=[site.domain])
    task = run(site, "delete")
    assert task.state == Task.SUCCEEDED, (task.summary, log_of(task))
    assert not version.parent.exists()
    assert Certificate.objects.get(site=site).path == ""
