"""An administrator imports an Aegir installation from the panel: Platforms, Import from Aegir,
the directory, the plan (with what is skipped and why), Import; the workers then verify every
platform and site imported, and each site's database is recorded by its verify."""
from __future__ import annotations

from pathlib import Path

import pytest
from playwright.sync_api import expect

from hosting.models import Site, Task
from tests.aegir_install import make_aegir
from tests.e2e.conftest import wait_for

pytestmark = [pytest.mark.browser, pytest.mark.slow, pytest.mark.django_db(transaction=True)]


def test_an_admin_reads_the_plan_and_imports_from_the_panel(page, live_server, workers, e2e_dirs, settings):
    from hosting.inventory import local_server

    data = Path(settings.HARBORMASTER_DATA_DIR)
    local_server()
    aegir = make_aegir(e2e_dirs, data / "databases")
    aegir.server()
    aegir.platform("platform_d7")
    aegir.site("one.example.test", "platform_d7", client="acme", aliases=("www.one.example.test",), https=2)
    aegir.site("off.example.test", "platform_d7", enabled=False)
    aegir.platform("platform_gone", build=False)
    workers.start()

    page.goto(f"{live_server.url}/platforms/")
    page.get_by_role("link", name="Import from Aegir").click()
    page.fill("input[name=directory]", str(aegir.drush))
    page.get_by_role("button", name="Show the plan").click()
    plan = page.locator("#aegir-plan")
    expect(plan).to_contain_text("one.example.test")
    expect(plan).to_contain_text("www.one.example.test")
    expect(page.locator("#aegir-skipped")).to_contain_text("platform root gone")
    assert not Site.objects.exists()

    page.get_by_role("button", name="Import").click()
    expect(page.locator("#aegir-done")).to_contain_text("Imported 1 platform(s), 2 site(s)")
    wait_for(lambda: Task.objects.count() == 3 and not Task.objects.exclude(state__in=Task.FINAL).exists(), 120,
             "the verifies to end")
    for site in Site.objects.all():
        verify = Task.objects.get(site=site, kind="verify")
        assert verify.state in (Task.SUCCEEDED, Task.WARNING), verify.summary
        site.refresh_from_db()
        assert site.db_name and not site.attention
    assert Site.objects.get(domain="off.example.test").status == Site.DISABLED
