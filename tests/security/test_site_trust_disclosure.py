"""A client's member reads about its own site only, never another client's domain, database or path.

Before: when site A's settings.php named site B's database, A's attention ("settings.php names
the database 'x', which belongs to b.example"), the failed task's summary and step, and the task
log (verify's "settings.php names the mysql database x") told A's members B's domain and
database; a site found on a second platform named both platforms. Now members read what concerns
their own site ("names another database"), and administrators read the detail: the site's
attention_detail, and task log lines of level "detail", which only they are shown."""
from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

from hosting.models import Site, Task
from tests.operations.conftest import (
    _ops,  # noqa: F401 - autouse: data dirs, transactional db
    log_of,
    site_paths,
)
from tests.security.test_site_trust_database import point_at
from tests.tenancy.conftest import api_client


def everything_a_member_reads(http, api, site: Site, tasks: list[Task]) -> str:
    """Every page and answer about SITE and TASKS, as the logged-in HTTP client and API client read them."""
    pages = [f"/sites/{site.pk}/", "/sites/", "/sites/?attention=1", "/", "/tasks/", "/tasks/export.csv"]
    for task in tasks:
        pages += [f"/tasks/{task.pk}/", f"/tasks/{task.pk}/log/", f"/tasks/{task.pk}/log.txt"]
    texts = []
    for page in pages:
        answer = http.get(page)
        assert answer.status_code == 200, page
        texts.append(b"".join(answer.streaming_content).decode() if answer.streaming else answer.content.decode())
    calls = [f"/api/v1/sites/{site.pk}", "/api/v1/sites", "/api/v1/tasks"]
    for task in tasks:
        calls += [f"/api/v1/tasks/{task.pk}", f"/api/v1/tasks/{task.pk}/log"]
    for call in calls:
        answer = api.get(call)
        assert answer.status_code == 200, call
        texts.append(json.dumps(answer.json()))
    return "\n".join(texts)


def secrets_of(site: Site) -> list[str]:
    """What names SITE: its domain, its database name and its directory."""
    site.refresh_from_db()
    _, directory = site_paths(site)
    return [site.domain, str(directory)] + ([site.db_name] if site.db_name else [])


@pytest.fixture
def tenants(installed, member, outsider):
    """Site A of the member's client, site B of the outsider's (another client)."""
    a, b = installed(), installed()
    Site.objects.filter(pk=a.pk).update(client=member.memberships.get().client)
    Site.objects.filter(pk=b.pk).update(client=outsider.memberships.get().client)
    a.refresh_from_db()
    b.refresh_from_db()
    return a, b


@pytest.mark.parametrize("engine", ["sqlite", "mysql"])
def test_a_member_never_reads_whose_database_settings_php_names(tenants, run, client, member, admin_user):
    from hosting.notify import task_event

    a, b = tenants
    point_at(a, b)
    backup = run(a, "backup", by=member)
    verify = run(a, "verify", by=member)
    assert backup.state == Task.FAILED and verify.state == Task.FAILED, (backup.summary, verify.summary)
    a.refresh_from_db()
    assert a.attention and "another database" in a.attention

    client.force_login(member)
    seen = everything_a_member_reads(client, api_client(member), a, [backup, verify])
    assert a.domain in seen and "another database" in seen
    for secret in secrets_of(b):
        assert secret not in seen, f"a member of A read {secret!r}"
    notices = task_event(backup).payload().decode() + task_event(verify).payload().decode()  # e-mail, webhooks
    for secret in secrets_of(b):
        assert secret not in notices

    # The administrator reads the whole story.
    client.force_login(admin_user)
    admin_seen = everything_a_member_reads(client, api_client(admin_user), a, [backup, verify])
    name = b.db_name or Path(b.db_file).name
    assert name in a.attention_detail and name in admin_seen
    assert name in log_of(verify) and name in log_of(backup)


@pytest.mark.parametrize("engine", ["sqlite"])
def test_a_member_never_reads_the_other_platform_holding_a_copy(tenants, make_platform, local, run, client,
                                                                member, admin_user, outsider):
    a, _b = tenants
    hidden = make_platform(local, "outsiders-own")
    hidden.clients.set([outsider.memberships.get().client])
    _, source = site_paths(a)
    shutil.copytree(source, Path(hidden.docroot) / "sites" / a.domain)
    found = run(hidden, "verify")
    assert found.state == Task.WARNING, log_of(found)
    verify = run(a, "verify", by=member)
    a.refresh_from_db()
    assert a.attention_platform_id == hidden.pk and "Another platform" in a.attention

    client.force_login(member)
    seen = everything_a_member_reads(client, api_client(member), a, [verify])
    assert "Another platform" in seen
    assert "outsiders-own" not in seen and hidden.path not in seen

    client.force_login(admin_user)
    admin_seen = everything_a_member_reads(client, api_client(admin_user), a, [verify])
    assert "outsiders-own" in admin_seen and "outsiders-own" in a.attention_detail


@pytest.mark.parametrize("engine", ["mysql"])
def test_an_import_naming_another_clients_database_tells_only_the_administrator(tenants, platform, run):
    a, b = tenants
    _, directory = site_paths(b)
    evil = Path(platform.docroot) / "sites" / "evil.example.test"
    evil.mkdir()
    shutil.copy(directory / "settings.php", evil / "settings.php")
    run(platform, "verify")
    imported = Site.objects.get(domain="evil.example.test")
    assert imported.attention and imported.attention_detail
    for secret in secrets_of(b):
        assert secret not in imported.attention
    assert b.domain in imported.attention_detail


def test_reasons_recorded_before_become_the_administrators_detail(transactional_db):
    """Migration 0008: a reason from before may name another client's site ("recorded for
    victim.test too"); the client reads one that names nothing, the administrator the old one."""
    from django.db import connection
    from django.db.migrations.executor import MigrationExecutor

    before, after = [("hosting", "0008_site_attention_database")], [("hosting", "0009_attention_detail")]
    executor = MigrationExecutor(connection)
    executor.migrate(before)
    try:
        apps = executor.loader.project_state(before).apps
        Server, Platform, Site = (apps.get_model("hosting", m) for m in ("Server", "Platform", "Site"))
        server = Server.objects.create(name="db1", queue="db1", db_engine="mysql")
        p1 = Platform.objects.create(name="p1", server=server, path="/srv/p1", status="enabled")
        reason = "Imported with the database victim_db, which is recorded for victim.test too."
        flagged = Site.objects.create(domain="evil.test", platform=p1, status="enabled", attention=reason).pk
        fine = Site.objects.create(domain="fine.test", platform=p1, status="enabled").pk
        executor = MigrationExecutor(connection)
        executor.migrate(after)
        Site = executor.loader.project_state(after).apps.get_model("hosting", "Site")
        got = Site.objects.get(pk=flagged)
        assert got.attention and "victim" not in got.attention and got.attention_detail == reason
        assert (Site.objects.get(pk=fine).attention, Site.objects.get(pk=fine).attention_detail) == ("", "")
    finally:
        executor = MigrationExecutor(connection)
        executor.loader.build_graph()
        executor.migrate(executor.loader.graph.leaf_nodes())
