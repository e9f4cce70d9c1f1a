"""`manage.py demo_platform` and `demo_setup`: what `make run` and the tests build on."""
from __future__ import annotations

import os
import subprocess
from io import StringIO

import pytest
from django.core.management import CommandError, call_command

from hosting.models import Platform, Site, Task


def run(*args: str) -> str:
    out = StringIO()
    call_command(*args, stdout=out)
    return out.getvalue()


def test_it_builds_a_drupal_shaped_platform_with_a_working_drush(db, hm_dirs):
    path = hm_dirs / "platforms" / "d7"
    out = run("demo_platform", str(path), "--drupal", "7", "--sites", "2")
    assert "Drupal 7 platform created" in out
    assert "VERSION" in (path / "includes" / "bootstrap.inc").read_text()
    assert (path / "sites" / "default" / "default.settings.php").is_file()
    assert sorted(p.name for p in (path / "sites").iterdir() if (p / "settings.php").exists()) == [
        "site1.example.test", "site2.example.test"]
    drush = path / "vendor" / "bin" / "drush"
    assert os.access(drush, os.X_OK)
    result = subprocess.run([str(drush), f"--root={path}", "--uri=site1.example.test", "cache:rebuild"],
                            capture_output=True, text=True, timeout=60)
    assert result.returncode == 0 and "Cache rebuild complete" in result.stdout + result.stderr


def test_it_refuses_a_path_outside_the_roots(hm_dirs, monkeypatch):
    with pytest.raises(CommandError, match="outside the configured roots"):
        run("demo_platform", "/opt/elsewhere")
    monkeypatch.chdir(hm_dirs.parent)  # a relative path from outside the roots stays outside
    with pytest.raises(CommandError, match="outside the configured roots"):
        run("demo_platform", "elsewhere")


def test_a_relative_path_is_taken_from_the_current_directory(db, hm_dirs, monkeypatch):
    monkeypatch.chdir(hm_dirs / "data")
    out = run("demo_platform", "platforms/rel")
    assert f"created at {hm_dirs.resolve() / 'data' / 'platforms' / 'rel'} " in out
    assert (hm_dirs / "data" / "platforms" / "rel" / "index.php").is_file()


def test_a_second_demo_platform_never_touches_the_first_ones_sites(db, hm_dirs, server):
    """Its sites take names no database file and no recorded site has: the first platform's
    live databases stay as they were, byte for byte."""
    databases = hm_dirs / "data" / "databases"
    run("demo_platform", str(hm_dirs / "one"), "--sites", "2")
    before = {p.name: p.read_bytes() for p in databases.iterdir()}
    assert sorted(before) == ["site1_example_test.sqlite", "site2_example_test.sqlite"]
    recorded = Platform.objects.create(name="p1", server=server, path=str(hm_dirs / "p1"), status="enabled")
    Site.objects.create(domain="site3.example.test", platform=recorded, status="enabled")  # its database elsewhere
    out = run("demo_platform", str(hm_dirs / "two"), "--sites", "2")
    assert out.endswith(": site4.example.test, site5.example.test\n")
    assert {p.name: p.read_bytes() for p in databases.iterdir() if p.name in before} == before
    assert sorted(p.name for p in databases.iterdir()) == sorted([*before, "site4_example_test.sqlite",
                                                                   "site5_example_test.sqlite"])


def test_a_demo_site_is_never_installed_over_an_existing_database(tmp_path):
    from provision.demo import add_site
    from provision.errors import ProvisionError

    (tmp_path / "dbs").mkdir()
    taken = tmp_path / "dbs" / "site1_example_test.sqlite"
    taken.write_bytes(b"a live site's data")
    with pytest.raises(ProvisionError, match="refusing to install over it"):
        add_site(tmp_path, "site1.example.test", drupal=10, db_dir=tmp_path / "dbs")
    assert taken.read_bytes() == b"a live site's data"


def test_it_sets_up_the_demo_once(db, hm_dirs, settings):
    out = run("demo_setup", "--sites", "2")
    assert "Demo admin created: user 'admin', password '" in out
    platform = Platform.objects.get(name="demo")
    assert Task.objects.filter(platform=platform, kind="verify", state="queued").count() == 1
    again = run("demo_setup")
    assert "exists already" in again and "password '" not in again
    assert Platform.objects.count() == 1


def test_the_demo_sites_come_in_with_their_databases(transactional_db, hm_dirs, settings):
    """demo_platform made the demo sites' SQLite databases, not installs of this instance: the
    setup confirms they are the sites' own, so the import records them and their verifies pass."""
    from hosting.engine.worker import execute

    run("demo_setup", "--sites", "2")
    execute(Task.objects.get(kind="verify", target_type="platform").pk)
    sites = list(Site.objects.order_by("domain"))
    assert [(s.db_name, s.attention) for s in sites] == [("site1_example_test", ""), ("site2_example_test", "")]
    for task in Task.objects.filter(kind="verify", target_type="site"):
        execute(task.pk)
        task.refresh_from_db()
        assert task.state in (Task.SUCCEEDED, Task.WARNING), task.summary
