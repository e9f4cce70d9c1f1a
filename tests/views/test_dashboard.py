from datetime import timedelta

from django.urls import reverse
from django.utils import timezone

from tests.views.conftest import make_task


def test_it_shows_queue_health_to_an_admin(as_admin, site, globex_site):
    make_task(site, "backup", "queued")
    make_task(site, "verify", "paused", summary="worker lost during step dump")
    make_task(globex_site, "verify", "failed")
    response = as_admin.get(reverse("dashboard"))
    assert response.status_code == 200
    health = response.context
    assert (health["queued"], health["paused"], health["failed_24h"]) == (1, 1, 1)
    assert b"worker lost during step dump" in response.content  # the paused task needs attention


def test_it_counts_only_the_members_own_tasks(as_member, site, globex_site):
    make_task(site, "backup", "queued")
    make_task(globex_site, "verify", "queued")
    make_task(globex_site, "verify", "failed", summary="globex secret")
    response = as_member.get(reverse("dashboard"))
    assert response.context["queued"] == 1
    assert response.context["failed_24h"] == 0
    assert b"shop.globex.test" not in response.content
    assert b"globex secret" not in response.content


def test_it_shows_an_outsider_nothing_of_acme(as_outsider, site, site_task):
    response = as_outsider.get(reverse("dashboard"))
    assert response.status_code == 200
    assert b"www.acme.test" not in response.content
    assert response.context["sites_by_status"][1] == ("enabled", "Enabled", 0)


def test_it_lists_a_running_task_without_heartbeat_as_lost(as_admin, site):
    make_task(site, "backup", "running", heartbeat_at=timezone.now() - timedelta(minutes=5))
    response = as_admin.get(reverse("dashboard"))
    assert response.context["lost"] == 1
    assert b"No heartbeat since" in response.content


def test_it_charts_tasks_per_hour_by_outcome(as_admin, site):
    now = timezone.now()
    for state in ("succeeded", "succeeded", "failed"):
        make_task(site, "verify", state, finished_at=now)
    make_task(site, "verify", "succeeded", finished_at=now - timedelta(hours=30))  # outside the day
    response = as_admin.get(reverse("dashboard"))
    hours = response.context["hours"]
    assert len(hours) == 24
    assert hours[-1][1] == {"succeeded": 2, "failed": 1}
    assert sum(sum(c.values()) for _, c in hours) == 3
    assert b"<svg" in response.content and b"2 succeeded, 1 failed" in response.content


def test_it_answers_htmx_with_the_health_partial_only(as_admin, site):
    response = as_admin.get(reverse("dashboard") + "?part=health", HTTP_HX_REQUEST="true")
    assert response.status_code == 200
    assert b'id="health"' in response.content
    assert b"<html" not in response.content and b"Recent tasks" not in response.content
    assert "HX-Request" in response["Vary"]


def test_it_sends_anonymous_visitors_to_the_login_page(client):
    response = client.get(reverse("dashboard"))
    assert response.status_code == 302 and response["Location"].startswith(reverse("login"))


def test_it_counts_once_for_everyone_who_sees_the_same_tasks(as_admin, as_member, as_outsider, site, globex_site):
    import re

    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    def queued(client) -> int:
        page = client.get(reverse("dashboard") + "?part=health", HTTP_HX_REQUEST="true").content.decode()
        return int(re.search(r'<div class="n">(\d+)</div><div class="l">queued</div>', page).group(1))

    make_task(site, "backup", "queued")
    make_task(globex_site, "verify", "queued")
    assert queued(as_admin) == 2
    make_task(site, "verify", "queued")
    with CaptureQueriesContext(connection) as again:
        # Within FIGURES_FOR seconds: the same figures, without counting the queue again.
        assert queued(as_admin) == 2
    assert not [q for q in again.captured_queries if "COUNT" in q["sql"].upper()]
    # Another scope counts its own: acme's member sees acme's two, globex's member none of them.
    assert queued(as_member) == 2
    assert queued(as_outsider) == 1


def test_it_shows_the_clusters_of_each_queue_to_an_admin(as_admin, server):
    from tests.registry import cluster_row

    body = as_admin.get(reverse("dashboard") + "?part=health", HTTP_HX_REQUEST="true").content.decode()
    assert "no worker cluster serves it" in body  # even with nothing queued
    cluster_row("local", workers=3)
    from django.core.cache import cache

    cache.clear()  # the figures are shared for 2 s
    body = as_admin.get(reverse("dashboard") + "?part=health", HTTP_HX_REQUEST="true").content.decode()
    assert "1 cluster, 3 workers" in body and "no worker cluster serves" not in body
    cluster_row("local", problem="not restarting again")
    cache.clear()
    body = as_admin.get(reverse("dashboard") + "?part=health", HTTP_HX_REQUEST="true").content.decode()
    assert "2 clusters, 5 workers ⚠ a cluster reports a problem" in body


def test_it_shows_members_no_queue_or_cluster(as_member, server, site):
    response = as_member.get(reverse("dashboard"))
    assert response.context["queues"] is None and b"no worker cluster serves" not in response.content


def test_it_counts_a_queue_whose_running_tasks_beat_as_served(as_admin, server, site):
    make_task(site, "backup", "running", heartbeat_at=timezone.now())
    body = as_admin.get(reverse("dashboard") + "?part=health", HTTP_HX_REQUEST="true").content.decode()
    assert "running tasks beat" in body and "no worker cluster serves" not in body
