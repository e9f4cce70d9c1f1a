"""site.install through the engine: settings.php, database and user, vhost, drush site:install;
a failure anywhere leaves nothing behind; unsafe names and paths are refused before anything is
written."""
from __future__ import annotations

from pathlib import Path

import pytest

from hosting.models import AuditEvent, Site, Task
from provision.settings_php import read_database_settings
from provision.sitedb import check_connection
from tests.operations.conftest import log_of, rows, run_task, site_paths, steps_of


def test_it_installs_a_site_with_its_own_database(installed, engine, tmp_path):
    site = installed()
    docroot, directory = site_paths(site)
    assert site.status == Site.ENABLED and site.db_name and site.verified_at
    settings = directory / "settings.php"
    assert settings.stat().st_mode & 0o777 == 0o440
    db = read_database_settings(settings)
    assert db is not None
    check_connection(db, docroot)  # the site's own user reaches its own database
    assert rows(site, "users")[1][1] == "admin"
    assert (directory / "files" / ".stand-in-installed").read_text().strip() == site.domain
    assert (directory / "private" / "tmp").is_dir()
    assert (tmp_path / "data" / "vhosts" / f"{site.domain}.conf").is_file()
    task = site.tasks.get(kind="install")
    assert list(steps_of(task).values()) == ["done"] * 6
    if db.password:  # the password is in settings.php only
        assert db.password not in log_of(task)
        assert db.password not in str(task.result)
        assert not any(db.password in str(e.after) for e in AuditEvent.objects.all())


def test_it_rolls_back_when_drush_fails(platform, domains, tmp_path):
    from hosting.engine.worker import execute
    from hosting.inventory import add_site

    standin = Path(platform.path) / ".standin"
    standin.mkdir()
    (standin / "fail-site:install").write_text("The install profile failed (stand-in fault).\n")
    site, task = add_site(domains.new(), platform)
    execute(task.pk)
    task.refresh_from_db()
    site.refresh_from_db()
    assert task.state == Task.FAILED
    assert "stand-in fault" in task.summary and "rolled back" in task.summary
    assert site.status == Site.FAILED
    assert not (Path(platform.docroot) / "sites" / site.domain).exists()
    assert not (tmp_path / "data" / "vhosts" / f"{site.domain}.conf").exists()
    assert list((tmp_path / "data" / "databases").glob("*.sqlite")) == []
    # A failed site can be installed again once the cause is gone.
    (standin / "fail-site:install").unlink()
    again = run_task(site, "install")
    assert again.state == Task.SUCCEEDED, again.summary


def test_it_refuses_a_locked_platform(platform, domains, run):
    assert run(platform, "lock").state == Task.SUCCEEDED
    site = Site.objects.create(domain=domains.new(), platform=platform)
    task = run(site, "install")
    assert task.state == Task.FAILED and "locked" in task.summary
    assert not (Path(platform.docroot) / "sites" / site.domain).exists()


def test_it_refuses_a_domain_that_leaves_the_sites_directory(platform, run, tmp_path):
    before = sorted(p.name for p in (Path(platform.docroot) / "sites").iterdir())
    site = Site.objects.create(domain="../../etc", platform=platform)  # as if typed past the forms
    task = run(site, "install")
    assert task.state == Task.FAILED
    assert "is not a domain name" in task.summary
    assert sorted(p.name for p in (Path(platform.docroot) / "sites").iterdir()) == before
    assert not (tmp_path / "etc").exists()


def test_it_refuses_a_platform_outside_the_roots(local, run, domains, tmp_path):
    from django.utils import timezone

    from hosting.models import Platform

    outside = Platform.objects.create(name="outside", server=local, path="/usr/share", docroot="/usr/share",
                                      status="enabled", drupal_version="10.3.1", verified_at=timezone.now())
    site = Site.objects.create(domain=domains.new(), platform=outside)
    task = run(site, "install")
    assert task.state == Task.FAILED
    assert "outside the configured roots" in task.summary
    assert not Path("/usr/share/sites").exists()


def test_it_gives_each_site_a_database_name_of_its_own(installed, domains, engine):
    # "a-b.x" and "a.b.x" make the same safe name: the second gets a numbered one.
    token = domains.token
    one = installed(f"hmt{token}-a-b.example.test")
    two = installed(f"hmt{token}-a.b.example.test")
    assert one.db_name == two.db_name[:-2] and two.db_name.endswith("_1")
    assert rows(one, "users") and rows(two, "users")


@pytest.mark.parametrize("engine", ["sqlite"])
@pytest.mark.parametrize("drupal, composer", [(7, False), (11, True)], ids=["drupal7", "drupal11-composer"])
def test_it_installs_on_every_platform_shape(make_platform, local, installed, run, drupal, composer):
    platform = make_platform(local, "shape", drupal=drupal, composer=composer)
    site = installed(on=platform)
    docroot, directory = site_paths(site)
    assert directory == docroot / "sites" / site.domain
    assert (docroot == Path(platform.path) / "web") is composer
    salt = "$drupal_hash_salt" if drupal == 7 else "$settings['hash_salt']"
    assert salt in (directory / "settings.php").read_text()
    assert run(site, "verify").state == Task.SUCCEEDED
