"""Every page costs a fixed number of queries, whatever the number of rows it shows: the page
is rendered with 5 and with 50 of everything, and the counts must be equal."""
from datetime import timedelta

import pytest
from django.core.cache import cache
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse
from django.utils import timezone

from hosting.models import Backup, Lock, Platform, Server, Site, Task, TaskLog, TaskStep
from tests.views.conftest import make_task


def populate(n: int, acme, globex, member, tmp_path) -> dict[str, object]:
    server = Server.objects.create(name=f"srv{n}", queue=f"q{n}")
    platforms = [Platform.objects.create(name=f"p{n}-{i}", server=server, path=str(tmp_path / f"p{n}-{i}"),
                                         status="enabled") for i in range(n)]
    sites = [Site.objects.create(domain=f"s{i}.n{n}.test", platform=platforms[i % len(platforms)],
                                 client=acme if i % 2 else globex, status="enabled") for i in range(n)]
    site = sites[1]
    tasks = [make_task(sites[i], "verify", ["succeeded", "failed", "queued", "paused"][i % 4], by=member,
                       finished_at=timezone.now() - timedelta(minutes=i)) for i in range(n)]
    tasks += [make_task(site, "backup", "succeeded", by=member) for _ in range(n)]
    running = [make_task(sites[i], "backup", "running") for i in range(n)]
    Lock.objects.bulk_create([Lock(key=f"site:{t.site_id}:{t.pk}", task=t) for t in running])
    Backup.objects.bulk_create([Backup(site=site, domain=site.domain, client=acme, path=f"/b/{i}", size=i)
                                for i in range(n)])
    detail = tasks[-1]
    TaskStep.objects.bulk_create([TaskStep(task=detail, position=i, name=f"s{i}", state="done",
                                           started_at=timezone.now(), finished_at=timezone.now()) for i in range(n)])
    TaskLog.objects.bulk_create([TaskLog(task=detail, position=i, at=timezone.now(), line=f"l{i}") for i in range(n)])
    return {"server": server, "platform": platforms[1], "site": site, "task": detail}


PAGES = [
    ("dashboard", lambda o: []), ("site-list", lambda o: []), ("site-detail", lambda o: [o["site"].pk]),
    ("platform-list", lambda o: []), ("platform-detail", lambda o: [o["platform"].pk]),
    ("server-list", lambda o: []), ("server-detail", lambda o: [o["server"].pk]),
    ("task-list", lambda o: []), ("task-detail", lambda o: [o["task"].pk]), ("task-log", lambda o: [o["task"].pk]),
    ("lock-list", lambda o: []),
]


def queries(client, url: str) -> int:
    with CaptureQueriesContext(connection) as captured:
        assert client.get(url).status_code == 200
    return len(captured)


@pytest.mark.parametrize("who", ["admin", "member"])
def test_it_costs_the_same_queries_for_5_and_50_rows(who, as_admin, as_member, acme, globex, member, tmp_path):
    client = as_admin if who == "admin" else as_member
    small = populate(5, acme, globex, member, tmp_path)
    counts_small = {name: queries(client, reverse(name, args=args(small))) for name, args in PAGES}
    Task.objects.all().delete()
    Backup.objects.all().delete()
    Site.objects.all().delete()
    Platform.objects.all().delete()
    big = populate(50, acme, globex, member, tmp_path)
    cache.clear()  # the dashboard's figures of the first round are still fresh: count them again
    counts_big = {name: queries(client, reverse(name, args=args(big))) for name, args in PAGES}
    assert counts_big == counts_small
    # 17: the dashboard reads the certificates expiring soon, the sites whose cron keeps
    # failing and the off-site remotes (one query each) besides its figures.
    assert max(counts_small.values()) <= 17, counts_small
