"""A client member in a real browser: starts a verify of their site on a real worker, follows its
live log and opens the plain-text log, and never reads the server's paths; the site page offers
its platform as "Drupal <version> (d10)". An administrator's page of the same task has them."""
from __future__ import annotations

from pathlib import Path

import pytest
from django.conf import settings
from playwright.sync_api import expect

from hosting.models import Site, Task

pytestmark = [pytest.mark.browser, pytest.mark.slow, pytest.mark.django_db(transaction=True)]


def _roots(platform_path: str) -> list[str]:
    found = {str(settings.HARBORMASTER_DATA_DIR), str(settings.HARBORMASTER_BACKUP_DIR), platform_path}
    found.update(str(r) for r in settings.HARBORMASTER_ROOTS)
    return sorted(found)


def test_a_member_follows_a_verify_without_seeing_server_paths(chromium, live_server, demo, acme, member, page):
    site = demo["site"]
    Site.objects.filter(pk=site.pk).update(client=acme)
    roots = _roots(str(Path(demo["platform"].path)))
    context = chromium.new_context(viewport={"width": 1280, "height": 900})
    try:
        mine = context.new_page()
        mine.set_default_timeout(20_000)
        mine.goto(f"{live_server.url}/login/")
        mine.fill("input[name=username]", "member")
        mine.fill("input[name=password]", "member-pass-1")
        mine.click("button[type=submit]")
        mine.wait_for_url(f"{live_server.url}/")
        mine.goto(f"{live_server.url}/sites/{site.pk}/")
        expect(mine.locator("#facts")).to_contain_text(f"Drupal {demo['platform'].drupal_version} (d10)")
        mine.get_by_role("button", name="Verify").click()
        mine.locator("#work .notice.ok a").click()
        expect(mine.locator("#task-state")).to_contain_text("succeeded", timeout=30_000)
        expect(mine.locator("#log")).to_contain_text("$ [server]/drush")
        html = mine.content()
        assert not [r for r in roots if r in html], html
        mine.get_by_role("link", name="plain text").click()
        mine.wait_for_url("**/log.txt")
        text = mine.locator("body").inner_text()
        assert "Started on" in text and not [r for r in roots if r in text], text
        task = Task.objects.filter(site=site, kind="verify").latest("created_at")
        page.goto(f"{live_server.url}/tasks/{task.pk}/")
        assert [r for r in roots if r in page.content()]  # the administrator reads them
    finally:
        context.close()

