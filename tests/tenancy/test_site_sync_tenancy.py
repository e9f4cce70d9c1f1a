"""Sync between sites as each role and each client sees it: the panel's Sync form, the API and
start_task. Another client's site as the source is refused exactly as a site that does not exist
(404 in the API, the same form error in the panel), and its domain is never shown."""
from __future__ import annotations

import pytest
from django.core.exceptions import PermissionDenied

from hosting.models import Site, Task
from hosting.starting import ArgumentsInvalid, start_task
from tests.tenancy.conftest import api_client

NO_SUCH = "There is no such site among this client's sites."


@pytest.fixture
def staging(platform, acme):
    return Site.objects.create(domain="staging.acme.test", platform=platform, client=acme, status="enabled",
                               db_name="acme_staging")


def test_a_member_starts_a_sync_from_another_site_of_the_client(member, site, staging):
    http = api_client(member)
    response = http.post(f"/api/v1/sites/{staging.pk}/sync", {"source": site.pk, "what": "database"},
                         content_type="application/json")
    assert response.status_code == 202, response.content
    task = Task.objects.get(pk=response.json()["id"])
    assert (task.kind, task.site_id, task.args) == ("sync", staging.pk, {"source": site.pk, "database": True,
                                                                         "files": False})


def test_a_viewer_may_not(viewer, site, staging):
    response = api_client(viewer).post(f"/api/v1/sites/{staging.pk}/sync", {"source": site.pk},
                                       content_type="application/json")
    assert response.status_code == 403
    with pytest.raises(PermissionDenied):
        start_task(viewer, staging, "sync", {"source": site.pk, "what": "both"})
    assert not Task.objects.filter(kind="sync").exists()


def test_another_clients_site_is_answered_as_a_missing_one(member, site, staging, globex_site):
    http = api_client(member)
    theirs = http.post(f"/api/v1/sites/{staging.pk}/sync", {"source": globex_site.pk},
                       content_type="application/json")
    missing = http.post(f"/api/v1/sites/{staging.pk}/sync", {"source": 987654}, content_type="application/json")
    assert theirs.status_code == missing.status_code == 404
    assert theirs.json() == missing.json()
    # Through the generic task call and start_task, the form's words, the same for both.
    for source in (globex_site.pk, 987654):
        response = http.post(f"/api/v1/sites/{staging.pk}/tasks", {"type": "sync", "source": source},
                             content_type="application/json")
        assert response.status_code == 400 and NO_SUCH in response.json()["message"]
        assert "globex" not in response.content.decode()
        with pytest.raises(ArgumentsInvalid, match="no such site"):
            start_task(member, staging, "sync", {"source": source, "what": "both"})
    assert not Task.objects.filter(kind="sync").exists()


def test_a_site_of_another_client_cannot_be_the_target_either(outsider, site, globex_site):
    response = api_client(outsider).post(f"/api/v1/sites/{site.pk}/sync", {"source": globex_site.pk},
                                         content_type="application/json")
    assert response.status_code == 404


def test_the_panel_form_offers_only_the_clients_other_sites(client, member, site, staging, globex_site, server,
                                                            other_platform):
    from hosting.models import Server

    far = Server.objects.create(name="far", queue="far", hostname="far.example.test")
    other_platform.server = far
    other_platform.save()
    Site.objects.create(domain="far.acme.test", platform=other_platform, client=site.client, status="enabled")
    Site.objects.create(domain="new.acme.test", platform=site.platform, client=site.client, status="queued")
    client.force_login(member)
    page = client.get(f"/sites/{staging.pk}/tasks/sync/").content.decode()
    assert "www.acme.test" in page and "A backup of this site is taken first" in page
    for absent in ("shop.globex.test", "far.acme.test", "new.acme.test", f'value="{staging.pk}"'):
        assert absent not in page
    answer = client.post(f"/sites/{staging.pk}/tasks/sync/", {"source": globex_site.pk, "what": "both"})
    assert answer.status_code == 200 and "There is no such site among this client" in answer.content.decode()
    assert "shop.globex.test" not in answer.content.decode()


@pytest.mark.parametrize(("which", "words"), [
    ("self", "cannot be synced from itself"),
    ("far", "is on another server"),
    ("queued", "only an installed site can be synced from"),
])
def test_each_refusal_says_why(member, site, staging, other_platform, which, words):
    from hosting.models import Server

    if which == "self":
        source = staging
    elif which == "far":
        other_platform.server = Server.objects.create(name="far", queue="far", hostname="far.example.test")
        other_platform.save()
        source = Site.objects.create(domain="far.acme.test", platform=other_platform, client=site.client,
                                     status="enabled")
    else:
        source = Site.objects.create(domain="new.acme.test", platform=site.platform, client=site.client,
                                     status="queued")
    with pytest.raises(ArgumentsInvalid, match=words):
        start_task(member, staging, "sync", {"source": source.pk, "what": "both"})


def test_a_target_not_installed_is_refused(member, site, platform, acme):
    from hosting.refused import TaskRefused

    queued = Site.objects.create(domain="q.acme.test", platform=platform, client=acme, status="queued")
    with pytest.raises(TaskRefused, match="not installed"):
        start_task(member, queued, "sync", {"source": site.pk, "what": "both"})
