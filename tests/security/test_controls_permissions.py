"""Every path that starts or continues a task applies the rule for starting it fresh: the
caller's role for that task type on the target's client as it is now, the refusals, the argument
forms, and a delete's typed confirmation. Tried on the panel, the API and the command line."""
from __future__ import annotations

from io import StringIO

import pytest
from django.core.management import CommandError, call_command
from django.test import Client as HttpClient
from django.urls import reverse

from hosting import controls
from hosting.models import AuditEvent, Site, Task
from tests.security.interfaces_cast import *  # noqa: F401,F403
from tests.tenancy.conftest import api_client
from tests.views.conftest import make_task


def _browser(user) -> HttpClient:
    browser = HttpClient()
    browser.force_login(user)
    return browser


def _retry_url(task: Task) -> str:
    return reverse("task-control", args=[task.pk, "retry"])


def _deletes() -> list[Task]:
    return list(Task.objects.filter(kind="delete", state=Task.QUEUED))


@pytest.fixture
def cancelled_delete(site, manager) -> Task:
    """A delete the manager queued (typing the domain) and then cancelled."""
    browser = _browser(manager)
    answer = browser.post(reverse("site-task", args=[site.pk, "delete"]), {"confirm": site.domain})
    assert answer.status_code == 302
    task = Task.objects.get(kind="delete")
    controls.cancel(task, by=manager)
    return Task.objects.get(pk=task.pk)


def test_a_member_cannot_retry_a_delete_on_the_panel(cancelled_delete, member):
    browser = _browser(member)
    assert browser.post(_retry_url(cancelled_delete), {"confirm": "www.acme.test"}).status_code == 403
    assert browser.get(reverse("task-detail", args=[cancelled_delete.pk])).context["controls"] == []
    assert _deletes() == []


def test_a_member_cannot_retry_a_delete_through_the_api(cancelled_delete, member):
    answer = api_client(member).post(f"/api/v1/tasks/{cancelled_delete.pk}/retry", {"confirm": "www.acme.test"},
                                     content_type="application/json")
    assert answer.status_code == 403
    assert _deletes() == []


def test_a_member_cannot_cancel_a_delete_either(site, manager, member):
    task = make_task(site, "delete", Task.QUEUED, by=manager)
    assert not controls.can_control(member, task, "cancel")
    answer = _browser(member).post(reverse("task-bulk-cancel"), {"ids": [str(task.pk)]})
    assert answer.status_code == 302
    assert Task.objects.get(pk=task.pk).state == Task.QUEUED
    listing = _browser(member).get(reverse("task-list"))
    assert task.pk not in listing.context["cancellable"]


def test_a_manager_retrying_a_delete_on_the_panel_types_the_domain_again(cancelled_delete, manager):
    browser = _browser(manager)
    page = browser.get(_retry_url(cancelled_delete))
    assert page.status_code == 200 and "Type www.acme.test to confirm." in page.content.decode()
    detail = browser.get(reverse("task-detail", args=[cancelled_delete.pk]))
    assert ("retry", True) in detail.context["controls"]  # a page to type on, not a bare button
    for typed, says in (({}, "This field is required."), ({"confirm": "www.acme.tes"}, "This is not www.acme.test.")):
        answer = browser.post(_retry_url(cancelled_delete), typed)
        assert answer.status_code == 400 and answer.context["form"].errors["confirm"] == [says]
    assert _deletes() == []
    assert browser.post(_retry_url(cancelled_delete), {"confirm": "www.acme.test"}).status_code == 302
    assert [t.retry_of_id for t in _deletes()] == [cancelled_delete.pk]


def test_a_manager_retrying_a_delete_through_the_api_types_the_domain_again(cancelled_delete, manager):
    api = api_client(manager)
    url = f"/api/v1/tasks/{cancelled_delete.pk}/retry"
    assert api.post(url, content_type="application/json").status_code == 400
    refused = api.post(url, {"confirm": "shop.globex.test"}, content_type="application/json")
    assert refused.status_code == 400 and refused.json()["message"] == "confirm: This is not www.acme.test."
    assert _deletes() == []
    answer = api.post(url, {"confirm": "www.acme.test"}, content_type="application/json")
    assert answer.status_code == 200 and answer.json()["retry_of"] == cancelled_delete.pk
    assert len(_deletes()) == 1


def test_the_command_line_retries_a_delete_only_with_the_domain_typed(cancelled_delete):
    for extra in ([], ["--confirm", "wrong.test"]):
        with pytest.raises(CommandError, match="confirm: (This field is required|This is not www.acme.test)."):
            call_command("tasks", "retry", str(cancelled_delete.pk), *extra, stdout=StringIO(), stderr=StringIO())
    assert _deletes() == []
    out = StringIO()
    call_command("tasks", "retry", str(cancelled_delete.pk), "--confirm", "www.acme.test", stdout=out,
                 stderr=StringIO())
    assert len(_deletes()) == 1 and out.getvalue().startswith(f"Task {cancelled_delete.pk} retried as task ")


