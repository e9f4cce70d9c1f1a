"""The maintenance tasks (cache-rebuild, updatedb, cron) from the API and the panel: a client's
member starts them on its own site; another client's site is 404 and nothing is queued."""
import pytest
from django.urls import reverse

from hosting.models import Task

KINDS = ["cache-rebuild", "updatedb", "cron"]


@pytest.mark.parametrize("kind", KINDS)
def test_a_member_starts_it_on_the_clients_site(api_as, member, site, kind):
    response = api_as(member).post(f"/api/v1/sites/{site.pk}/tasks", {"type": kind},
                                   content_type="application/json")
    assert response.status_code == 202, response.content
    task = Task.objects.get(pk=response.json()["id"])
    assert task.kind == kind and task.site_id == site.pk and task.created_by == member


@pytest.mark.parametrize("kind", KINDS)
def test_another_clients_site_is_not_found(api_as, outsider, site, kind):
    response = api_as(outsider).post(f"/api/v1/sites/{site.pk}/tasks", {"type": kind},
                                     content_type="application/json")
    assert response.status_code == 404
    assert not Task.objects.filter(site=site, kind=kind).exists()


@pytest.mark.parametrize("kind", KINDS)
def test_a_viewer_may_not_start_it(api_as, viewer, site, kind):
    response = api_as(viewer).post(f"/api/v1/sites/{site.pk}/tasks", {"type": kind},
                                   content_type="application/json")
    assert response.status_code in (403, 404)
    assert not Task.objects.filter(site=site, kind=kind).exists()


@pytest.mark.parametrize("kind", KINDS)
def test_the_panel_hides_another_clients_site(client, outsider, site, kind):
    client.force_login(outsider)
    response = client.post(reverse("site-task", args=[site.pk, kind]), {"confirm": "1"})
    assert response.status_code == 404
    assert not Task.objects.filter(site=site, kind=kind).exists()


def test_a_member_reads_and_sets_the_sites_cron(api_as, member, site):
    http = api_as(member)
    body = http.get(f"/api/v1/sites/{site.pk}/cron").json()
    assert body["interval"] == 60 and body["own_interval"] is None and body["runs"] == []
    response = http.post(f"/api/v1/sites/{site.pk}/cron", {"interval": 0}, content_type="application/json")
    assert response.status_code == 200 and response.json()["interval"] == 0
    response = http.post(f"/api/v1/sites/{site.pk}/cron", {"interval": 2}, content_type="application/json")
    assert response.status_code == 400 and response.json()["code"] == "bad_input"


def test_another_clients_cron_is_not_found(api_as, outsider, site):
    http = api_as(outsider)
    assert http.get(f"/api/v1/sites/{site.pk}/cron").status_code == 404
    response = http.post(f"/api/v1/sites/{site.pk}/cron", {"interval": 30}, content_type="application/json")
    assert response.status_code == 404
    from hosting.models import SiteCron
    assert not SiteCron.objects.filter(site=site).exists()


def test_drush_from_the_api_is_held_to_the_allowlist(api_as, member, outsider, site):
    from hosting.models import DrushCommand

    body = {"type": "drush", "command": "watchdog:show --count=3"}
    as_member = api_as(member)
    response = api_as(outsider).post(f"/api/v1/sites/{site.pk}/tasks", body, content_type="application/json")
    assert response.status_code == 404
    response = as_member.post(f"/api/v1/sites/{site.pk}/tasks", body, content_type="application/json")
    assert response.status_code == 400 and "not among the commands" in response.json()["message"]
    DrushCommand.objects.create(name="watchdog:show")
    response = as_member.post(f"/api/v1/sites/{site.pk}/tasks", {**body, "command": "watchdog:show -l x"},
                              content_type="application/json")
    assert response.status_code == 400 and "not allowed" in response.json()["message"]
    response = as_member.post(f"/api/v1/sites/{site.pk}/tasks", body, content_type="application/json")
    assert response.status_code == 202, response.content
    assert Task.objects.get(pk=response.json()["id"]).args["argv"] == ["watchdog:show", "--count=3"]
