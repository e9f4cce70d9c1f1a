"""The cron section of the site page, its interval form and the dashboard's failing-cron list;
another client's site is 404 and a viewer may not change the interval."""
from __future__ import annotations

from datetime import timedelta

from django.urls import reverse
from django.utils import timezone

from hosting.models import AuditEvent, CronRun, SiteCron
from tests.conftest import user_in


def test_the_site_page_shows_the_last_run_and_history(as_admin, site, settings):
    settings.HARBORMASTER_CRON_FAILURES = 2
    now = timezone.now()
    SiteCron.objects.create(site=site, last_started_at=now, last_duration=1.25, last_outcome=SiteCron.FAILED,
                            failures=2)
    CronRun.objects.create(site=site, started_at=now - timedelta(hours=1), duration=0.5, outcome=SiteCron.OK)
    CronRun.objects.create(site=site, started_at=now, duration=1.25, outcome=SiteCron.FAILED,
                           summary="drush failed", log="PHP Fatal error: boom")
    body = as_admin.get(reverse("site-detail", args=[site.pk])).content.decode()
    assert "Cron failed 2 times in a row." in body
    assert "1.2 s" in body or "1.3 s" in body
    assert "PHP Fatal error: boom" in body and body.count("<tr><td>") >= 2
    dashboard = as_admin.get(reverse("dashboard")).content.decode()
    assert "Failing cron" in dashboard and site.domain in dashboard


def test_a_member_sets_the_interval(as_member, site, member):
    response = as_member.post(reverse("site-cron-interval", args=[site.pk]), {"interval": "30"})
    assert response.status_code == 302
    assert SiteCron.objects.get(site=site).interval == 30
    assert AuditEvent.objects.filter(action="site.cron_interval", actor=member).exists()
    as_member.post(reverse("site-cron-interval", args=[site.pk]), {"interval": "0"})
    assert SiteCron.objects.get(site=site).interval == 0
    as_member.post(reverse("site-cron-interval", args=[site.pk]), {"interval": ""})
    assert SiteCron.objects.get(site=site).interval is None


def test_bad_intervals_are_refused(as_member, site, settings):
    settings.HARBORMASTER_CRON_MIN_INTERVAL = 15
    for bad in ("5", "hourly", "-3"):
        response = as_member.post(reverse("site-cron-interval", args=[site.pk]), {"interval": bad}, follow=True)
        assert "The cron interval must be" in response.content.decode()
    assert not SiteCron.objects.filter(site=site, interval__isnull=False).exists()


def test_another_clients_site_is_not_found(as_outsider, site):
    response = as_outsider.post(reverse("site-cron-interval", args=[site.pk]), {"interval": "30"})
    assert response.status_code == 404
    assert not SiteCron.objects.filter(site=site).exists()
    assert site.domain not in as_outsider.get(reverse("dashboard")).content.decode()


def test_a_viewer_may_not_change_it(client, django_user_model, acme, site):
    client.force_login(user_in(django_user_model, "viewer", acme, "viewer"))
    assert client.post(reverse("site-cron-interval", args=[site.pk]), {"interval": "30"}).status_code == 403
    assert not SiteCron.objects.filter(site=site).exists()
