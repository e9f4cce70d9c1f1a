"""The site page's HTTPS facts and the HTTPS task's form: who may start it, and that another
client's site stays out of reach."""
from __future__ import annotations

import datetime

from django.urls import reverse
from django.utils import timezone

from hosting.models import Certificate, Task


def test_it_shows_the_certificate_and_the_last_attempt(as_member, site):
    site.https_mode, site.https_hsts = "required", True
    site.save()
    Certificate.objects.create(site=site, domains=["www.acme.test"], issuer="Pebble Intermediate-CA",
                               not_before=timezone.now(), not_after=timezone.now() + datetime.timedelta(days=10),
                               path="/nowhere/v1", last_attempt_at=timezone.now(), last_ok=False,
                               last_outcome="The ACME server did not answer.")
    page = as_member.get(reverse("site-detail", args=[site.pk])).content.decode()
    assert "Required (HTTP redirects) · HSTS" in page
    assert "issued by Pebble Intermediate-CA" in page and "(within 14 days)" in page
    assert "failed</strong>: The ACME server did not answer." in page


def test_a_member_starts_the_https_task_with_a_mode(as_member, site):
    site.status = "enabled"
    site.save()
    url = reverse("site-task", args=[site.pk, "https"])
    assert b'name="mode"' in as_member.get(url).content
    response = as_member.post(url, {"mode": "required", "hsts": "on"})
    assert response.status_code in (302, 303), response.content[:500]
    task = Task.objects.get(site=site, kind="https")
    assert task.args == {"mode": "required", "hsts": True, "renew": False}


def test_an_unknown_mode_is_refused_and_nothing_is_queued(as_member, site):
    site.status = "enabled"
    site.save()
    response = as_member.post(reverse("site-task", args=[site.pk, "https"]), {"mode": "always"})
    assert response.status_code == 200 and b"Select a valid choice" in response.content
    assert not Task.objects.filter(kind="https").exists()


def test_an_outsider_cannot_reach_another_clients_https(as_outsider, site):
    url = reverse("site-task", args=[site.pk, "https"])
    assert as_outsider.get(url).status_code == 404
    assert as_outsider.post(url, {"mode": "on"}).status_code == 404
    assert not Task.objects.filter(kind="https").exists()


def test_a_member_uploads_a_certificate_from_the_https_page(as_member, site, hm_dirs):
    from django.core.files.uploadedfile import SimpleUploadedFile

    from tests import certs

    site.status = "enabled"
    site.save()
    assert b"own-certificate" in as_member.get(reverse("site-task", args=[site.pk, "https"])).content
    url = reverse("site-https-upload", args=[site.pk])
    assert b'name="key_file"' in as_member.get(url).content
    made = certs.bundle([site.domain, *site.aliases])
    response = as_member.post(url, {"certificate_file": SimpleUploadedFile("chain.pem", made.chain),
                                    "key_file": SimpleUploadedFile("key.pem", made.key), "mode": "on"})
    assert response.status_code in (302, 303), response.content[:800]
    task = Task.objects.get(site=site, kind="https")
    assert task.args["upload"].startswith(f"{site.pk}-") and task.args["mode"] == "on"


def test_a_refused_upload_says_why_and_never_shows_the_key_again(as_member, site, hm_dirs):
    from tests import certs

    site.status = "enabled"
    site.save()
    made = certs.bundle(["elsewhere.example.test"])
    response = as_member.post(reverse("site-https-upload", args=[site.pk]),
                              {"certificate": made.chain.decode(), "key": made.key.decode(), "mode": "on"})
    page = response.content.decode()
    assert response.status_code == 400 and "does not cover" in page
    assert "PRIVATE KEY" not in page and "BEGIN CERTIFICATE" not in page
    assert not Task.objects.filter(kind="https").exists()
    assert not (hm_dirs / "data" / "tls").exists() or not any((hm_dirs / "data" / "tls").rglob("*.pem"))


def test_an_outsider_cannot_upload_to_another_clients_site(as_outsider, site, hm_dirs):
    from tests import certs

    made = certs.bundle([site.domain, *site.aliases])
    url = reverse("site-https-upload", args=[site.pk])
    assert as_outsider.get(url).status_code == 404
    response = as_outsider.post(url, {"certificate": made.chain.decode(), "key": made.key.decode(), "mode": "on"})
    assert response.status_code == 404
    assert not Task.objects.filter(kind="https").exists()
