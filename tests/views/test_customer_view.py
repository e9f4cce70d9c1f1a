"""What a customer sees: a client member reads a task whose log, summary and step error hold the
server's absolute paths (platform root, site directory, SQLite directory, backup store, a drush
command line), in the panel, the live log, log.txt and the API, and finds none of the configured
roots; an administrator reads them all. Platforms are "Drupal <version> (<name>)" to members."""
from __future__ import annotations

import csv
import io
import json
from pathlib import Path

import pytest
from django.conf import settings
from django.urls import reverse
from django.utils import timezone

from hosting import audit
from hosting.models import Backup, Lock, TaskLog, TaskStep
from hosting.shown import Shown
from tests.tenancy.conftest import api_client
from tests.views.conftest import make_task


@pytest.fixture
def roots(hm_dirs, platform) -> list[str]:
    """Every configured root and the platform's path: none may reach a member."""
    found = {str(settings.HARBORMASTER_DATA_DIR), str(settings.HARBORMASTER_BACKUP_DIR), platform.path}
    found.update(str(r) for r in settings.HARBORMASTER_ROOTS)
    return sorted(found)


@pytest.fixture
def pathy_task(roots, site, member, platform, server):
    data = Path(settings.HARBORMASTER_DATA_DIR)
    site_dir = f"{platform.path}/sites/{site.domain}"
    archive = f"{settings.HARBORMASTER_BACKUP_DIR}/{site.domain}-20261207T120000Z.tar.zst"
    task = make_task(site, "backup", "failed", by=member,
                     summary=f"Failed: cannot write {site_dir}/files/x.txt.")
    TaskStep.objects.create(task=task, position=0, name="dump", label="Dump the database", state="failed",
                            error=f"sqlite3 {data}/databases/acme.sqlite: locked")
    lines = [
        f"$ {platform.path}/vendor/bin/drush --root={platform.path}/web --uri={site.domain} sql:dump",
        f"Copying {site_dir}/settings.php",
        f"Wrote {archive}",
        f"vhost {data}/vhosts/{site.domain}.conf written",
        "waiting for task #99 holding db:1:globex_db",
        "Login at https://www.acme.test/user/reset/1/abc",
    ]
    for i, line in enumerate(lines):
        TaskLog.objects.create(task=task, position=i, at=timezone.now(), line=line)
    return task


def _leaks(body: str, roots: list[str]) -> list[str]:
    return [r for r in roots if r in body]


def test_it_rewrites_paths_relative_to_the_site_for_members():
    show = Shown(internals=False)
    assert show.text("Copying /srv/p/web/sites/a.test/files/x.") == "Copying sites/a.test/files/x."
    assert show.text("--root=/srv/p/web done") == "--root=[server]/web done"
    assert show.text("see https://a.test/user/login and 1/2") == "see https://a.test/user/login and 1/2"
    assert show.text("sqlite:////srv/data/x.sqlite3") == "sqlite:// [server]/x.sqlite3"
    assert show.text("file:///srv/data/x") == "file:// [server]/x"
    assert Shown(internals=True).text("/srv/p/web") == "/srv/p/web"


def test_a_member_reads_the_task_page_without_server_paths(as_member, as_admin, pathy_task, roots, site):
    page = as_member.get(reverse("task-detail", args=[pathy_task.pk])).content.decode()
    assert not _leaks(page, roots)
    assert f"sites/{site.domain}/settings.php" in page and "[backups]/www.acme.test-20261207T120000Z.tar.zst" in page
    assert "#99" not in page and "db:1:globex_db" not in page and "https://www.acme.test/user/reset/1/abc" in page
    admin_page = as_admin.get(reverse("task-detail", args=[pathy_task.pk])).content.decode()
    assert set(_leaks(admin_page, roots)) >= {str(settings.HARBORMASTER_BACKUP_DIR)} and "db:1:globex_db" in admin_page


def test_a_member_reads_the_live_log_and_log_text_without_server_paths(as_member, as_admin, pathy_task, roots):
    poll = as_member.get(reverse("task-log", args=[pathy_task.pk]) + "?after=-1").content.decode()
    text = b"".join(as_member.get(reverse("task-log-text", args=[pathy_task.pk])).streaming_content).decode()
    assert "Copying" in poll and "Copying" in text
    assert not _leaks(poll, roots) and not _leaks(text, roots)
    admin_text = b"".join(as_admin.get(reverse("task-log-text", args=[pathy_task.pk])).streaming_content).decode()
    assert _leaks(admin_text, roots)


