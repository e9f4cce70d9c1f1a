"""Certificate renewal schedule (hosting.renewals), its backoff, the dashboard's list of
certificates expiring within 14 days and `ping` failing within 7 days."""
from __future__ import annotations

import io
from datetime import timedelta

import pytest
from django.core.management import call_command
from django.core.management.base import CommandError
from django.urls import reverse
from django.utils import timezone
from django_q.models import Schedule

from hosting import renewals
from hosting.models import Certificate, Task

pytestmark = pytest.mark.django_db


@pytest.fixture(autouse=True)
def no_broker(monkeypatch):
    monkeypatch.setattr("hosting.engine.dispatch.dispatch", lambda task_id, queue: True)


def certify(site, days: float, mode: str = "on", **fields) -> Certificate:
    site.https_mode = mode
    site.save()
    return Certificate.objects.create(site=site, domains=[site.domain], issuer="Test CA", path=f"/tls/{site.pk}",
                                      not_after=timezone.now() + timedelta(days=days), last_ok=True, **fields)


def test_it_is_scheduled_hourly():
    row = Schedule.objects.get(name="harbormaster: certificate renewals")
    assert row.func == "hosting.renewals.run_due_renewals" and row.minutes == 60


def test_it_renews_only_certificates_within_30_days_once(make_site, acme):
    due = make_site("due.acme.test", acme)
    fresh = make_site("fresh.acme.test", acme)
    off = make_site("off.acme.test", acme)
    gone = make_site("gone.acme.test", acme, status="deleted")
    certify(due, 20, mode="required")
    certify(fresh, 60)
    certify(off, 5, mode="off")
    certify(gone, 5)
    queued = renewals.run_due_renewals()
    assert [Task.objects.get(pk=pk).site_id for pk in queued] == [due.pk]
    task = Task.objects.get(pk=queued[0])
    assert task.kind == "https" and task.args["mode"] == "required"
    assert renewals.run_due_renewals() == []  # its task is active


def test_a_failed_renewal_waits_for_its_backoff(make_site, acme):
    site = make_site("due.acme.test", acme)
    now = timezone.now()
    certify(site, 20, failures=3, last_attempt_at=now - timedelta(hours=2))
    assert renewals.run_due_renewals(now) == []  # 3 failures: 4 h
    assert len(renewals.run_due_renewals(now + timedelta(hours=3))) == 1
    assert renewals.backoff(1) == timedelta(hours=1) and renewals.backoff(30) == timedelta(hours=24)


def test_the_dashboard_lists_certificates_expiring_within_14_days(client, member, make_site, acme, globex):
    certify(make_site("soon.acme.test", acme), 10, last_outcome="The ACME server refused.")
    certify(make_site("later.acme.test", acme), 20)
    certify(make_site("soon.globex.test", globex), 3)
    client.force_login(member)
    page = client.get(reverse("dashboard")).content.decode()
    assert "Certificates expiring within 14 days" in page and "soon.acme.test" in page
    assert "later.acme.test" not in page and "soon.globex.test" not in page


def test_ping_fails_while_a_certificate_expires_within_7_days(make_site, acme):
    site = make_site("soon.acme.test", acme)
    cert = certify(site, 10)
    from hosting import health

    assert health.certificates().ok
    Certificate.objects.filter(pk=cert.pk).update(not_after=timezone.now() + timedelta(days=6))
    check = health.certificates()
    assert not check.ok and "soon.acme.test" in check.detail
    with pytest.raises(CommandError) as raised:
        call_command("ping", stdout=io.StringIO(), stderr=io.StringIO())
    assert raised.value.returncode == 1 and "certificates" in str(raised.value)


def test_it_obtains_a_certificate_for_a_site_that_wants_https_and_has_none(make_site, acme):
    clone = make_site("clone.acme.test", acme)
    clone.https_mode = "required"
    clone.save()
    make_site("plain.acme.test", acme)  # off: nothing to do
    queued = renewals.run_due_renewals()
    assert [Task.objects.get(pk=pk).site_id for pk in queued] == [clone.pk]
    Task.objects.filter(pk__in=queued).update(state="failed")
    Certificate.objects.create(site=clone, failures=1, last_attempt_at=timezone.now(), last_ok=False)
    assert renewals.run_due_renewals() == []  # backing off
