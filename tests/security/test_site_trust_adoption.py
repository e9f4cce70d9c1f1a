"""A settings.php naming a database that Harbormaster did not create for the site.

Before: a platform verify's import (and a verify of a record without a database) recorded ANY
database of the server that no other live record named: Harbormaster's own control database, or
one another tenant or tool made out of band. Backup and clone then copied it, and a delete of the
site dropped it. Now the control database is never taken, a database Harbormaster did not record
for the site waits for an administrator's "adopt database" (panel, API, command line; audited),
and two tasks recording the same database at the same moment cannot both win."""
from __future__ import annotations

import io
import os
import secrets
import threading
from pathlib import Path

import pytest
from django.core.management import CommandError, call_command
from django.db import connection

from hosting.engine.worker import execute
from hosting.models import AuditEvent, Site, Task
from hosting.operations import ownership, resources
from provision.settings_php import DatabaseSettings
from tests.operations.conftest import (
    _ops,  # noqa: F401 - autouse: data dirs, transactional db
    log_of,
    query,
)
from tests.security.test_site_trust_import import imported, plant, write_db


def out_of_band(server, domains, label: str = "oob") -> DatabaseSettings:
    """A database (and user) of SERVER made by someone else, holding someone else's row."""
    driver = resources.db_driver(server)
    name = f"{domains.prefix}{label}"
    password = secrets.token_hex(12)
    driver.create_database(name)
    user = name if server.db_engine != "sqlite" else ""
    if user:
        driver.create_user(user, password)
        driver.grant(name, user)
    db = driver.settings_for(name, user, password)
    query(db, Path("/"), "CREATE TABLE private (body VARCHAR(100))")
    query(db, Path("/"), "INSERT INTO private VALUES ('another tenant''s row')")
    return db


def name_of(db: DatabaseSettings) -> str:
    """The database's name as a record holds it (an SQLite server's: the file's stem)."""
    return Path(db.database).stem if db.driver == "sqlite" else db.database


def test_an_import_waits_for_an_administrator_to_adopt_a_database_made_out_of_band(
        make_platform, local, run, domains, admin_user, member, client):
    theirs = out_of_band(local, domains)
    platform = make_platform(local)
    evil = domains.new("evil")
    write_db(plant(platform, evil), theirs)
    task = run(platform, "verify")
    assert task.state == Task.WARNING, log_of(task)
    site = imported(evil)
    assert (site.db_name, site.db_user, site.db_file) == ("", "", "")
    assert "did not create" in site.attention and site.attention_database == name_of(theirs)
    assert not Task.objects.filter(site=site).exists()
    Site.objects.filter(pk=site.pk).update(client=member.memberships.get().client)
    # A member sees why, and may not adopt it.
    client.force_login(member)
    assert "did not create" in client.get(f"/sites/{site.pk}/").content.decode()
    url = f"/sites/{site.pk}/adopt-database/"
    assert client.post(url, {"database": name_of(theirs)}).status_code == 403
    # Deleting the site as it is leaves the database alone.
    assert run(Site.objects.get(pk=site.pk), "delete").state in (Task.SUCCEEDED, Task.WARNING)
    assert query(theirs, Path("/"), "SELECT body FROM private") == [("another tenant's row",)]
    # Imported again, an administrator adopts it with one click; a verify records it.
    write_db(plant(platform, evil), theirs)
    run(platform, "verify")
    site = Site.objects.exclude(status=Site.DELETED).get(domain=evil)
    client.force_login(admin_user)
    assert f"Adopt database {name_of(theirs)}" in client.get(f"/sites/{site.pk}/").content.decode()
    assert client.post(f"/sites/{site.pk}/adopt-database/", {"database": name_of(theirs)}).status_code == 302
    verify = Task.objects.get(site=site, kind="verify", state=Task.QUEUED)
    assert verify.args == {"adopt_database": name_of(theirs)} and verify.created_by == admin_user
    execute(verify.pk)
    verify.refresh_from_db()
    assert verify.state in (Task.SUCCEEDED, Task.WARNING), log_of(verify)
    site.refresh_from_db()
    assert site.db_name == name_of(theirs) and site.attention == "" and site.attention_database == ""
    event = AuditEvent.objects.get(action="site.database_adopted", object_id=str(site.pk))
    assert event.after == {"db_name": name_of(theirs)}


@pytest.mark.parametrize("engine", ["sqlite"])
def test_the_api_and_the_command_adopt_too_and_only_the_waiting_name(make_platform, local, run, domains,
                                                                       admin_user, member):
    from tests.tenancy.conftest import api_client

    theirs = out_of_band(local, domains)
    platform = make_platform(local)
    domain = domains.new("lite")
    write_db(plant(platform, domain), theirs)
    run(platform, "verify")
    site = imported(domain)
    url = f"/api/v1/sites/{site.pk}/adopt-database"
    body = {"database": name_of(theirs)}
    assert api_client(member).post(url, body, content_type="application/json").status_code in (403, 404)
    admin = api_client(admin_user)
    answer = admin.post(url, {"database": "postgres"}, content_type="application/json")
    assert answer.status_code == 409 and "not 'postgres'" in answer.content.decode(), answer.content
    with pytest.raises(CommandError, match="not 'postgres'"):
        call_command("site", "adopt-database", domain, "--database", "postgres")
    out = io.StringIO()
    call_command("site", "adopt-database", domain, "--database", name_of(theirs), stdout=out)
    assert "verify queued" in out.getvalue()
    # Asked again while that verify is queued: refused with the reason.
    assert admin.post(url, body, content_type="application/json").status_code == 409
    verify = Task.objects.get(site=site, kind="verify", state=Task.QUEUED)
    execute(verify.pk)
    assert Site.objects.get(pk=site.pk).db_name == name_of(theirs)


