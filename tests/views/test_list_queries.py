"""The pages and API lists that tests/views/test_queries.py does not cover cost a fixed number of
queries too: each is asked with 5 and then with 50 rows of everything, and the counts must be
equal (one query per row would show as 45 more)."""
from __future__ import annotations

from datetime import timedelta

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse
from django.utils import timezone

from hosting import access, quotas
from hosting.models import ApiToken, AuditEvent, Backup, Client, Lock, Membership, Platform, Server, Site, TaskLog
from tests.tenancy.conftest import api_client
from tests.views.conftest import make_task


def populate(start: int, stop: int, acme, member, tmp_path) -> dict[str, object]:
    """Rows START..STOP-1 of everything, each client's with the member in it."""
    for i in range(start, stop):
        client = Client.objects.create(name=f"c{i}", max_sites=10)
        Membership.objects.create(client=client, user=member, role=Membership.MEMBER)
        server = Server.objects.create(name=f"srv{i}", queue=f"q{i}")
        platform = Platform.objects.create(name=f"p{i}", server=server, path=str(tmp_path / f"p{i}"), status="enabled")
        platform.clients.set([client, acme])
        site = Site.objects.create(domain=f"s{i}.test", platform=platform, client=client, status="enabled",
                                   disk_files_bytes=i)
        Site.objects.create(domain=f"a{i}.acme.test", platform=platform, client=acme, status="enabled")
        Backup.objects.create(site=site, domain=site.domain, client=client, path=f"/b/{i}", size=i)
        task = make_task(site, "verify", "succeeded", by=member, finished_at=timezone.now() - timedelta(minutes=i))
        running = make_task(site, "backup", "running")
        Lock.objects.create(key=f"site:{site.pk}", task=running)
        AuditEvent.objects.create(actor=member, actor_label="member", action="task.queued", object_type="task",
                                  object_id=str(task.pk), object_label=str(task), client=client)
        ApiToken.issue(member, f"t{i}", ApiToken.READ)
    detail = make_task(Site.objects.get(domain="s0.test"), "backup", "succeeded", by=member)
    TaskLog.objects.bulk_create([TaskLog(task=detail, position=i, at=timezone.now(), line=f"l{i}")
                                 for i in range(stop)])
    return {"task": detail, "site": Site.objects.get(domain="s0.test")}


PAGES = [
    ("client-list", lambda o, acme: []), ("client-detail", lambda o, acme: [acme.pk]),
    ("audit-list", lambda o, acme: []), ("token-list", lambda o, acme: []),
    ("notification-preferences", lambda o, acme: []),
    ("task-control", lambda o, acme: [o["task"].pk, "retry"]),
]
API = ["/api/v1/sites", "/api/v1/platforms", "/api/v1/servers", "/api/v1/clients", "/api/v1/tasks",
       "/api/v1/tasks/{task}/log", "/api/v1/tasks/{task}", "/api/v1/backups", "/api/v1/backups?site={site}",
       "/api/v1/tasks?site={site}", "/api/v1/locks", "/api/v1/audit"]


def counts(browser, api, objects, acme) -> dict[str, int]:
    found = {}
    urls = {name: reverse(name, args=args(objects, acme)) for name, args in PAGES}
    urls.update({url: url.format(task=objects["task"].pk, site=objects["site"].pk) for url in API})
    for label, url in urls.items():
        client = api if url.startswith("/api/") else browser
        with CaptureQueriesContext(connection) as captured:
            response = client.get(url)
        assert response.status_code == 200, (url, response.content[:300])
        found[label] = len(captured)
    return found


@pytest.mark.parametrize("who", ["admin", "member"])
@pytest.mark.django_db
def test_it_costs_the_same_queries_for_5_and_50_rows(who, as_admin, as_member, admin_user, member, acme, tmp_path):
    browser = as_admin if who == "admin" else as_member
    api = api_client(admin_user if who == "admin" else member, "read")
    objects = populate(0, 5, acme, member, tmp_path)
    small = counts(browser, api, objects, acme)
    objects = populate(5, 50, acme, member, tmp_path)
    big = counts(browser, api, objects, acme)
    assert big == small
    assert max(small.values()) <= 12, small


@pytest.mark.django_db
def test_usage_of_a_page_of_clients_is_what_usage_says_of_each(acme, globex, member, tmp_path):
    populate(0, 3, acme, member, tmp_path)
    Site.objects.filter(domain="s1.test").update(status=Site.DELETED)
    clients = list(Client.objects.order_by("name"))
    with CaptureQueriesContext(connection) as captured:
        together = quotas.usage_of(clients)
    assert len(captured) == 2
    assert together == {c.pk: quotas.usage(c) for c in clients}
    assert together[Client.objects.get(name="c1").pk]["sites"] == 0


@pytest.mark.django_db
def test_a_members_platforms_are_found_once_each_without_joining_their_sites(member, acme, globex, server, tmp_path):
    def platform(name: str, clients=(), status: str = "enabled") -> Platform:
        made = Platform.objects.create(name=name, server=server, path=str(tmp_path / name), status=status)
        made.clients.set(clients)
        return made

    platform("open")
    ours = platform("ours", [acme, globex])
    platform("theirs", [globex])
    holding = platform("holding", [globex])  # not open to acme, but acme's sites live there
    platform("gone", status="deleted")
    for i in range(3):
        Site.objects.create(domain=f"h{i}.acme.test", platform=holding, client=acme)
        Site.objects.create(domain=f"o{i}.acme.test", platform=ours, client=acme)
    visible = access.platforms(member)
    assert sorted(visible.values_list("name", flat=True)) == ["holding", "open", "ours"]
    # A join through the sites (made unique with DISTINCT) read every site of every platform.
    assert 'JOIN "hosting_site"' not in str(visible.query)
