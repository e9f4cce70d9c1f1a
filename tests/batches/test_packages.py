"""Which platform can take a site: the platform verify's package list (untrusted info.yml files),
the site verify's enabled modules (drush pm:list), and the migrate's refusal of a target that
lacks one or has an older one, single and batch."""
from __future__ import annotations

import sqlite3
from pathlib import Path

import pytest

from hosting.actor import Operator
from hosting.models import BatchItem, MigrationBatch, Platform, Site, Task
from hosting.starting import ArgumentsInvalid, start_task
from provision import packages
from tests.batches.conftest import drive

CLI = Operator("cli:test")


def module(platform_or_root, name: str, version: str | None, *, where: str = "modules/contrib",
           text: str | None = None) -> Path:
    docroot = Path(platform_or_root.docroot) if hasattr(platform_or_root, "docroot") else Path(platform_or_root)
    path = docroot / where / name / f"{name}.info.yml"
    path.parent.mkdir(parents=True, exist_ok=True)
    body = text if text is not None else f"name: {name}\ntype: module\ncore_version_requirement: ^10\n" + (
        f"version: '{version}'\n" if version is not None else "")
    path.write_text(body)
    return path


def enable(site: Site, *names: str) -> None:
    """Enable modules in the site's own database, as Drupal records them (system.schema)."""
    path = Path(site.platform.server.sqlite_dir) / f"{site.db_name}.sqlite"
    with sqlite3.connect(path) as conn:
        for name in names:
            conn.execute("INSERT INTO key_value (collection, name, value) VALUES ('system.schema', ?, '8000')",
                         (name,))
    conn.close()


# --- The scan itself: hostile files ------------------------------------------------------------

def test_it_lists_modules_themes_and_core_with_their_versions(tmp_path):
    module(tmp_path, "views_extra", "8.x-1.2")
    module(tmp_path, "olivero", None, where="core/themes", text="name: Olivero\ntype: theme\nversion: VERSION\n")
    module(tmp_path, "in_tests", "1.0.0", where="modules/contrib/x/tests/modules")
    found = packages.scan(tmp_path, "10.3.1")
    assert found.packages["views_extra"] == {"type": "module", "version": "8.x-1.2"}
    assert found.packages["olivero"] == {"type": "theme", "version": "10.3.1"}
    assert "in_tests" not in found.packages


def test_it_survives_a_hostile_clients_info_files(tmp_path):
    huge = module(tmp_path, "huge", None, text="name: huge\nversion: '1.0'\n" + "# padding\n" * 20_000)
    assert huge.stat().st_size > packages.MAX_FILE_BYTES
    bomb = "a: &a ['lol','lol','lol','lol','lol','lol','lol','lol','lol']\n" + "".join(
        f"{chr(98 + i)}: &{chr(98 + i)} [*{chr(97 + i)},*{chr(97 + i)},*{chr(97 + i)},*{chr(97 + i)}]\n"
        for i in range(9)) + "version: '1.0'\n"
    module(tmp_path, "bomb", None, text=bomb)
    module(tmp_path, "markup", None, text="name: m\nversion: '<script>alert(1)</script>'\n")
    module(tmp_path, "python", None, text="version: !!python/object/apply:os.system ['touch /tmp/pwned-hm']\n")
    module(tmp_path, "deep", None, text="x: " + "[" * 5000 + "]" * 5000 + "\nversion: '1.0'\n")
    module(tmp_path, "Bad-Name", "1.0")
    outside = tmp_path.parent / f"{tmp_path.name}-outside"
    module(outside, "secret", "9.9")
    (tmp_path / "modules" / "linked").symlink_to(outside / "modules" / "contrib")
    found = packages.scan(tmp_path, "10.3.1")
    assert "huge" not in found.packages and "bomb" not in found.packages
    assert found.packages["markup"]["version"] == ""  # no markup is kept to reach a page
    assert "python" not in found.packages and not Path("/tmp/pwned-hm").exists()
    assert "deep" not in found.packages and "bad-name" not in found.packages
    assert "secret" not in found.packages  # a symlink out of the docroot is not followed
    assert any("huge" in p for p in found.problems)


