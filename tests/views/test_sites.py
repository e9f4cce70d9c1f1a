from django.urls import reverse

from hosting.models import AuditEvent, Membership, Site, Task
from tests.views.conftest import make_task


def test_it_lists_every_site_to_an_admin(as_admin, site, globex_site):
    response = as_admin.get(reverse("site-list"))
    assert [s.domain for s in response.context["page"].rows] == ["shop.globex.test", "www.acme.test"]


def test_it_lists_only_the_members_sites(as_member, site, globex_site):
    response = as_member.get(reverse("site-list"))
    assert [s.domain for s in response.context["page"].rows] == ["www.acme.test"]
    assert b"shop.globex.test" not in response.content and b"globex" not in response.content


def test_it_lists_none_of_acme_to_an_outsider(as_outsider, site, globex_site):
    response = as_outsider.get(reverse("site-list"))
    assert [s.domain for s in response.context["page"].rows] == ["shop.globex.test"]


def test_it_searches_filters_and_pages(as_admin, platform, acme):
    Site.objects.bulk_create([Site(domain=f"s{i:02d}.example.test", platform=platform, client=acme,
                                   status="disabled" if i % 2 else "enabled") for i in range(60)])
    first = as_admin.get(reverse("site-list"), {"status": "enabled"})
    assert len(first.context["page"].rows) == 30 and not first.context["page"].has_next
    first = as_admin.get(reverse("site-list"))
    page2 = as_admin.get(reverse("site-list") + first.context["page"].next_url)
    assert page2.context["page"].rows[0].domain == "s50.example.test"
    back = as_admin.get(reverse("site-list") + page2.context["page"].previous_url)
    assert back.context["page"].rows == first.context["page"].rows and not back.context["page"].has_previous
    found = as_admin.get(reverse("site-list"), {"q": "S07"})
    assert [s.domain for s in found.context["page"].rows] == ["s07.example.test"]


def test_it_answers_a_live_search_with_the_results_partial(as_admin, site):
    response = as_admin.get(reverse("site-list"), {"q": "acme"}, HTTP_HX_REQUEST="true", HTTP_HX_TARGET="results")
    assert b'id="results"' in response.content and b"<html" not in response.content
    assert b"www.acme.test" in response.content


def test_it_shows_the_site_to_its_member(as_member, site, site_task, backup):
    response = as_member.get(reverse("site-detail", args=[site.pk]))
    assert response.status_code == 200
    body = response.content.decode()
    assert "acme.tar.zst" in body and f"/tasks/{site_task.pk}/" in body
    assert "Disk use" in body and "30.0\xa0MB" in body
    assert "delete this site&#x27;s record" not in body  # node delete is for admins


def test_it_hides_the_site_from_an_outsider(as_outsider, site):
    assert as_outsider.get(reverse("site-detail", args=[site.pk])).status_code == 404


def test_it_offers_node_delete_to_an_admin(as_admin, site):
    response = as_admin.get(reverse("site-detail", args=[site.pk]))
    assert reverse("site-delete-record", args=[site.pk]).encode() in response.content


def test_it_shows_a_button_for_every_site_task_type(as_admin, site, backup):
    buttons = as_admin.get(reverse("site-detail", args=[site.pk])).context["buttons"]
    assert [b.kind for b in buttons] == ["install", "verify", "backup", "restore", "clone", "migrate",
                                         "disable", "enable", "delete", "https", "login-reset", "alias-add",
                                         "alias-remove", "redirects", "cache-rebuild", "updatedb", "cron", "drush",
                                         "sync"]
    reasons = {b.kind: b.reason for b in buttons}
    assert reasons["alias-remove"] == "The site has no aliases."
    assert reasons["install"] == "The site is installed already."
    assert reasons["enable"] == "The site is enabled already."
    assert reasons["migrate"] == "No other platform is open for new sites of this client."
    assert reasons["backup"] == reasons["restore"] == ""
    assert reasons["sync"] == "No other installed site of this client is on this site's server to copy from."


def test_it_disables_every_button_while_a_task_runs_on_the_site(as_admin, site):
    running = make_task(site, "backup", "running")
    response = as_admin.get(reverse("site-detail", args=[site.pk]))
    assert all(b.reason for b in response.context["buttons"])
    assert f"#{running.pk}</a> is running on this site".encode() in response.content
    # 19 task buttons; the Domains section's Add alias and Save redirects point at one sentence.
    assert response.content.count(b"disabled title=") == 19
    assert response.content.count(b'disabled aria-describedby="domains-why"') == 2


def test_it_says_why_restore_cannot_run_without_a_backup(as_member, site):
    buttons = {b.kind: b for b in as_member.get(reverse("site-detail", args=[site.pk])).context["buttons"]}
    assert buttons["restore"].reason == "There is no backup of this site yet."
    assert "delete" not in buttons  # a member, not the client's manager


