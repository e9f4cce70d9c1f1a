import pytest

from hosting import quotas
from hosting.actions import queue_task
from hosting.inventory import InventoryError, add_site
from hosting.models import Backup, Site, Task


def test_it_refuses_a_new_site_over_the_site_quota_with_a_clear_message(site, platform, acme):
    acme.max_sites = 1
    acme.save()
    with pytest.raises(InventoryError, match="reached its quota of 1 site"):
        add_site("second.acme.test", platform, client=acme)
    assert not Site.objects.filter(domain="second.acme.test").exists()


def test_it_refuses_a_clone_over_the_site_quota(site, acme):
    acme.max_sites = 1
    acme.save()
    with pytest.raises(quotas.QuotaExceeded):
        queue_task(site, "clone", args={"domain": "copy.acme.test", "platform": site.platform_id})
    assert not Task.objects.filter(kind="clone").exists()


def test_it_counts_sites_and_backups_against_the_disk_quota(site, backup, acme):
    # 30 MiB files + 12 MiB database + 5 MiB backup
    assert quotas.disk_used(acme) == (30 + 12 + 5) << 20
    acme.max_disk_bytes = 47 << 20
    acme.save()
    with pytest.raises(quotas.QuotaExceeded, match="disk quota"):
        queue_task(site, "backup")


def test_it_still_allows_what_frees_space_over_quota(site, backup, acme):
    acme.max_disk_bytes = 1
    acme.max_sites = 0
    acme.save()
    assert queue_task(site, "verify").kind == "verify"
    assert queue_task(site, "delete").kind == "delete"


def test_it_leaves_other_clients_alone(site, globex_site, platform, globex, acme):
    acme.max_sites = 1
    acme.save()
    add_site("more.globex.test", platform, client=globex)
    assert Site.objects.filter(client=globex).count() == 2


def test_it_answers_409_with_the_quota_message_in_the_api(api_as, member, site, acme):
    acme.max_sites = 1
    acme.save()
    response = api_as(member).post("/api/v1/sites", {"domain": "x.acme.test", "platform": site.platform_id},
                                   content_type="application/json")
    assert response.status_code == 409
    assert response.json()["code"] == "quota_exceeded" and "quota of 1 site" in response.json()["message"]


def test_it_shows_the_quota_message_in_the_panel(as_member, site, backup, acme):
    from django.urls import reverse

    acme.max_disk_bytes = 1
    acme.save()
    response = as_member.post(reverse("site-task", args=[site.pk, "backup"]), follow=True)
    assert "disk quota" in response.content.decode()
    assert not Backup.objects.exclude(pk=backup.pk).exists()
