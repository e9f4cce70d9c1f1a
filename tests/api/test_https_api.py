"""GET and PATCH /api/v1/sites/{id}/https: the mode change is a site.https task."""
from __future__ import annotations

import datetime

from django.utils import timezone

from hosting.models import Certificate, Task


def test_it_queues_the_https_task_with_the_new_mode(api_as, member, site):
    response = api_as(member).patch(f"/api/v1/sites/{site.pk}/https", {"mode": "required", "hsts": True},
                                    content_type="application/json")
    assert response.status_code == 202, response.content
    task = Task.objects.get(pk=response.json()["id"])
    assert (task.kind, task.args) == ("https", {"mode": "required", "hsts": True, "renew": False})


def test_it_refuses_an_unknown_mode(api_as, member, site):
    response = api_as(member).patch(f"/api/v1/sites/{site.pk}/https", {"mode": "always"},
                                    content_type="application/json")
    assert response.status_code in (400, 422)
    assert not Task.objects.filter(kind="https").exists()


def test_it_shows_the_certificate(api_as, member, site):
    Certificate.objects.create(site=site, domains=["www.acme.test"], issuer="Pebble Intermediate-CA",
                               not_after=timezone.now() + datetime.timedelta(days=60), path="/x/v1",
                               last_attempt_at=timezone.now(), last_ok=True, last_outcome="Issued.")
    body = api_as(member).get(f"/api/v1/sites/{site.pk}/https").json()
    assert body["mode"] == "off" and body["certificate"]["issuer"] == "Pebble Intermediate-CA"
    assert "path" not in body["certificate"]


def test_another_clients_site_is_404(api_as, outsider, site):
    http = api_as(outsider)
    assert http.get(f"/api/v1/sites/{site.pk}/https").status_code == 404
    response = http.patch(f"/api/v1/sites/{site.pk}/https", {"mode": "on"}, content_type="application/json")
    assert response.status_code == 404
    assert not Task.objects.filter(kind="https").exists()
