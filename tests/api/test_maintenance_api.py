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
