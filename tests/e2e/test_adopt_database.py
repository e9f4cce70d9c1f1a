"""An administrator adopts, from the site's page, the database an imported site's settings.php
names but Harbormaster never recorded for it (issue 13: a site takes no database on its own word)."""
from __future__ import annotations

import os
from pathlib import Path

import pytest
from playwright.sync_api import expect

from hosting.models import Site, Task
from tests.e2e.conftest import wait_for

pytestmark = [pytest.mark.browser, pytest.mark.slow, pytest.mark.django_db(transaction=True)]


def test_an_admin_adopts_an_imported_sites_database_from_its_page(page, live_server, workers, e2e_dirs,
                                                                  settings, admin_user):
    from hosting.inventory import add_platform, local_server
    from provision.demo import make_platform

    data = Path(settings.HARBORMASTER_DATA_DIR)
    root = make_platform(data / "platforms" / "d10", drupal=10, sites=1, db_dir=data / "databases")
    local_server()
    add_platform("d10", str(root), by=admin_user)  # no operator's word: the import asks a human
    workers.start()
    site = wait_for(lambda: Site.objects.filter(domain="site1.example.test").exclude(attention="").first(), 60,
                    "the imported site, needing attention")
    wait_for(lambda: not Task.objects.filter(state__in=Task.ACTIVE).exists(), 30, "the platform verify to end")
    assert site.db_name == "" and site.attention_database

    page.goto(f"{live_server.url}/sites/{site.pk}/")
    expect(page.locator("main")).to_contain_text("did not create for this site")
    if shots := os.environ.get("HARBORMASTER_E2E_SHOTS"):  # a look at the page, when asked
        page.screenshot(path=str(Path(shots) / "site-adopt-database.png"), full_page=True)
    page.get_by_role("button", name=f"Adopt database {site.attention_database}").click()
    page.wait_for_url("**/tasks/*/")
    expect(page.locator("main")).to_contain_text("Adopted on an administrator's confirmation", timeout=30_000)
    adopted = wait_for(lambda: Site.objects.filter(pk=site.pk, attention="").exclude(db_name="").first(), 30,
                       "the site's record to name its database")
    assert adopted.db_name == site.attention_database and adopted.attention_database == ""
    page.goto(f"{live_server.url}/sites/{site.pk}/")
    expect(page.locator("main")).not_to_contain_text("Adopt database")