def test_it_stops_after_the_file_limit(tmp_path, monkeypatch):
    monkeypatch.setattr(packages, "MAX_FILES", 5)
    for n in range(8):
        module(tmp_path, f"m{n}", "1.0")
    found = packages.scan(tmp_path)
    assert len(found.packages) == 5 and any("stopped" in p for p in found.problems)


@pytest.mark.parametrize(("a", "b", "lower"), [
    ("1.2.0", "1.10.0", True), ("8.x-1.2", "8.x-1.3", True), ("2.0.0-beta1", "2.0.0", True),
    ("10.3.1", "10.3.1", False), ("2.x-dev", "1.0", False), ("1.0", "", False),
])
def test_it_compares_versions(a, b, lower):
    assert packages.older(a, b) is lower


# --- Verify records them; migrate refuses ------------------------------------------------------

def test_verifies_record_the_lists_and_migrate_refuses_a_missing_or_older_module(
        quick_site, run, platform, target, settings):
    module(platform, "pathauto", "8.x-1.12")
    module(platform, "token", "8.x-1.13")
    module(target, "token", "8.x-1.11")
    site = quick_site()
    enable(site, "pathauto", "token")
    assert run(platform, "verify").state == Task.SUCCEEDED
    assert run(target, "verify").state == Task.SUCCEEDED
    verify = run(site, "verify")
    assert verify.state in (Task.SUCCEEDED, Task.WARNING), verify.summary
    site.refresh_from_db()
    assert site.packages["pathauto"] == "8.x-1.12" and site.packages["token"] == "8.x-1.13"
    assert Platform.objects.get(pk=target.pk).packages["token"]["version"] == "8.x-1.11"
    # The form (panel, API, command line) says which.
    with pytest.raises(ArgumentsInvalid) as refused:
        start_task(CLI, site, "migrate", {"platform": target.pk})
    assert "lacks pathauto" in str(refused.value) and "token 8.x-1.11 < 8.x-1.13" in str(refused.value)
    # The migrate's own first step says it too (a task queued before the lists changed).
    from hosting.actions import queue_task
    from hosting.engine.worker import execute

    task = queue_task(site, "migrate", by=CLI, args={"platform": target.pk})
    execute(task.pk)
    task.refresh_from_db()
    assert task.state == Task.FAILED and "lacks pathauto" in task.summary
    # A batch leaves the site where it is, saying why; another site without them moves.
    other = quick_site()
    batch_task = start_task(CLI, platform, "migrate-sites", {"target": target.pk})
    drive()
    batch = MigrationBatch.objects.get(task=batch_task)
    item = BatchItem.objects.get(batch=batch, site=site)
    assert item.state == BatchItem.FAILED and "lacks pathauto" in item.reason
    assert Site.objects.get(pk=site.pk).platform_id == platform.pk
    assert Site.objects.get(pk=other.pk).platform_id == target.pk
    # Once the target carries them, in the same or a newer version, the site may go.
    module(target, "pathauto", "8.x-1.12")
    module(target, "token", "8.x-1.14")
    assert run(target, "verify").state == Task.SUCCEEDED
    last = run(site, "migrate", {"platform": target.pk})
    assert last.state == Task.SUCCEEDED, last.summary


def test_a_hostile_pm_list_answer_is_bounded_and_filtered(quick_site, run, platform):
    """The site's code prints pm:list: names that are not machine names, versions with markup and
    non-JSON are dropped, not recorded."""
    drush = Path(platform.path) / "vendor" / "bin" / "drush"
    original = drush.read_text()
    payload = ('{"ok_mod": {"version": "1.0"}, "<b>x</b>": {"version": "1"}, '
               '"evil": {"version": "<img src=x onerror=alert(1)>"}}')
    drush.write_text(original.replace("#!", "#!", 1) + "\n")
    fake = drush.with_name("drush-real")
    drush.rename(fake)
    drush.write_text(f"#!/bin/sh\ncase \"$*\" in *pm:list*) echo '{payload}'; exit 0;; esac\nexec {fake} \"$@\"\n")
    drush.chmod(0o755)
    site = quick_site()
    task = run(site, "verify", {"packages": True})
    assert task.state in (Task.SUCCEEDED, Task.WARNING), task.summary
    site.refresh_from_db()
    assert site.packages == {"ok_mod": "1.0", "evil": ""}
