"""`manage.py demo_platform` and `demo_setup`: what `make run` and the tests build on."""
from __future__ import annotations

import os
import subprocess
from io import StringIO

import pytest
from django.core.management import CommandError, call_command

from hosting.models import Platform, Task


def run(*args: str) -> str:
    out = StringIO()
    call_command(*args, stdout=out)
    return out.getvalue()


def test_it_builds_a_drupal_shaped_platform_with_a_working_drush(hm_dirs):
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


def test_it_refuses_a_path_outside_the_roots(hm_dirs):
    with pytest.raises(CommandError, match="outside the configured roots"):
        run("demo_platform", "/opt/elsewhere")


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
    from hosting.models import Site

    run("demo_setup", "--sites", "2")
    execute(Task.objects.get(kind="verify", target_type="platform").pk)
    sites = list(Site.objects.order_by("domain"))
    assert [(s.db_name, s.attention) for s in sites] == [("site1_example_test", ""), ("site2_example_test", "")]
    for task in Task.objects.filter(kind="verify", target_type="site"):
        execute(task.pk)
        task.refresh_from_db()
        assert task.state in (Task.SUCCEEDED, Task.WARNING), task.summary