def test_the_command_line_creates_a_delete_only_with_the_domain_typed(site):
    with pytest.raises(CommandError, match="confirm"):
        call_command("tasks", "create", "delete", "--site", site.domain, stdout=StringIO(), stderr=StringIO())
    call_command("tasks", "create", "delete", "--site", site.domain, "--arg", f"confirm={site.domain}",
                 stdout=StringIO(), stderr=StringIO())
    assert [t.args for t in _deletes()] == [{}]  # the typed name is not kept for a later retry


@pytest.fixture
def moved_site(site, globex, member):
    """acme's member ran a backup on the site, then the site moved to globex."""
    old = make_task(site, "backup", Task.FAILED, by=member)
    queued = make_task(site, "verify", Task.QUEUED, by=member)
    Site.objects.filter(pk=site.pk).update(client=globex)
    return {"old": old, "queued": queued}


def test_a_former_clients_member_cannot_retry_or_cancel_on_the_panel(moved_site, member):
    browser = _browser(member)
    assert browser.post(_retry_url(moved_site["old"])).status_code == 403
    assert browser.post(reverse("task-control", args=[moved_site["queued"].pk, "cancel"])).status_code == 403
    browser.post(reverse("task-bulk-cancel"), {"ids": [str(moved_site["queued"].pk)]})
    assert Task.objects.filter(retry_of=moved_site["old"]).count() == 0
    assert Task.objects.get(pk=moved_site["queued"].pk).state == Task.QUEUED


def test_a_former_clients_member_cannot_retry_or_cancel_through_the_api(moved_site, member):
    api = api_client(member)
    assert api.post(f"/api/v1/tasks/{moved_site['old'].pk}/retry", content_type="application/json").status_code == 403
    cancel = api.post(f"/api/v1/tasks/{moved_site['queued'].pk}/cancel", content_type="application/json")
    assert cancel.status_code == 403
    assert api.get(f"/api/v1/tasks/{moved_site['old'].pk}").json()["controls"] == []
    assert Task.objects.filter(retry_of=moved_site["old"]).count() == 0
    assert Task.objects.get(pk=moved_site["queued"].pk).state == Task.QUEUED


def test_the_new_clients_member_may_act_on_the_site(moved_site, site, outsider):
    # outsider is globex's member: the site is theirs now; its new tasks are theirs to control.
    task = make_task(Site.objects.get(pk=site.pk), "backup", Task.FAILED, by=outsider)
    assert controls.allowed_controls(outsider, task) == ["retry"]


def test_a_retry_is_refused_as_a_fresh_start_would_be(site, member):
    failed = make_task(site, "backup", Task.FAILED, by=member)
    make_task(site, "verify", Task.QUEUED, by=member)  # something is queued on the site now
    api = api_client(member)
    answer = api.post(f"/api/v1/tasks/{failed.pk}/retry", content_type="application/json")
    assert answer.status_code == 409 and "is queued on this site" in answer.json()["message"]
    page = _browser(member).post(_retry_url(failed), follow=True)
    assert "is queued on this site" in page.content.decode()
    assert Task.objects.filter(retry_of=failed).count() == 0


def test_a_retry_checks_its_arguments_again(site, platform, member, admin_user):
    """A clone whose new domain has been taken since, and a restore naming a backup the caller
    may not see (a task the command line queued with another client's backup)."""
    from hosting.models import Backup

    site.platform.clients.clear()
    clone = make_task(site, "clone", Task.FAILED, by=member, args={"domain": "copy.acme.test", "platform": platform.pk})
    Site.objects.create(domain="copy.acme.test", platform=platform, status="enabled")
    theirs = Backup.objects.create(domain="shop.globex.test", path="/x.tar.zst", size=1)
    restore = make_task(site, "restore", Task.FAILED, args={"backup": theirs.pk})
    Backup.objects.create(site=site, domain=site.domain, client=site.client, path="/y.tar.zst", size=1)
    api = api_client(member)
    answer = api.post(f"/api/v1/tasks/{clone.pk}/retry", content_type="application/json")
    assert answer.status_code == 400 and answer.json()["message"].startswith("domain:")
    answer = api.post(f"/api/v1/tasks/{restore.pk}/retry", content_type="application/json")
    assert answer.status_code == 400 and answer.json()["message"].startswith("backup:")
    with pytest.raises(CommandError, match="domain:"):
        call_command("tasks", "retry", str(clone.pk), stdout=StringIO(), stderr=StringIO())
    assert Task.objects.filter(retry_of__in=[clone, restore]).count() == 0
    assert not AuditEvent.objects.filter(action="task.retry").exists()
