"""The panel end to end: a browser, the live server and a real worker cluster."""
from __future__ import annotations

import pytest
from playwright.sync_api import expect

from hosting.models import Site, Task
from tests.e2e.conftest import wait_for

pytestmark = [pytest.mark.browser, pytest.mark.slow, pytest.mark.django_db(transaction=True)]


def test_it_queues_a_backup_from_the_site_page_and_streams_its_log_to_success(page, live_server, demo):
    site = demo["site"]
    demo["workers"].stop_all()  # no worker for now: the task page opens on a queued task
    page.goto(f"{live_server.url}/sites/{site.pk}/")
    page.get_by_role("button", name="Back up").click()
    notice = page.locator("#work .notice.ok")
    expect(notice).to_contain_text("Back up queued as task #")
    expect(page.locator("#work .why-all")).to_contain_text("is queued on this site")
    task = Task.objects.get(kind="backup")
    notice.get_by_role("link", name=f"task #{task.pk}").click()
    page.wait_for_url(f"**/tasks/{task.pk}/")
    expect(page.locator("#task-state")).to_contain_text("queued")
    expect(page.locator("#task-live")).to_contain_text("for a worker of queue local")
    page.evaluate("window.hmMarker = 'no reload'")

    demo["workers"].start()  # a worker arrives while the page watches

    expect(page.locator("#task-state")).to_contain_text("succeeded", timeout=30_000)
    expect(page.locator("#log")).to_contain_text("Backup written")
    expect(page.locator("#log")).to_contain_text("Done:")
    expect(page.locator("#task-live table")).to_contain_text("Archive the site")
    assert page.evaluate("window.hmMarker") == "no reload"  # the log and state came by polling
    assert page.locator("#log-poller").count() == 0  # and the polling stopped at the end


def test_it_cancels_a_running_task_from_its_page(page, live_server, demo):
    site = demo["site"]
    # The stand-in drush sleeps in `status`: the verify stays in its drush step until stopped.
    (demo["root"] / ".standin").mkdir(exist_ok=True)
    (demo["root"] / ".standin" / "sleep-status").write_text("60")
    page.goto(f"{live_server.url}/sites/{site.pk}/")
    page.get_by_role("button", name="Verify").click()
    expect(page.locator("#work .notice.ok")).to_contain_text("Verify queued")
    task = Task.objects.get(kind="verify", site=site, state__in=Task.ACTIVE)
    page.goto(f"{live_server.url}/tasks/{task.pk}/")
    expect(page.locator("#task-state")).to_contain_text("running")
    expect(page.locator("#task-live")).to_contain_text("Heartbeat")
    expect(page.locator("#log")).to_contain_text("Check that Drupal bootstraps")
    page.get_by_role("button", name="Cancel").click()
    expect(page.locator(".messages")).to_contain_text(f"Cancel requested: task #{task.pk}")
    expect(page.locator("#task-state")).to_contain_text("cancelled", timeout=20_000)
    expect(page.locator("#log")).to_contain_text("Cancel requested by admin")
    task.refresh_from_db()
    assert task.state == Task.CANCELLED and not task.locks.exists()
    assert page.get_by_role("button", name="Cancel").count() == 0  # the control applies no more
    expect(page.get_by_role("button", name="Retry")).to_be_visible()


def test_it_deletes_a_site_record_and_a_platform_verify_brings_the_site_back(page, live_server, demo):
    site, platform = demo["site"], demo["platform"]
    page.goto(f"{live_server.url}/sites/{site.pk}/")
    page.get_by_role("link", name="delete this site's record").click()
    expect(page.locator("main")).to_contain_text("Nothing on disk is touched")
    page.get_by_label("Type the name to confirm").fill("site1.example.test")
    page.get_by_role("button", name="Delete the record").click()
    page.wait_for_url(f"**/platforms/{platform.pk}/")
    expect(page.locator(".messages")).to_contain_text("The record of site1.example.test is deleted")
    expect(page.locator("main")).not_to_contain_text("site1.example.test</a>")
    assert Site.objects.get(pk=site.pk).status == Site.DELETED
    assert (demo["root"] / "sites" / "site1.example.test" / "settings.php").exists()  # disk untouched

    page.get_by_role("button", name="Verify").click()
    expect(page.locator("#work .notice.ok")).to_contain_text("Verify queued")
    # The page refreshes itself when the verify ends; the site is back as a new, imported record.
    expect(page.locator("main table").last).to_contain_text("site1.example.test", timeout=30_000)
    back = wait_for(lambda: Site.objects.exclude(status=Site.DELETED).filter(domain="site1.example.test").first(),
                    30, "the re-imported site")
    assert back.pk != site.pk and back.imported
    page.goto(f"{live_server.url}/sites/{back.pk}/")
    expect(page.locator("h1")).to_contain_text("site1.example.test")
    page.goto(f"{live_server.url}/tasks/?site={site.pk}")
    expect(page.locator("table.tasks")).to_contain_text("site1.example.test")  # the old history stays
