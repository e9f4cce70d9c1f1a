"""A site's database is the one its record names, never the one its settings.php names.

Site A's owner edits A's settings.php to name site B's database. Every task on A acts with the
database server's admin account, so before the fix A's backup archived B's rows, A's clone copied
them into a database A controls, deleting A dropped B's database, restoring A replaced B's, a
migrate of A backed up B into A's backups, and verifying an imported A took B's database into
A's record. Each task must now refuse at its first step, naming both databases, and leave B as
it was, on SQLite, MariaDB and PostgreSQL alike."""
from __future__ import annotations

import os
from pathlib import Path

import pytest

from hosting.models import Backup, Site, Task
from hosting.operations import resources
from provision.settings_php import php_string
from tests.operations.conftest import (
    _ops,  # noqa: F401 - autouse: data dirs, transactional db
    log_of,
    rows,
    site_db,
    site_paths,
    steps_of,
    write_rows,
)


def point_at(site: Site, victim: Site, *, with_credentials: bool = False) -> None:
    """SITE's owner rewrites SITE's settings.php to name VICTIM's database (the file name for
    SQLite), keeping its own user and password unless WITH_CREDENTIALS (victim's, as if leaked)."""
    mine, _ = site_db(site)
    theirs, _ = site_db(victim)
    _, directory = site_paths(site)
    path = directory / "settings.php"
    text = path.read_text()
    keys = ["database"] + (["username", "password"] if with_credentials else [])
    for key in keys:
        old, new = (f"'{key}' => {php_string(getattr(db, key))}" for db in (mine, theirs))
        assert old in text
        text = text.replace(old, new)
    os.chmod(path, 0o640)
    path.write_text(text)


def refused_naming_both(task: Task, site: Site, victim: Site, first_step: str = "prepare") -> None:
    assert task.state == Task.FAILED, (task.summary, log_of(task))
    assert steps_of(task)[first_step] == "failed", steps_of(task)
    # The summary (which the site's client reads) names its own database only; the victim's is
    # in the administrators' detail line of the log (tests/security/test_site_trust_disclosure.py).
    assert site.db_name in task.summary and victim.db_name not in task.summary, task.summary
    assert victim.db_name in log_of(task)
    assert "repair_settings" in task.summary


@pytest.fixture
def pair(installed):
    """Two installed sites; B holds a row only B's owner should ever see."""
    a, b = installed(), installed()
    write_rows(a, ["row of a"])
    write_rows(b, ["private row of b"])
    return a, b


def test_it_refuses_to_back_up_another_sites_database(pair, run):
    a, b = pair
    point_at(a, b)
    task = run(a, "backup")
    refused_naming_both(task, a, b, "archive")
    assert not Backup.objects.filter(site=a).exists()
    a.refresh_from_db()
    assert a.attention and b.db_name in a.attention_detail and b.db_name not in a.attention


def test_it_refuses_to_clone_another_sites_database(pair, run, domains):
    a, b = pair
    point_at(a, b)
    domain = domains.new("clone")
    task = run(a, "clone", {"domain": domain, "platform": a.platform_id})
    refused_naming_both(task, a, b)
    assert not Site.objects.filter(domain=domain).exists()
    assert rows(b, "hm_drill") == [("0", "private row of b")]


def test_it_refuses_to_drop_another_sites_database_on_delete(pair, run, local):
    a, b = pair
    point_at(a, b)
    Site.objects.filter(pk=a.pk).update(client=None)  # an admin or a manager: delete is allowed
    task = run(a, "delete")
    refused_naming_both(task, a, b)
    assert resources.db_driver(local).database_exists(b.db_name) or local.db_engine == "sqlite"
    assert rows(b, "hm_drill") == [("0", "private row of b")]
    assert Site.objects.get(pk=a.pk).status == Site.ENABLED


