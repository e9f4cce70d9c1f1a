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


def test_it_takes_an_uploaded_certificate(api_as, member, site, hm_dirs):
    from tests import certs

    made = certs.bundle([site.domain, *site.aliases])
    response = api_as(member).post(f"/api/v1/sites/{site.pk}/https/upload",
                                   {"certificate": made.chain.decode(), "key": made.key.decode(), "mode": "required"},
                                   content_type="application/json")
    assert response.status_code == 202, response.content
    task = Task.objects.get(pk=response.json()["id"])
    assert task.kind == "https" and task.args["mode"] == "required" and task.args["upload"].startswith(f"{site.pk}-")
    assert "PRIVATE KEY" not in response.content.decode() and "PRIVATE KEY" not in str(task.args)
    staged = hm_dirs / "data" / "tls" / "uploads" / task.args["upload"]
    assert sorted(p.name for p in staged.iterdir()) == ["fullchain.pem", "privkey.pem"]
    assert oct(staged.stat().st_mode & 0o777) == "0o700"


def test_it_refuses_a_certificate_for_another_domain_and_writes_nothing(api_as, member, site, hm_dirs):
    from tests import certs

    made = certs.bundle(["elsewhere.example.test"])
    response = api_as(member).post(f"/api/v1/sites/{site.pk}/https/upload",
                                   {"certificate": made.chain.decode(), "key": made.key.decode()},
                                   content_type="application/json")
    assert response.status_code == 400
    assert "does not cover" in response.json()["message"] and "PRIVATE KEY" not in response.content.decode()
    assert not Task.objects.filter(kind="https").exists()
    assert not (hm_dirs / "data" / "tls").exists() or not any((hm_dirs / "data" / "tls").rglob("*.pem"))


def test_it_refuses_a_5_mb_upload(api_as, member, site, hm_dirs):
    response = api_as(member).post(f"/api/v1/sites/{site.pk}/https/upload",
                                   {"certificate": "A" * (5 * 1024 * 1024), "key": "B"},
                                   content_type="application/json")
    assert response.status_code == 400
    assert not Task.objects.filter(kind="https").exists()


def test_another_clients_site_refuses_the_upload_with_404(api_as, outsider, site, hm_dirs):
    from tests import certs

    made = certs.bundle([site.domain, *site.aliases])
    response = api_as(outsider).post(f"/api/v1/sites/{site.pk}/https/upload",
                                     {"certificate": made.chain.decode(), "key": made.key.decode()},
                                     content_type="application/json")
    assert response.status_code == 404
    assert not Task.objects.filter(kind="https").exists()
    assert not (hm_dirs / "data" / "tls").exists() or not any((hm_dirs / "data" / "tls").rglob("*.pem"))


def test_another_sites_staged_upload_cannot_be_named(api_as, member, site, hm_dirs):
    response = api_as(member).post(f"/api/v1/sites/{site.pk}/tasks",
                                   {"type": "https", "mode": "on", "upload": f"{site.pk + 1}-{'0' * 32}"},
                                   content_type="application/json")
    assert response.status_code == 400 and "not this site's" in response.json()["message"]
