"""The batch migrate in the panel, end to end: the platform page's "Migrate all sites" button,
its form, the task page's link to the batch, and the batch page polled until the batch is done,
saying which site failed and why; a browser, the live server and a real worker cluster."""
from __future__ import annotations

from pathlib import Path

import pytest
from playwright.sync_api import expect

from hosting.models import MigrationBatch, Platform, Site, Task
from tests.e2e.conftest import wait_for

pytestmark = [pytest.mark.browser, pytest.mark.slow, pytest.mark.django_db(transaction=True)]


def test_it_migrates_every_site_from_the_platform_page(page, live_server, demo, settings, admin_user):
    from hosting.inventory import add_platform
    from provision.demo import make_platform

    data = Path(settings.HARBORMASTER_DATA_DIR)
    root = make_platform(data / "platforms" / "d10b", drupal=10)
    (root / ".standin").mkdir()
    (root / ".standin" / "fail-updatedb@site2.example.test").write_text("site2's update hook failed\n")
    target, verify = add_platform("d10b", str(root), by=admin_user)
    wait_for(lambda: Task.objects.get(pk=verify.pk).is_final, 60, "the new platform's verify")
    source = demo["platform"]

    page.goto(f"{live_server.url}/platforms/{source.pk}/")
    page.get_by_role("link", name="Migrate all sites").click()
    expect(page.locator("main")).to_contain_text("Every installed site of this platform moves")
    page.get_by_label("Target platform").select_option(str(target.pk))
    page.get_by_label("Stop after this many failures").fill("3")
    page.get_by_role("button", name="Migrate all sites").click()
    task = wait_for(lambda: Task.objects.filter(kind="migrate-sites").first(), what="the batch task")
    page.goto(f"{live_server.url}/tasks/{task.pk}/")
    page.locator("#batch-link a").click()
    batch = MigrationBatch.objects.get(task=task)
    page.wait_for_url(f"**/batches/{batch.pk}/")
    # The page polls while the batch runs: no reload.
    expect(page.locator("#batch-state")).to_contain_text("done", timeout=60_000)
    expect(page.locator("#batch-summary")).to_contain_text("1 moved, 1 failed.")
    failed = page.locator("#batch-sites tr[data-state=failed]")
    expect(failed).to_contain_text("site2.example.test")
    expect(failed).to_contain_text("site2's update hook failed")
    assert Site.objects.get(domain="site1.example.test").platform_id == target.pk
    assert Site.objects.get(domain="site2.example.test").platform_id == source.pk
    page.goto(f"{live_server.url}/platforms/{source.pk}/")
    expect(page.locator("#batches")).to_contain_text("1 moved, 1 failed.")
    assert Platform.objects.get(pk=target.pk).packages  # its verify listed core's packages
