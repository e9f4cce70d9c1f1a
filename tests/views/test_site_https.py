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
