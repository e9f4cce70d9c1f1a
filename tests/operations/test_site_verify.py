"""site.verify: repairs what is safe to repair, fails saying why when the site cannot work."""
from __future__ import annotations

import os
import shutil

import pytest

from hosting.models import Task
from tests.operations.conftest import log_of, site_paths


def test_it_verifies_an_installed_site(installed, run):
    site = installed()
    task = run(site, "verify")
    assert task.state == Task.SUCCEEDED, (task.summary, log_of(task))
    assert "reaches its database" in log_of(task) and "Drupal bootstraps" in log_of(task)


@pytest.mark.parametrize("engine", ["sqlite"])
def test_it_repairs_files_modes_and_the_vhost(installed, run, tmp_path):
    site = installed()
    _, directory = site_paths(site)
    shutil.rmtree(directory / "files")
    os.chmod(directory / "settings.php", 0o666)
    vhost = tmp_path / "data" / "vhosts" / f"{site.domain}.conf"
    vhost.unlink()
    task = run(site, "verify")
    log = log_of(task)
    assert task.state == Task.SUCCEEDED, (task.summary, log)
    assert (directory / "files").is_dir()
    assert (directory / "settings.php").stat().st_mode & 0o777 == 0o440
    assert vhost.is_file()
    assert "Repaired: created files/" in log and "Repaired: the vhost" in log


@pytest.mark.parametrize("engine", ["sqlite"])
def test_it_puts_the_disabled_page_back_for_a_disabled_site(installed, run, tmp_path):
    site = installed()
    assert run(site, "disable").state == Task.SUCCEEDED
    vhosts = tmp_path / "data" / "vhosts"
    (vhosts / f"{site.domain}.conf").write_text((vhosts / f"{site.domain}.conf.site").read_text())
    (vhosts / f"{site.domain}.conf.site").unlink()
    task = run(site, "verify")
    assert task.state == Task.SUCCEEDED, log_of(task)
    assert "return 503" in (vhosts / f"{site.domain}.conf").read_text()


def test_it_fails_when_the_site_cannot_reach_its_database(installed, run, engine):
    from hosting.operations import resources

    site = installed()
    resources.db_driver(site.platform.server).drop_database(site.db_name)
    task = run(site, "verify")
    assert task.state == Task.FAILED
    assert "database" in task.summary.lower()


@pytest.mark.parametrize("engine", ["sqlite"])
def test_it_fails_for_a_site_whose_directory_is_gone(installed, run):
    site = installed()
    _, directory = site_paths(site)
    shutil.rmtree(directory)
    task = run(site, "verify")
    assert task.state == Task.FAILED and "does not exist" in task.summary


OLD_PATTERN = "    location ~ \\..*/.*\\.php$ { return 403; }\n"


@pytest.mark.parametrize("engine", ["sqlite"])
@pytest.mark.parametrize("disabled", [False, True])
def test_it_rewrites_a_vhost_written_by_an_older_release(installed, run, tmp_path, disabled):
    # Issue 23: existing sites get the linear patterns from their next verify.
    site = installed()
    if disabled:
        assert run(site, "disable").state == Task.SUCCEEDED
    vhosts = tmp_path / "data" / "vhosts"
    own = vhosts / (f"{site.domain}.conf.site" if disabled else f"{site.domain}.conf")
    current = own.read_text()
    assert OLD_PATTERN not in current
    own.write_text(current.replace("    location / {\n", OLD_PATTERN + "    location / {\n", 1))
    task = run(site, "verify")
    assert task.state == Task.SUCCEEDED, log_of(task)
    assert own.read_text() == current
    assert f"Rewritten: the vhost {own} differed from the current template." in log_of(task)
    assert ("return 503" in (vhosts / f"{site.domain}.conf").read_text()) is disabled
    assert "Rewritten" not in log_of(run(site, "verify"))  # nothing to rewrite the second time