def test_it_shows_no_buttons_to_a_viewer(client, django_user_model, site, acme):
    viewer = django_user_model.objects.create_user("viewer", password="viewer-pass-1")
    Membership.objects.create(client=acme, user=viewer, role=Membership.VIEWER)
    client.force_login(viewer)
    response = client.get(reverse("site-detail", args=[site.pk]))
    assert response.context["buttons"] == []
    assert client.post(reverse("site-task", args=[site.pk, "backup"])).status_code == 403


def test_it_queues_a_backup_and_redirects_to_the_task(as_member, member, site):
    response = as_member.post(reverse("site-task", args=[site.pk, "backup"]))
    task = Task.objects.get(kind="backup")
    assert response.status_code == 302 and response["Location"] == reverse("task-detail", args=[task.pk])
    assert (task.site, task.created_by, task.client) == (site, member, site.client)
    assert AuditEvent.objects.filter(action="task.queued", actor=member).exists()


def test_it_queues_with_htmx_and_shows_the_buttons_as_they_are_now(as_member, site):
    response = as_member.post(reverse("site-task", args=[site.pk, "verify"]), HTTP_HX_REQUEST="true")
    task = Task.objects.get(kind="verify")
    body = response.content.decode()
    assert body.startswith('\n<section id="work"') or '<section id="work"' in body[:200]
    assert f"queued as <a href=\"/tasks/{task.pk}/\">task #{task.pk}</a>" in body
    assert "is queued on this site" in body and 'hx-trigger="every 2s"' in body


def test_it_refuses_a_task_that_cannot_run_now_and_says_why(as_member, site):
    make_task(site, "backup", "running")
    response = as_member.post(reverse("site-task", args=[site.pk, "verify"]), HTTP_HX_REQUEST="true")
    assert Task.objects.filter(kind="verify").count() == 0
    assert b"is running on this site" in response.content


def test_it_refuses_a_task_on_another_clients_site(as_outsider, site):
    assert as_outsider.post(reverse("site-task", args=[site.pk, "backup"])).status_code == 404
    assert not Task.objects.exists()


def test_it_asks_for_a_new_domain_and_platform_to_clone(as_member, site, other_platform):
    form = as_member.get(reverse("site-task", args=[site.pk, "clone"]))
    assert form.status_code == 200 and b'name="domain"' in form.content and b"d11" in form.content
    response = as_member.post(reverse("site-task", args=[site.pk, "clone"]),
                              {"domain": "Copy.Acme.Test", "platform": other_platform.pk})
    task = Task.objects.get(kind="clone")
    assert task.args == {"domain": "copy.acme.test", "platform": other_platform.pk}
    assert response["Location"] == reverse("task-detail", args=[task.pk])


def test_it_shows_form_errors_next_to_the_field(as_member, site, globex_site):
    response = as_member.post(reverse("site-task", args=[site.pk, "clone"]),
                              {"domain": "shop.globex.test", "platform": site.platform_id})
    body = response.content.decode()
    assert response.status_code == 200 and not Task.objects.exists()
    assert 'class="field invalid"' in body and "A site shop.globex.test exists already." in body


def test_it_offers_only_platforms_open_to_the_client_for_migrate(as_member, site, other_platform, globex, tmp_path,
                                                                 server):
    from hosting.models import Platform

    closed = Platform.objects.create(name="globex-only", server=server, path=str(tmp_path / "g"), status="enabled")
    closed.clients.add(globex)
    response = as_member.get(reverse("site-task", args=[site.pk, "migrate"]))
    choices = [c[1] for c in response.context["form"].fields["platform"].choices]
    assert choices == ["Drupal 11.0.5 (d11)"]
    refused = as_member.post(reverse("site-task", args=[site.pk, "migrate"]), {"platform": closed.pk})
    assert refused.context["form"].errors["platform"] and not Task.objects.exists()


def test_it_restores_the_chosen_backup(as_member, site, backup):
    as_member.post(reverse("site-task", args=[site.pk, "restore"]), {"backup": backup.pk})
    assert Task.objects.get(kind="restore").args == {"backup": backup.pk}


def test_it_makes_the_manager_type_the_domain_to_delete(client, django_user_model, site, acme):
    manager = django_user_model.objects.create_user("boss", password="boss-pass-1")
    Membership.objects.create(client=acme, user=manager, role=Membership.MANAGER)
    client.force_login(manager)
    wrong = client.post(reverse("site-task", args=[site.pk, "delete"]), {"confirm": "www.acme"})
    assert b"This is not www.acme.test." in wrong.content and not Task.objects.exists()
    client.post(reverse("site-task", args=[site.pk, "delete"]), {"confirm": "www.acme.test"})
    assert Task.objects.filter(kind="delete").exists()


def test_it_refreshes_the_page_when_the_watched_task_ends(as_member, site):
    task = make_task(site, "backup", "succeeded")
    response = as_member.get(reverse("site-detail", args=[site.pk]), {"part": "work", "watch": task.pk},
                             HTTP_HX_REQUEST="true")
    assert response["HX-Refresh"] == "true"


def test_it_answers_404_for_an_unknown_task_type(as_admin, site):
    assert as_admin.post(reverse("site-task", args=[site.pk, "explode"])).status_code == 404