@pytest.mark.parametrize("engine", ["sqlite"])
def test_a_confirmation_is_an_administrators_only(local, platform, admin_user, member, acme):
    site = Site.objects.create(domain="x.example.test", platform=platform, client=acme, status="enabled")
    for by, wanted in ((admin_user, "theirs"), (member, False), (None, "theirs")):
        task = Task.objects.create(kind="verify", target_type="site", site=site, platform=platform, server=local,
                                   created_by=by, args={"adopt_database": "theirs"}, target_label=site.domain)
        # A retry by a member carries the stored arguments, but not the administrator's word.
        assert ownership.confirmation(task, "adopt_database") == wanted


@pytest.mark.parametrize("engine", ["sqlite"])
def test_a_database_a_delete_task_dropped_is_not_known_when_made_again(installed, run, platform, domains):
    site = installed()
    directory = Path(platform.docroot) / "sites" / site.domain
    declared = (directory / "settings.php").read_bytes()
    assert run(site, "delete").state in (Task.SUCCEEDED, Task.WARNING)
    resources.db_driver(platform.server).create_database(site.db_name)  # made again by someone else
    directory.mkdir(parents=True)
    (directory / "settings.php").write_bytes(declared)
    assert run(platform, "verify").state == Task.WARNING
    back = Site.objects.exclude(status=Site.DELETED).get(domain=site.domain)
    assert back.db_name == "" and back.attention_database == site.db_name


def _control_settings(local, directory: Path, domains) -> DatabaseSettings:
    """settings.php entries naming the control database, as the site's server reaches it."""
    control = connection.settings_dict["NAME"]
    if connection.vendor == "sqlite":
        # A hard link inside the site directory: a path that stays inside it, to the same file.
        os.link(control, directory / "files" / ".ht.sqlite")
        return DatabaseSettings(driver="sqlite", database=str(directory / "files" / ".ht.sqlite"))
    return resources.db_driver(local).settings_for(control, f"{domains.prefix}evil", "x")


def test_it_never_takes_harbormasters_own_database(make_server, make_platform, run, domains):
    local = make_server("sqlite" if connection.vendor == "sqlite" else connection.vendor)
    platform = make_platform(local)
    domain = domains.new("evil")
    directory = plant(platform, domain)
    write_db(directory, _control_settings(local, directory, domains))
    # Not even with an operator's word that every database the sites name is theirs.
    task = run(platform, "verify", {"adopt_databases": True})
    assert task.state == Task.WARNING, log_of(task)
    site = imported(domain)
    assert (site.db_name, site.db_file, site.attention_database) == ("", "", "")
    # The client reads that it cannot own it; administrators read why (the detail).
    assert "cannot own" in site.attention and "control database" in site.attention_detail
    verify = run(site, "verify", {"adopt_database": connection.settings_dict["NAME"]})
    assert verify.state == Task.FAILED and "cannot own" in verify.summary
    assert "control database" in log_of(verify)
    assert Site.objects.get(pk=site.pk).db_name == ""


@pytest.mark.parametrize("engine", ["sqlite"])
def test_two_imports_of_one_database_at_the_same_moment_record_it_once(make_platform, local, domains, monkeypatch):
    """Two platform verifies (two platforms of one server) each import a site naming the same
    database, with an operator's confirmation, both checking before either records it."""
    theirs = out_of_band(local, domains)
    platforms = [make_platform(local, f"p{n}") for n in (1, 2)]
    for n, platform in enumerate(platforms):
        write_db(plant(platform, domains.new(f"race{n}")), theirs)
    both_checked = threading.Barrier(2, timeout=5)
    checking = ownership.owner_of

    def owner_of(*args, **kwargs):
        site = checking(*args, **kwargs)
        if not both_checked.broken:
            try:
                both_checked.wait()
            except threading.BrokenBarrierError:
                pass
        return site

    monkeypatch.setattr(ownership, "owner_of", owner_of)
    from hosting.actions import queue_task

    tasks = [queue_task(p, "verify", args={"adopt_databases": True}) for p in platforms]

    def run_one(task_id: int) -> None:
        try:
            execute(task_id)
        finally:
            connection.close()

    threads = [threading.Thread(target=run_one, args=(t.pk,)) for t in tasks]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(60)
    owners = Site.objects.exclude(status=Site.DELETED).filter(db_name=name_of(theirs))
    assert owners.count() == 1, [(s.domain, s.attention) for s in Site.objects.all()]
    loser = Site.objects.exclude(status=Site.DELETED).exclude(db_name=name_of(theirs)).get()
    assert "recording the database" in loser.attention or "belongs to" in loser.attention
