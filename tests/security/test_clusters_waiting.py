"""Issue 13, item 16: `tasks show` and the API's task detail give the waiting reason of a task
whose queue nobody serves, as the panel's task page does; the reason comes from the clusters'
registry. Hosts and pids of clusters are for administrators: a client's people get the reason
without them."""
from __future__ import annotations

import json
from datetime import timedelta
from io import StringIO
from pathlib import Path

import pytest
from django.core.management import call_command
from django.urls import reverse
from django.utils import timezone

from hosting.actions import queue_task
from hosting.models import Cluster, Platform, Site
from tests.registry import cluster_row
from tests.tenancy.conftest import api_client

UNSERVED = "no worker cluster serves queue local"


@pytest.fixture
def waiting(server, acme, tmp_path: Path):
    platform = Platform.objects.create(name="p1", server=server, path=str(tmp_path / "p1"), status="enabled")
    site = Site.objects.create(domain="www.acme.test", platform=platform, client=acme, status="enabled")
    return queue_task(site, "backup")


def _stopped_cluster() -> Cluster:
    return cluster_row("local", host="w1.internal", pid=4242, stopped_at=timezone.now() - timedelta(minutes=3),
                       stop_reason=Cluster.STOPPED)


def _show(*args: str) -> str:
    out = StringIO()
    call_command("tasks", "show", *args, stdout=out, stderr=StringIO())
    return out.getvalue()


def test_tasks_show_says_that_no_cluster_serves_the_queue(waiting):
    text = _show(str(waiting.pk))
    assert f"waiting reason: {UNSERVED}: none has registered (is `qcluster` running for local?)" in text
    _stopped_cluster()
    data = json.loads(_show(str(waiting.pk), "--json"))
    assert data["waiting_reason"] == f"{UNSERVED}: the last one (w1.internal pid 4242) stopped 3 min ago"
    cluster_row("local")  # a live cluster: the task simply waits for a free worker
    assert "waiting reason" not in _show(str(waiting.pk))


def test_the_apis_task_detail_says_it_too_without_internals_for_members(waiting, admin_user, member):
    _stopped_cluster()
    as_admin = api_client(admin_user).get(f"/api/v1/tasks/{waiting.pk}").json()
    assert as_admin["waiting_reason"] == f"{UNSERVED}: the last one (w1.internal pid 4242) stopped 3 min ago"
    api = api_client(member)
    assert (api.get(f"/api/v1/tasks/{waiting.pk}").json()["waiting_reason"]
            == f"{UNSERVED}: the last one stopped 3 min ago")
    cluster_row("local")
    assert api.get(f"/api/v1/tasks/{waiting.pk}").json()["waiting_reason"] == ""


def test_the_panels_task_page_says_it_from_the_registry(waiting, client, member):
    _stopped_cluster()
    client.force_login(member)
    body = client.get(reverse("task-detail", args=[waiting.pk])).content.decode()
    assert f"{UNSERVED}: the last one stopped 3 min ago" in body and "w1.internal" not in body
