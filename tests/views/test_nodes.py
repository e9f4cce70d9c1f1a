from django.urls import reverse

from hosting.models import AuditEvent, Platform, Site, Task
from tests.views.conftest import make_task


def test_it_explains_that_only_the_record_goes(as_admin, site):
    body = as_admin.get(reverse("site-delete-record", args=[site.pk])).content.decode()
    assert "record in the panel only" in body
    assert "its database and its backups stay" in body
    assert "verify platform d10" in body and "rediscovers it" in body


def test_it_deletes_the_site_record_keeping_the_row_and_its_history(as_admin, admin_user, site, site_task, backup):
    response = as_admin.post(reverse("site-delete-record", args=[site.pk]), {"confirm": "www.acme.test"})
    assert response.status_code == 302 and response["Location"] == reverse("platform-detail", args=[site.platform_id])
    site.refresh_from_db()
    assert site.status == Site.DELETED
    assert Task.objects.get(pk=site_task.pk).site_id == site.pk  # the history still points at it
    backup.refresh_from_db()
    assert backup.site_id == site.pk
    event = AuditEvent.objects.get(action="site.record_deleted")
    assert event.actor == admin_user and "stay" in event.detail
    assert as_admin.get(reverse("site-detail", args=[site.pk])).status_code == 404


def test_it_lets_a_new_record_take_the_domain_again(as_admin, site, platform):
    as_admin.post(reverse("site-delete-record", args=[site.pk]), {"confirm": "www.acme.test"})
    Site.objects.create(domain="www.acme.test", platform=platform, status="enabled", imported=True)
    assert Site.objects.filter(domain="www.acme.test").count() == 2


def test_it_requires_the_domain_typed(as_admin, site):
    response = as_admin.post(reverse("site-delete-record", args=[site.pk]), {"confirm": "yes"})
    assert response.status_code == 400 and b"This is not www.acme.test." in response.content
    site.refresh_from_db()
    assert site.status == Site.ENABLED


def test_it_refuses_while_a_task_is_active_on_the_site(as_admin, site):
    task = make_task(site, "delete", "paused")
    response = as_admin.post(reverse("site-delete-record", args=[site.pk]), {"confirm": "www.acme.test"})
    assert f"Task #{task.pk} (delete) is paused".encode() in response.content
    site.refresh_from_db()
    assert site.status == Site.ENABLED


def test_it_is_for_admins_only(as_member, as_outsider, site):
    assert as_member.get(reverse("site-delete-record", args=[site.pk])).status_code == 403
    refused = as_member.post(reverse("site-delete-record", args=[site.pk]), {"confirm": "www.acme.test"})
    assert refused.status_code == 403
    assert as_outsider.get(reverse("site-delete-record", args=[site.pk])).status_code == 403
    assert Site.objects.get(pk=site.pk).status == Site.ENABLED


def test_it_deletes_a_platform_record_with_its_site_records_when_asked(as_admin, platform, site, globex_site):
    refused = as_admin.post(reverse("platform-delete-record", args=[platform.pk]), {"confirm": "d10"})
    assert b"2 site record(s) are on this platform" in refused.content
    response = as_admin.post(reverse("platform-delete-record", args=[platform.pk]),
                             {"confirm": "d10", "with_sites": "on"})
    assert response.status_code == 302
    assert Platform.objects.get(pk=platform.pk).status == Platform.DELETED
    assert set(Site.objects.values_list("status", flat=True)) == {Site.DELETED}
    assert AuditEvent.objects.filter(action="site.record_deleted").count() == 2


def test_it_keeps_platform_record_delete_from_members(as_member, platform, site):
    assert as_member.post(reverse("platform-delete-record", args=[platform.pk]), {"confirm": "d10"}).status_code == 403
