"""Maintenance from the site page, end to end: a browser, the live server, a real worker and the
stand-in drush."""
from __future__ import annotations

import pytest
from playwright.sync_api import expect

from hosting.models import Task
from tests.e2e.conftest import wait_for

pytestmark = [pytest.mark.browser, pytest.mark.slow, pytest.mark.django_db(transaction=True)]


def test_it_rebuilds_caches_from_the_site_page(page, live_server, demo):
    site = demo["site"]
    page.goto(f"{live_server.url}/sites/{site.pk}/")
    page.get_by_role("button", name="Rebuild caches").click()
    notice = page.locator("#work .notice.ok")
    expect(notice).to_contain_text("Rebuild caches queued as task #")
    task = Task.objects.get(kind="cache-rebuild", site=site)
    notice.get_by_role("link", name=f"task #{task.pk}").click()
    page.wait_for_url(f"**/tasks/{task.pk}/")
    expect(page.locator("#task-state")).to_contain_text("succeeded", timeout=30_000)
    expect(page.locator("#log")).to_contain_text("Cache rebuild complete.")


def test_it_runs_database_updates_after_a_confirmation(page, live_server, demo):
    site = demo["site"]
    page.goto(f"{live_server.url}/sites/{site.pk}/")
    page.get_by_role("link", name="Run database updates").click()
    expect(page.locator("main")).to_contain_text("The database is backed up first")
    page.get_by_role("button", name="Run database updates").click()
    task = wait_for(lambda: Task.objects.filter(kind="updatedb", site=site).first(), what="the updatedb task")
    page.goto(f"{live_server.url}/tasks/{task.pk}/")
    expect(page.locator("#task-state")).to_contain_text("succeeded", timeout=30_000)
    expect(page.locator("#log")).to_contain_text("No pending updates.")


def test_it_sets_the_cron_interval_and_shows_the_last_run(page, live_server, demo):
    from hosting import cron

    site = demo["site"]
    page.goto(f"{live_server.url}/sites/{site.pk}/")
    section = page.locator("#cron")
    expect(section).to_contain_text("never")
    page.get_by_label("Interval in minutes").fill("30")
    page.get_by_role("button", name="Save interval").click()
    expect(page.locator("body")).to_contain_text(f"Cron of {site.domain}: every 30 minutes.")
    expect(section).to_contain_text("every 30 minutes")

    task_id = cron.start(site)  # as the scheduler does when the site's slot comes
    assert task_id is not None
    wait_for(lambda: Task.objects.get(pk=task_id).is_final, what="the scheduled cron run")
    assert cron.fold() == 1
    page.reload()
    expect(page.locator("#cron-last")).to_contain_text("Succeeded")
    expect(page.locator("#cron-runs")).to_contain_text("Done: 1 step.")


def test_it_runs_a_drush_command_from_the_site_page(page, live_server, demo):
    site = demo["site"]
    page.goto(f"{live_server.url}/sites/{site.pk}/")
    page.get_by_role("link", name="Run drush").click()
    page.get_by_label("drush command").fill("watchdog:show --count=5")
    page.get_by_role("button", name="Run drush").click()
    task = wait_for(lambda: Task.objects.filter(kind="drush", site=site).first(), what="the drush task")
    assert task.args["argv"] == ["watchdog:show", "--count=5"]
    page.goto(f"{live_server.url}/tasks/{task.pk}/")
    expect(page.locator("#task-state")).to_contain_text("succeeded", timeout=30_000)
    expect(page.locator("#log")).to_contain_text("No log messages available.")
