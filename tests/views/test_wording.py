"""Wording the panel used to get wrong: each reason said once, labels instead of slugs, crumbs
that name the page, choices in order, one name for whoever started a task."""
from __future__ import annotations

import re
from io import StringIO

from django.core.management import call_command
from django.urls import reverse

from hosting.catalogue import TYPES
from hosting.models import AuditEvent, Backup, Site, Task
from tests.views.conftest import make_task

FAILED = "The site&#x27;s install failed: install it again, verify it or delete it."


def test_a_failed_sites_page_says_its_install_failed_once_with_the_error(as_member, site, member):
    Site.objects.filter(pk=site.pk).update(status=Site.FAILED)
    install = make_task(site, "install", "failed", by=member, summary="drush site:install exited with 1.")
    page = as_member.get(reverse("site-detail", args=[site.pk])).content.decode()
    assert page.count(FAILED) == 1
    assert page.count("drush site:install exited with 1.") == 1
    assert reverse("task-detail", args=[install.pk]) in page
    disabled = re.findall(r"<button type=\"button\" disabled[^>]*>([^<]+)</button>", page)
    assert {"Back up", "Login link"} <= set(disabled)


def test_the_task_type_filter_offers_labels_not_slugs(as_member):
    page = as_member.get(reverse("task-list")).content.decode()
    assert '<option value="login-reset">Login link</option>' in page
    assert ">login-reset<" not in page


def test_the_restore_and_migrate_forms_say_each_sentence_once(as_member, site, other_platform, site_task):
    Backup.objects.create(site=site, domain=site.domain, client=site.client, path="/x/a.tar.zst", size=1)
    for kind in ("restore", "migrate"):
        page = as_member.get(reverse("site-task", args=[site.pk, kind])).content.decode()
        for sentence in re.split(r"(?<=\.) ", TYPES[f"site.{kind}"].explain):
            assert page.count(sentence.replace("'", "&#x27;").replace('"', "&quot;")) == 1, (kind, sentence)


def test_the_site_crumb_names_the_site_not_its_platform(as_admin, site, platform):
    page = as_admin.get(reverse("site-detail", args=[site.pk])).content.decode()
    crumbs = re.search(r'<p class="crumbs">(.*?)</p>', page).group(1)
    assert site.domain in crumbs and reverse("platform-detail", args=[platform.pk]) not in crumbs


def test_token_expiry_choices_run_from_shortest_to_never(as_member):
    page = as_member.get(reverse("token-list")).content.decode()
    select = re.search(r'<select name="expires"[^>]*>(.*?)</select>', page, re.S).group(1)
    assert re.findall(r">([^<]+)</option>", select) == ["7 days", "30 days", "90 days", "1 year", "Never"]
    assert '<option value="30" selected>' in select


def test_a_task_from_the_command_line_names_its_starter_as_the_audit_does(as_admin, site, admin_user):
    call_command("tasks", "create", "verify", "--site", site.domain, stdout=StringIO())
    task = Task.objects.get(kind="verify")
    event = AuditEvent.objects.get(action="task.queued", object_id=str(task.pk))
    assert task.creator == event.actor_label and task.creator != "system"
    page = as_admin.get(reverse("task-detail", args=[task.pk])).content.decode()
    assert f"by {event.actor_label}" in page
    listed = as_admin.get(reverse("task-list")).content.decode()
    assert event.actor_label in listed