def test_it_refuses_to_restore_over_another_sites_database(pair, run):
    a, b = pair
    backup = run(a, "backup")
    assert backup.state == Task.SUCCEEDED, log_of(backup)
    point_at(a, b)
    task = run(a, "restore", {"backup": Backup.objects.get(task=backup).pk})
    refused_naming_both(task, a, b, "check")
    assert rows(b, "hm_drill") == [("0", "private row of b")]


def test_it_refuses_to_migrate_with_another_sites_database(pair, run, make_platform, local):
    a, b = pair
    other = make_platform(local, "p2")
    point_at(a, b)
    task = run(a, "migrate", {"platform": other.pk})
    refused_naming_both(task, a, b)
    assert not Backup.objects.filter(site=a, kind=Backup.PRE_MIGRATE).exists()
    assert Site.objects.get(pk=a.pk).platform_id == a.platform_id
    assert rows(b, "hm_drill") == [("0", "private row of b")]


def test_verify_never_takes_another_sites_database_into_the_record(pair, run):
    """An imported site (whose record was once read from settings.php) names B's database with
    B's own credentials: the connection would work, and the record used to follow it."""
    a, b = pair
    Site.objects.filter(pk=a.pk).update(imported=True)
    point_at(a, b, with_credentials=True)
    task = run(a, "verify")
    assert task.state == Task.FAILED, log_of(task)
    assert a.db_name in task.summary and b.db_name in log_of(task)
    a_after = Site.objects.get(pk=a.pk)
    assert (a_after.db_name, a_after.db_user) == (a.db_name, a.db_user)
    assert b.db_name in a_after.attention_detail
    # Nothing that is not a verify or a delete starts on it until it is resolved.
    from hosting.actions import TaskRefused, queue_task

    with pytest.raises(TaskRefused, match="attention"):
        queue_task(a_after, "backup")


def test_verify_repairs_settings_php_from_the_record_when_asked(pair, run):
    a, b = pair
    point_at(a, b, with_credentials=True)
    assert run(a, "verify").state == Task.FAILED
    task = run(a, "verify", {"repair_settings": True})
    assert task.state in (Task.SUCCEEDED, Task.WARNING), (task.summary, log_of(task))
    assert "settings.php rewritten from the record" in log_of(task)
    db, _ = site_db(a)
    assert Path(db.database).name.startswith(a.db_name) if db.driver == "sqlite" else db.database == a.db_name
    assert rows(a, "hm_drill") == [("0", "row of a")]
    after = Site.objects.get(pk=a.pk)
    assert after.attention == ""
    assert run(a, "backup").state == Task.SUCCEEDED


@pytest.mark.parametrize("engine", ["sqlite"])
def test_a_restore_never_replaces_the_sqlite_file_inside_another_site(installed, platform, run):
    """B keeps its SQLite database inside its own directory (Drupal's default for imported
    sites); A's settings.php names that file by its absolute path."""
    from provision.demo import add_site

    a = installed()
    write_rows(a, ["row of a"])
    docroot = Path(platform.docroot)
    victim_dir = add_site(docroot, "victim.example.test", drupal=10)
    imported = run(platform, "verify")
    assert imported.state == Task.SUCCEEDED, log_of(imported)
    victim_file = victim_dir / "private" / "db.sqlite"
    before = victim_file.read_bytes()
    backup = run(a, "backup")
    assert backup.state == Task.SUCCEEDED
    mine, _ = site_db(a)
    _, a_dir = site_paths(a)
    path = a_dir / "settings.php"
    os.chmod(path, 0o640)
    path.write_text(path.read_text().replace(f"'database' => {php_string(mine.database)}",
                                             f"'database' => {php_string(str(victim_file))}"))
    task = run(a, "restore", {"backup": Backup.objects.get(task=backup).pk})
    assert task.state == Task.FAILED and str(victim_file) in log_of(task), (task.summary, log_of(task))
    assert str(victim_file) not in task.summary  # the client reads "another database"
    assert victim_file.read_bytes() == before


