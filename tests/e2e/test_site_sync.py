"""Sync from the site page, end to end: a browser, the live server, a real worker and the
stand-in drush: the Sync form, its confirmation page, and the files arriving on the target."""
from __future__ import annotations

from pathlib import Path

import pytest
from playwright.sync_api import expect

from hosting.models import Site, Task
from tests.e2e.conftest import wait_for

pytestmark = [pytest.mark.browser, pytest.mark.slow, pytest.mark.django_db(transaction=True)]


def test_it_syncs_another_sites_files_from_the_site_page(page, live_server, demo):
    from hosting.operations import resources

    target = demo["site"]
    source = Site.objects.get(domain="site2.example.test")
    (resources.site_dir(source) / "files" / "from-site2.txt").write_text("copied by the sync")
    settings_before = (resources.site_dir(target) / "settings.php").read_text()

    page.goto(f"{live_server.url}/sites/{target.pk}/")
    page.get_by_role("link", name="Sync from another site").click()
    expect(page.locator("main")).to_contain_text("A backup of this site is taken first")
    page.get_by_label("Copy from").select_option(label=source.domain)
    page.get_by_label("The files only").check()
    page.get_by_role("button", name="Sync from another site").click()
    task = wait_for(lambda: Task.objects.filter(kind="sync", site=target).first(), what="the sync task")
    assert task.args == {"source": source.pk, "database": False, "files": True}
    page.goto(f"{live_server.url}/tasks/{task.pk}/")
    expect(page.locator("#task-state")).to_contain_text("succeeded", timeout=30_000)
    expect(page.locator("#log")).to_contain_text(f"Syncing the files of {source.domain}")
    copied = resources.site_dir(target) / "files" / "from-site2.txt"
    assert copied.read_text() == "copied by the sync"
    assert (resources.site_dir(target) / "settings.php").read_text() == settings_before
    assert Path(resources.site_dir(source) / "files" / "from-site2.txt").exists()
