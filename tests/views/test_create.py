"""New sites and platforms from the panel: only what the user may choose is offered, a refused
form says why and writes nothing, a created node has its first task queued (the same
hosting.inventory functions the API and the command line call)."""
from __future__ import annotations

from pathlib import Path

from django.urls import reverse

from hosting.models import AuditEvent, Platform, Site, Task


def _nothing_created(before_sites: int) -> None:
    assert Site.objects.count() == before_sites
    assert not Task.objects.filter(kind="install").exists()
    assert not AuditEvent.objects.filter(action="site.added").exists()


def test_a_member_is_offered_only_their_clients_platforms_and_their_client(as_member, platform, acme, globex,
                                                                           server, tmp_path):
    closed = Platform.objects.create(name="globex-only", server=server, path=str(tmp_path / "g"), status="enabled")
    closed.clients.add(globex)
    Platform.objects.filter(pk=platform.pk).update(profiles=["minimal", "standard"])
    form = as_member.get(reverse("site-new")).context["form"]
    assert [p.name for p in form.fields["platform"].queryset] == ["d10"]
    assert [c.name for c in form.fields["client"].queryset] == ["acme"]
    assert [v for v, _ in form.fields["profile"].choices] == ["minimal", "standard"]


def test_a_member_creates_a_site_for_their_client_and_its_install_is_queued(as_member, platform, acme):
    Platform.objects.filter(pk=platform.pk).update(profiles=["minimal", "standard"])
    response = as_member.post(reverse("site-new"), {"domain": "New.Acme.test", "platform": platform.pk,
                                                    "profile": "minimal", "client": acme.pk})
    site = Site.objects.get(domain="new.acme.test")
    task = Task.objects.get(site=site, kind="install")
    assert response.status_code == 302 and response.url == f"/sites/{site.pk}/?new={task.pk}"
    assert (site.client, site.profile, site.status) == (acme, "minimal", "queued")


def test_a_member_cannot_create_a_site_for_another_client(as_member, platform, globex):
    before = Site.objects.count()
    response = as_member.post(reverse("site-new"), {"domain": "x.globex.test", "platform": platform.pk,
                                                    "profile": "standard", "client": globex.pk})
    assert response.status_code == 400 and "client" in response.context["form"].errors
    _nothing_created(before)


def test_a_member_cannot_pick_a_platform_closed_to_their_client(as_member, platform, acme, globex):
    platform.clients.add(globex)
    before = Site.objects.count()
    response = as_member.post(reverse("site-new"), {"domain": "x.acme.test", "platform": platform.pk,
                                                    "profile": "standard", "client": acme.pk})
    assert response.status_code == 400 and "platform" in response.context["form"].errors
    _nothing_created(before)


def test_a_viewer_gets_no_new_site_form(client, django_user_model, acme, platform):
    from tests.conftest import user_in

    client.force_login(user_in(django_user_model, "watcher", acme, "viewer"))
    assert client.get(reverse("site-new")).status_code == 403
    assert "New site" not in client.get(reverse("site-list")).content.decode()


def test_a_bad_domain_is_refused_next_to_its_field(as_admin, platform):
    response = as_admin.post(reverse("site-new"), {"domain": "not a domain", "platform": platform.pk,
                                                   "profile": "standard", "client": ""})
    assert response.status_code == 400 and response.context["form"].errors["domain"]
    _nothing_created(0)


def test_a_domain_already_taken_is_refused_and_nothing_is_created(as_admin, platform, site):
    before = Site.objects.count()
    response = as_admin.post(reverse("site-new"), {"domain": "WWW.acme.test", "platform": platform.pk,
                                                   "profile": "standard", "client": ""})
    assert response.status_code == 400
    assert "exists already" in " ".join(response.context["form"].errors["domain"])
    _nothing_created(before)


def test_a_client_over_its_quota_gets_a_clear_message_and_nothing_is_created(as_member, platform, acme, site):
    acme.max_sites = 1
    acme.save()
    before = Site.objects.count()
    response = as_member.post(reverse("site-new"), {"domain": "two.acme.test", "platform": platform.pk,
                                                    "profile": "standard", "client": acme.pk})
    assert response.status_code == 409
    body = response.content.decode()
    assert "quota" in body.lower() and "two.acme.test" not in Site.objects.values_list("domain", flat=True)
    _nothing_created(before)


def test_a_profile_the_platform_does_not_have_is_refused(as_admin, platform):
    Platform.objects.filter(pk=platform.pk).update(profiles=["standard"])
    response = as_admin.post(reverse("site-new"), {"domain": "p.example.test", "platform": platform.pk,
                                                   "profile": "minimal", "client": ""})
    assert response.status_code == 400 and "profile" in response.context["form"].errors
    _nothing_created(0)


def test_an_admin_creates_a_platform_and_its_verify_is_queued(as_admin, hm_dirs, server):
    root = Path(hm_dirs) / "platforms" / "d9"
    root.mkdir(parents=True)
    response = as_admin.post(reverse("platform-new"), {"name": "d9", "path": str(root), "server": server.pk})
    platform = Platform.objects.get(name="d9")
    task = Task.objects.get(platform=platform, kind="verify")
    assert response.url == f"/platforms/{platform.pk}/?new={task.pk}"
    assert (platform.server, platform.path, platform.status) == (server, str(root.resolve()), "queued")


def test_a_platform_outside_the_roots_is_refused(as_admin, hm_dirs, server):
    response = as_admin.post(reverse("platform-new"), {"name": "etc", "path": "/etc", "server": server.pk})
    assert response.status_code == 400 and response.context["form"].non_field_errors()
    assert not Platform.objects.filter(name="etc").exists() and not Task.objects.exists()


def test_members_cannot_create_platforms(as_member, hm_dirs):
    assert as_member.get(reverse("platform-new")).status_code == 403
    assert as_member.post(reverse("platform-new"), {"name": "x", "path": str(hm_dirs)}).status_code == 403
    assert not Platform.objects.exists()
