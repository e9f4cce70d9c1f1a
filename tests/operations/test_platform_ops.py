"""platform.verify (detect, check, discover and import), lock, unlock, delete."""
from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import pytest

from hosting.models import Platform, Site, Task
from provision.demo import add_site
from tests.operations.conftest import log_of, site_paths
from tests.services import need_program

pytestmark = pytest.mark.parametrize("engine", ["sqlite"])


def test_it_detects_a_composer_platform_and_imports_its_sites(make_platform, local, run):
    platform = make_platform(local, "d11", drupal=11, composer=True, sites=3, verified=False, status="queued")
    docroot = Path(platform.path) / "web"
    (docroot / "sites" / "alias.example.test").symlink_to(docroot / "sites" / "site1.example.test")
    task = run(platform, "verify")
    assert task.state == Task.SUCCEEDED, log_of(task)
    platform.refresh_from_db()
    assert platform.docroot == str(docroot) and platform.drupal_version == "11.0.5"
    assert platform.status == Platform.ENABLED and platform.verified_at
    imported = Site.objects.filter(platform=platform).order_by("domain")
    assert [s.domain for s in imported] == ["site1.example.test", "site2.example.test", "site3.example.test"]
    assert all(s.imported and s.status == Site.ENABLED for s in imported)
    log = log_of(task)
    assert "skipped sites/alias.example.test: is a symlink" in log and "skipped sites/default" in log
    # Each imported site has a verify queued, and it passes.
    verifies = Task.objects.filter(kind="verify", target_type="site", state=Task.QUEUED)
    assert verifies.count() == 3
    from hosting.engine.worker import execute

    for verify in verifies:
        execute(verify.pk)
        verify.refresh_from_db()
        assert verify.state in (Task.SUCCEEDED, Task.WARNING), log_of(verify)
    # Each one's SQLite file is inside its directory: recorded as such, it moves with the site.
    assert Site.objects.get(domain="site1.example.test").db_file == "private/db.sqlite"


def test_it_brings_back_a_site_whose_record_was_deleted(installed, run, platform):
    site = installed()
    domain = site.domain
    from hosting.records import delete_site_record

    delete_site_record(site, by="test")  # the record only: files and database stay
    task = run(platform, "verify")
    assert task.state == Task.SUCCEEDED, log_of(task)
    back = Site.objects.exclude(status=Site.DELETED).get(domain=domain)
    assert back.imported and back.pk != site.pk
    assert f"site {domain}: imported from disk, verify queued" in log_of(task)
    verify = Task.objects.get(site=back, kind="verify")
    assert verify.args == {"imported_by": task.pk}


def test_it_fails_for_a_directory_that_is_not_drupal(local, run, tmp_path):
    (tmp_path / "empty").mkdir()
    platform = Platform.objects.create(name="empty", server=local, path=str(tmp_path / "empty"))
    task = run(platform, "verify")
    assert task.state == Task.FAILED and "is not a Drupal platform" in task.summary


def test_it_locks_and_unlocks(platform, run, domains):
    from hosting.inventory import InventoryError
    from hosting.inventory import add_site as add_record

    assert run(platform, "lock").state == Task.SUCCEEDED
    platform.refresh_from_db()
    assert platform.status == Platform.LOCKED
    with pytest.raises(InventoryError, match="locked"):
        add_record(domains.new(), platform)
    assert run(platform, "verify").state == Task.SUCCEEDED  # verify keeps a lock
    assert Platform.objects.get(pk=platform.pk).status == Platform.LOCKED
    assert run(platform, "unlock").state == Task.SUCCEEDED
    assert Platform.objects.get(pk=platform.pk).status == Platform.ENABLED


def test_it_refuses_to_delete_a_platform_with_sites(installed, platform, run):
    installed()
    add_site(Path(platform.docroot), "unrecorded.example.test", drupal=10)
    task = run(platform, "delete")
    assert task.state == Task.FAILED
    assert "has 2 site(s)" in task.summary and "unrecorded.example.test (on disk, no record)" in task.summary
    assert Path(platform.path).is_dir() and Platform.objects.get(pk=platform.pk).status == Platform.ENABLED


def test_it_deletes_an_empty_platform(platform, run):
    task = run(platform, "delete")
    assert task.state == Task.SUCCEEDED, log_of(task)
    assert not Path(platform.path).exists()
    assert not list(Path(platform.path).parent.iterdir())  # no hidden leftovers
    assert Platform.objects.get(pk=platform.pk).status == Platform.DELETED


def test_it_deletes_a_platform_with_sites_when_forced(installed, platform, run, tmp_path):
    site = installed()
    task = run(platform, "delete", {"force": True})
    assert task.state == Task.WARNING, log_of(task)  # the database left behind is a warning
    assert "is left on the database server" in log_of(task)
    assert Site.objects.get(pk=site.pk).status == Site.DELETED
    assert not (tmp_path / "data" / "vhosts" / f"{site.domain}.conf").exists()
    assert not Path(platform.path).exists()


def test_it_keeps_the_record_when_the_files_cannot_be_removed(platform, run):
    chattr = need_program("chattr")
    parent = Path(platform.path).parent
    if subprocess.run([chattr, "+i", str(parent)], capture_output=True).returncode != 0:
        pytest.skip("this file system or user cannot make a directory immutable")
    try:
        task = run(platform, "delete")
    finally:
        subprocess.run([chattr, "-i", str(parent)], check=True)
    assert task.state == Task.FAILED
    assert "cannot be removed: Operation not permitted" in task.summary
    assert "record is kept" in task.summary
    assert Platform.objects.get(pk=platform.pk).status == Platform.ENABLED
    assert Path(platform.path).is_dir()


@pytest.mark.parametrize("fault", ["vhosts", "files", "record", "purge"])
def test_it_puts_a_forced_delete_back_when_a_step_fails(installed, platform, run, settings, tmp_path, fault):
    site = installed()
    vhost = tmp_path / "data" / "vhosts" / f"{site.domain}.conf"
    own = vhost.read_text()
    settings.HARBORMASTER_FAULTS = {"platform.delete": fault}
    task = run(platform, "delete", {"force": True})
    assert task.state == Task.FAILED, log_of(task)
    assert Platform.objects.get(pk=platform.pk).status == Platform.ENABLED
    assert Site.objects.get(pk=site.pk).status == Site.ENABLED
    assert site_paths(site)[1].is_dir() and vhost.read_text() == own


def test_it_refuses_a_platform_outside_the_roots(local, run):
    platform = Platform.objects.create(name="etc", server=local, path="/etc")
    for kind in ("verify", "delete"):
        task = run(platform, kind)
        assert task.state == Task.FAILED and "outside the configured roots" in task.summary
    assert Path("/etc/passwd").is_file()


def test_it_does_not_import_a_copy_of_a_site_recorded_elsewhere(installed, make_platform, local, run):
    site = installed()
    other = make_platform(local, "p2")
    shutil.copytree(site_paths(site)[1], Path(other.docroot) / "sites" / site.domain)
    task = run(other, "verify")
    assert task.state == Task.WARNING
    assert "recorded on platform p1, which still holds it" in log_of(task)
    assert Site.objects.filter(domain=site.domain).count() == 1
    assert Site.objects.get(domain=site.domain).attention_platform == other
