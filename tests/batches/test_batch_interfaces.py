"""The batch migrate from the command line, the JSON API and the panel: all through start_task,
administrators only (others get 404), the same progress everywhere."""
from __future__ import annotations

import json
from io import StringIO

import pytest
from django.core.management import CommandError, call_command
from django.urls import reverse

from hosting.models import MigrationBatch, Site
from tests.batches.conftest import drive, fail_for


def cli(*args: str) -> str:
    out = StringIO()
    call_command("platform", *args, stdout=out)
    return out.getvalue()


def test_the_command_line_starts_shows_pauses_and_resumes_a_batch(quick_site, platform, target):
    sites = [quick_site() for _ in range(3)]
    fail_for(target, sites[1].domain)
    queued = json.loads(cli("migrate-sites", platform.name, target.name, "--max-failures", "3", "--json"))
    drive(limit=1)  # the planning task only
    batch = MigrationBatch.objects.get(task_id=queued["task"])
    assert "paused" in cli("batch-pause", str(batch.pk))
    drive()
    assert "paused" in cli("batch-status", f"#{queued['task']}")
    cli("batch-resume", str(batch.pk))
    drive()
    data = json.loads(cli("batch-status", str(batch.pk), "--json"))
    assert data["state"] == "done" and data["progress"]["moved"] == 2 and data["progress"]["failed"] == 1
    failed = next(s for s in data["sites"] if s["state"] == "failed")
    assert failed["domain"] == sites[1].domain and "updatedb" in failed["reason"]
    with pytest.raises(CommandError, match="No installed site|only a running"):
        cli("batch-pause", str(batch.pk))


def test_the_command_line_refuses_a_target_on_another_server(quick_site, platform, make_server, make_platform):
    quick_site()
    elsewhere = make_platform(make_server(name="other"), "p3")
    with pytest.raises(CommandError, match="No other enabled platform is on this server"):
        cli("migrate-sites", platform.name, elsewhere.name)
    make_platform(platform.server, "p4")
    with pytest.raises(CommandError, match="target: Select a valid choice"):
        cli("migrate-sites", platform.name, elsewhere.name)
    assert not MigrationBatch.objects.exists()


def test_the_api_starts_a_batch_and_shows_its_progress(api_as, admin_user, member, quick_site, platform, target):
    quick_site(), quick_site()
    http = api_as(admin_user)
    response = http.post(f"/api/v1/platforms/{platform.pk}/migrate-sites", {"target": target.pk},
                         content_type="application/json")
    assert response.status_code == 202, response.content
    drive(limit=1)
    listed = http.get(f"/api/v1/batches?task={response.json()['id']}").json()
    batch_id = listed[0]["id"]
    assert http.post(f"/api/v1/batches/{batch_id}/pause").json()["state"] == "paused"
    assert http.post(f"/api/v1/batches/{batch_id}/pause").status_code == 409
    assert http.post(f"/api/v1/batches/{batch_id}/resume", {}, content_type="application/json").status_code == 200
    drive()
    body = http.get(f"/api/v1/batches/{batch_id}").json()
    assert body["state"] == "done" and body["progress"]["moved"] == 2
    # A client member sees no batch and cannot start one.
    # (the platforms here are open to every client, so a member sees them: 403, not 404)
    other = api_as(member)
    assert other.get(f"/api/v1/batches/{batch_id}").status_code == 403
    assert other.get("/api/v1/batches").status_code == 403
    assert other.post(f"/api/v1/batches/{batch_id}/resume", {}, content_type="application/json").status_code == 403
    assert other.post(f"/api/v1/platforms/{platform.pk}/migrate-sites", {"target": target.pk},
                      content_type="application/json").status_code == 403


def test_the_panel_shows_the_batch_to_administrators_only(client, admin_user, member, quick_site, platform, target):
    site = quick_site()
    client.force_login(admin_user)
    page = client.get(reverse("platform-detail", args=[platform.pk])).content.decode()
    assert "Migrate all sites" in page
    response = client.post(reverse("platform-task", args=[platform.pk, "migrate-sites"]),
                           {"target": target.pk, "max_failures": ""})
    assert response.status_code in (200, 302)
    drive()
    batch = MigrationBatch.objects.get()
    page = client.get(reverse("batch-detail", args=[batch.pk])).content.decode()
    assert "1</b> moved" in page and site.domain in page
    assert Site.objects.get(pk=site.pk).platform_id == target.pk
    client.force_login(member)  # the platforms are open to every client: it sees them, 403
    assert client.get(reverse("batch-detail", args=[batch.pk])).status_code == 403
    assert client.post(reverse("batch-control", args=[batch.pk, "pause"])).status_code == 403