@pytest.mark.parametrize("engine", ["sqlite"])
def test_an_sqlite_file_recorded_inside_the_site_cannot_be_a_link_out_of_it(installed, platform, run):
    """The recorded file is inside the site directory; a symlink there to another site's file
    must not make the other file the site's."""
    from provision.demo import add_site

    docroot = Path(platform.docroot)
    add_site(docroot, "one.example.test", drupal=10)
    two_dir = add_site(docroot, "two.example.test", drupal=10)
    assert run(platform, "verify").state == Task.SUCCEEDED
    one = Site.objects.get(domain="one.example.test")
    one_file = Path(site_paths(one)[1]) / "private" / "db.sqlite"
    one_file.unlink()
    one_file.symlink_to(two_dir / "private" / "db.sqlite")
    task = run(one, "backup")
    assert task.state == Task.FAILED, log_of(task)
    assert "outside" in task.summary
    assert not Backup.objects.filter(site=one).exists()


@pytest.mark.parametrize("engine", ["sqlite"])
def test_repair_is_an_argument_of_verify_in_the_panel_the_api_and_the_command(installed, run, member, client):
    """The way other task arguments are: the verify form's checkbox, the API's arguments, --arg."""
    from django.core.management import call_command

    from tests.tenancy.conftest import api_client

    site = installed(client=member.memberships.get().client)
    other = installed()
    point_at(site, other)
    assert run(site, "backup").state == Task.FAILED  # and the site needs attention now
    client.force_login(member)
    page = client.get(f"/sites/{site.pk}/").content.decode()
    assert "needs attention" in page.lower() and "rewriting settings.php from the record" in page
    from hosting.engine import ending

    def made(cancel: bool = True) -> Task:
        """The verify the interface just queued; cancelled (unless CANCEL is false) so that the
        next interface is not refused for a verify queued on the site already."""
        task = Task.objects.get(site=site, kind="verify", state=Task.QUEUED)
        if cancel:
            ending.end(task.pk, Task.CANCELLED, "cancelled by the test", states=(Task.QUEUED,))
        return task

    client.post(f"/sites/{site.pk}/tasks/verify/", {"repair_settings": "on"})
    verifies = [made()]
    api = api_client(member).post(f"/api/v1/sites/{site.pk}/tasks", {"type": "verify", "repair_settings": True},
                                  content_type="application/json")
    assert api.status_code == 202, api.content
    verifies.append(made())
    call_command("tasks", "create", "verify", "--site", site.domain, "--arg", "repair_settings=true",
                 stdout=__import__("io").StringIO())
    verifies.append(made(cancel=False))
    assert all(t.args == {"repair_settings": True} for t in verifies)
    from hosting.engine.worker import execute

    execute(verifies[-1].pk)
    assert Site.objects.get(pk=site.pk).attention == ""
    assert run(site, "backup").state == Task.SUCCEEDED


@pytest.mark.parametrize("engine", ["mysql", "postgresql"])
def test_verify_never_connects_where_settings_php_points(installed, run):
    """settings.php points the site at another host: verify's check of the site's access used to
    connect there (from the worker, with the site's password); it goes to the recorded server
    and says the site is not using the database its backups cover."""
    site = installed()
    _, directory = site_paths(site)
    path = directory / "settings.php"
    os.chmod(path, 0o640)
    path.write_text(path.read_text().replace("'host' => '127.0.0.1'", "'host' => '192.0.2.1'"))
    task = run(site, "verify")
    assert task.state == Task.WARNING, (task.summary, log_of(task))
    assert "reaches its database" in log_of(task) and "192.0.2.1" in log_of(task)
    assert run(site, "backup").state == Task.SUCCEEDED
    repaired = run(site, "verify", {"repair_settings": True})
    assert repaired.state == Task.SUCCEEDED, log_of(repaired)
    assert "192.0.2.1" not in path.read_text()
