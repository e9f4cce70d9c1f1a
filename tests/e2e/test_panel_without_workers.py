"""What the browser does on its own: the log poller survives failed polls, and pages work with
JavaScript turned off. No worker cluster: tasks are rows the test writes."""
from __future__ import annotations

from datetime import timedelta

import pytest
from django.utils import timezone
from playwright.sync_api import expect

from hosting.models import Platform, Site, Task, TaskLog
from tests.e2e.conftest import ADMIN_PASSWORD

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


@pytest.fixture
def site(e2e_dirs, server):
    platform = Platform.objects.create(name="d10", server=server, path=str(e2e_dirs / "d10"), status="enabled",
                                       verified_at=timezone.now())
    return Site.objects.create(domain="www.acme.test", platform=platform, status="enabled")


def test_it_keeps_polling_the_log_after_failed_polls(page, live_server, site):
    from hosting.actions import _target_fields

    task = Task.objects.create(kind="backup", state="running", started_at=timezone.now() - timedelta(seconds=5),
                               heartbeat_at=timezone.now(), owner_host="elsewhere", owner_pid=1,
                               **_target_fields(site))
    TaskLog.objects.create(task=task, position=0, at=timezone.now(), line="first line")
    page.goto(f"{live_server.url}/tasks/{task.pk}/")
    expect(page.locator("#log")).to_contain_text("first line")
    # The network drops every poll for a while (a laptop lid, a flaky VPN)...
    page.route("**/log/**", lambda route: route.abort())
    page.wait_for_timeout(2500)
    TaskLog.objects.create(task=task, position=1, at=timezone.now(), line="written while offline")
    page.unroute("**/log/**")
    # ...and the log carries on by itself, without a reload, when it comes back.
    expect(page.locator("#log")).to_contain_text("written while offline", timeout=5000)
    page.evaluate("document.dispatchEvent(new Event('visibilitychange'))")  # a tab coming back
    Task.objects.filter(pk=task.pk).update(state="succeeded", finished_at=timezone.now(), summary="Done: 1 step.")
    expect(page.locator("#task-state")).to_contain_text("succeeded", timeout=5000)
    assert page.locator("#log").inner_text().count("written while offline") == 1  # no line twice


def test_it_works_without_javascript(chromium, live_server, admin_user, site):
    context = chromium.new_context(java_script_enabled=False, viewport={"width": 390, "height": 800})
    page = context.new_page()
    try:
        page.goto(f"{live_server.url}/login/")
        page.fill("input[name=username]", admin_user.username)
        page.fill("input[name=password]", ADMIN_PASSWORD)
        page.click("button[type=submit]")
        page.goto(f"{live_server.url}/sites/?q=acme")
        page.get_by_role("link", name="www.acme.test").click()
        page.get_by_role("button", name="Back up").click()  # a plain form post
        task = Task.objects.get(kind="backup")
        page.wait_for_url(f"**/tasks/{task.pk}/")
        expect(page.locator("#task-state")).to_contain_text("queued")
        page.get_by_role("button", name="Cancel").click()
        expect(page.locator("#task-state")).to_contain_text("cancelled")
    finally:
        context.close()


def test_it_searches_sites_as_you_type_and_keeps_the_url(page, live_server, site):
    Site.objects.create(domain="blog.other.test", platform=site.platform, status="enabled")
    page.goto(f"{live_server.url}/sites/")
    expect(page.locator("#results")).to_contain_text("blog.other.test")
    page.evaluate("window.hmMarker = 'no reload'")
    page.get_by_label("Domain").fill("acme")
    expect(page.locator("#results")).not_to_contain_text("blog.other.test")
    expect(page.locator("#results")).to_contain_text("www.acme.test")
    page.wait_for_url("**/sites/?q=acme*")
    assert page.evaluate("window.hmMarker") == "no reload"
    page.reload()  # the pushed address is a real page
    expect(page.locator("#results")).not_to_contain_text("blog.other.test")