def test_a_member_reads_the_api_task_without_server_paths(member, admin_user, pathy_task, roots):
    client = api_client(member)
    bodies = [client.get(url).content.decode() for url in (
        f"/api/v1/tasks/{pathy_task.pk}", f"/api/v1/tasks/{pathy_task.pk}/log", "/api/v1/tasks")]
    assert all('"id"' in b or '"lines"' in b for b in bodies)
    assert not [leak for body in bodies for leak in _leaks(body, roots)]
    admin = api_client(admin_user, name="ops")
    assert _leaks(admin.get(f"/api/v1/tasks/{pathy_task.pk}/log").content.decode(), roots)


def test_a_member_sees_no_worker_host_nor_queue_of_a_running_task(as_member, as_admin, site, member):
    running = make_task(site, "backup", "running", by=member)
    Lock.objects.create(key=f"site:{site.pk}", task=running)
    queued = make_task(site, "verify", "queued", by=member)
    for url in (reverse("task-detail", args=[running.pk]), reverse("lock-list"),
                reverse("task-detail", args=[queued.pk])):
        assert "web1" not in as_member.get(url).content.decode()
    assert "web1" in as_admin.get(reverse("lock-list")).content.decode()
    assert "queue <span" not in as_member.get(reverse("task-detail", args=[queued.pk])).content.decode()
    assert as_member.get(reverse("status")).status_code == 403


def test_a_member_sees_platforms_as_drupal_choices_not_infrastructure(as_member, as_admin, site, platform, server,
                                                                      member, roots):
    Backup.objects.create(site=site, domain=site.domain, client=site.client, size=1,
                          path=f"{settings.HARBORMASTER_BACKUP_DIR}/acme-1.tar.zst")
    site_page = as_member.get(reverse("site-detail", args=[site.pk])).content.decode()
    assert "Drupal 10.3.1 (d10)" in site_page and "acme-1.tar.zst" in site_page
    assert not _leaks(site_page, roots) and reverse("server-detail", args=[server.pk]) not in site_page
    for url in (reverse("platform-list"), reverse("platform-detail", args=[platform.pk]),
                reverse("server-list"), reverse("server-detail", args=[server.pk])):
        body = as_member.get(url).content.decode()
        assert not _leaks(body, roots) and "localhost" not in body, url
    assert platform.path in as_admin.get(reverse("platform-detail", args=[platform.pk])).content.decode()
    new_site = as_member.get(reverse("site-new")).content.decode()
    assert "Drupal 10.3.1 (d10)</option>" in new_site and " on local" not in new_site
    # Searching platforms by path would probe the server's layout.
    found = as_member.get(reverse("platform-list"), {"q": platform.path[:12]}).context["page"].rows
    assert list(found) == []


def test_a_member_reads_platforms_and_servers_in_the_api_without_paths_or_queues(member, admin_user, site, platform,
                                                                                 server, roots):
    client = api_client(member)
    platforms = client.get("/api/v1/platforms").json()["items"]
    assert platforms[0]["label"] == "Drupal 10.3.1 (d10)" and platforms[0]["path"] == ""
    servers = client.get(f"/api/v1/servers/{server.pk}").json()
    assert servers["queue"] == "" and servers["hostname"] == ""
    admin = api_client(admin_user, name="ops")
    assert admin.get(f"/api/v1/platforms/{platform.pk}").json()["path"] == platform.path
    assert all(c["name"] == "workers" for c in client.get("/api/v1/status").json()["checks"]
               if c["group"] == "workers")


def test_a_members_audit_trail_names_platforms_but_no_paths(as_member, member, site, platform, roots):
    audit.record("system", "site.moved", site, before={"platform": "d9", "path": f"{platform.path}/sites/x"},
                 after={"platform": platform.name}, detail=f"found in {platform.path}/sites/{site.domain}")
    page = as_member.get(reverse("audit-list")).content.decode()
    assert "site.moved" in page and not _leaks(page, roots)
    export = b"".join(as_member.get(reverse("audit-export")).streaming_content).decode()
    row = next(r for r in csv.DictReader(io.StringIO(export)) if r["action"] == "site.moved")
    assert json.loads(row["before"]) == {"platform": "d9", "path": "sites/x"}
    assert json.loads(row["after"]) == {"platform": "d10"} and not _leaks(export, roots)
    api = api_client(member).get("/api/v1/audit", {"action": "site.moved"}).json()["items"][0]
    assert api["before"]["path"] == "sites/x" and platform.path not in api["detail"]



def test_another_clients_member_gets_404_for_the_task_and_its_log(as_outsider, outsider, pathy_task):
    for name in ("task-detail", "task-log", "task-log-text"):
        assert as_outsider.get(reverse(name, args=[pathy_task.pk])).status_code == 404
    client = api_client(outsider)
    assert client.get(f"/api/v1/tasks/{pathy_task.pk}/log").status_code == 404


def test_a_clients_task_is_notified_without_server_paths(pathy_task, roots):
    from hosting.notify import task_event

    event = task_event(pathy_task)
    assert "sites/www.acme.test/files/x.txt" in event.summary and not _leaks(event.payload().decode(), roots)
