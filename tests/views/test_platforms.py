from django.urls import reverse

from hosting.models import Platform, Site, Task
from tests.views.conftest import make_task


def test_it_lists_platforms_with_their_live_site_counts(as_admin, platform, site, globex_site):
    Site.objects.create(domain="gone.acme.test", platform=platform, status="deleted")
    response = as_admin.get(reverse("platform-list"))
    assert [(p.name, p.site_count) for p in response.context["page"].rows] == [("d10", 2)]


def test_it_counts_only_the_members_sites(as_member, platform, site, globex_site):
    response = as_member.get(reverse("platform-list"))
    assert [(p.name, p.site_count) for p in response.context["page"].rows] == [("d10", 1)]


def test_it_hides_a_platform_closed_to_the_outsiders_client(as_outsider, platform, acme, globex_site, server, tmp_path):
    closed = Platform.objects.create(name="acme-only", server=server, path=str(tmp_path / "a"), status="enabled")
    closed.clients.add(acme)
    response = as_outsider.get(reverse("platform-list"))
    assert [p.name for p in response.context["page"].rows] == ["d10"]
    assert as_outsider.get(reverse("platform-detail", args=[closed.pk])).status_code == 404


def test_it_filters_by_status_and_searches(as_admin, platform, other_platform):
    Platform.objects.filter(pk=other_platform.pk).update(status="locked")
    locked = as_admin.get(reverse("platform-list"), {"status": "locked"})
    assert [p.name for p in locked.context["page"].rows] == ["d11"]
    assert [p.name for p in as_admin.get(reverse("platform-list"), {"q": "d1"}).context["page"].rows] == ["d10", "d11"]


def test_it_shows_the_platform_its_sites_and_tasks(as_admin, platform, site, globex_site):
    task = make_task(platform, "verify", "succeeded")
    response = as_admin.get(reverse("platform-detail", args=[platform.pk]))
    body = response.content.decode()
    assert "www.acme.test" in body and "shop.globex.test" in body and f"/tasks/{task.pk}/" in body
    assert [b.kind for b in response.context["buttons"]] == ["verify", "lock", "unlock", "delete", "migrate-sites"]


def test_it_shows_a_member_only_their_sites_and_no_platform_buttons(as_member, platform, site, globex_site):
    response = as_member.get(reverse("platform-detail", args=[platform.pk]))
    assert b"www.acme.test" in response.content and b"shop.globex.test" not in response.content
    assert response.context["buttons"] == []
    assert as_member.post(reverse("platform-task", args=[platform.pk, "verify"])).status_code == 403


def test_it_says_why_a_platform_with_sites_cannot_be_deleted(as_admin, platform, site):
    page = as_admin.get(reverse("platform-detail", args=[platform.pk]))
    buttons = {b.kind: b.reason for b in page.context["buttons"]}
    assert buttons["delete"] == "1 site(s) live on this platform: migrate or delete them first."
    assert buttons["unlock"] == "The platform is not locked."
    assert buttons["lock"] == buttons["verify"] == ""


def test_it_queues_a_verify_with_htmx(as_admin, platform):
    response = as_admin.post(reverse("platform-task", args=[platform.pk, "verify"]), HTTP_HX_REQUEST="true")
    task = Task.objects.get(kind="verify", target_type="platform")
    assert f"task #{task.pk}".encode() in response.content


def test_it_confirms_a_lock_on_its_own_page(as_admin, platform):
    page = as_admin.get(reverse("platform-task", args=[platform.pk, "lock"]))
    assert b"takes no new sites" in page.content
    response = as_admin.post(reverse("platform-task", args=[platform.pk, "lock"]))
    assert response.status_code == 302 and Task.objects.filter(kind="lock").exists()


def test_it_counts_only_the_members_sites_on_the_platform_page(as_member, platform, site, globex_site):
    response = as_member.get(reverse("platform-detail", args=[platform.pk]))
    assert response.context["live_sites"] == 1 and b"2 live" not in response.content
