"""An administrator creates a platform from the panel (a demo codebase on disk), its verify
runs and records the install profiles it found, then a site is created on it from the platform's
page with one of those profiles, and its install succeeds."""
from __future__ import annotations

from pathlib import Path

import pytest
from playwright.sync_api import expect

from hosting.models import Platform, Site, Task
from tests.e2e.conftest import wait_for

pytestmark = [pytest.mark.browser, pytest.mark.slow, pytest.mark.django_db(transaction=True)]


def test_an_admin_creates_a_platform_then_a_site_on_it_from_the_panel(page, live_server, workers, e2e_dirs,
                                                                      settings, acme):
    from hosting.inventory import local_server
    from provision.demo import make_platform

    data = Path(settings.HARBORMASTER_DATA_DIR)
    root = make_platform(data / "platforms" / "d10", drupal=10, db_dir=data / "databases")
    local_server()
    workers.start()

    page.goto(f"{live_server.url}/platforms/")
    page.get_by_role("link", name="New platform", exact=True).click()
    page.fill("input[name=name]", "d10")
    page.fill("input[name=path]", str(root))
    page.get_by_role("button", name="Create platform").click()
    page.wait_for_url("**/platforms/*/?new=*")
    platform = Platform.objects.get(name="d10")
    wait_for(lambda: Platform.objects.filter(pk=platform.pk, status="enabled").exists(), 60, "the platform verify")
    assert Platform.objects.get(pk=platform.pk).profiles == ["minimal", "standard"]

    page.goto(f"{live_server.url}/platforms/{platform.pk}/")
    page.get_by_role("link", name="New site on this platform").click()
    assert sorted(page.locator("select[name=profile] option").all_inner_texts()) == ["minimal", "standard"]
    page.fill("input[name=domain]", "new.example.test")
    page.select_option("select[name=profile]", "minimal")
    page.select_option("select[name=client]", label="Acme Corp")
    page.get_by_role("button", name="Create site").click()
    page.wait_for_url("**/sites/*/?new=*")
    expect(page.locator("main")).to_contain_text("queued as")
    site = Site.objects.get(domain="new.example.test")
    install = wait_for(lambda: Task.objects.filter(site=site, kind="install", state__in=Task.FINAL).first(), 90,
                       "the install to end")
    assert install.state == Task.SUCCEEDED, install.summary
    site.refresh_from_db()
    assert (site.status, site.profile, site.client_id) == ("enabled", "minimal", acme.pk)
    page.goto(f"{live_server.url}/sites/{site.pk}/")
    expect(page.locator("h1")).to_contain_text("enabled")
