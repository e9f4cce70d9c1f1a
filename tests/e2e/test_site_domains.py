"""A site's client member adds an alias from the site page's Domains section, follows the task to
its success, sees the alias on the site page, and removes it again; the real worker cluster runs
the tasks (vhost and settings.php rewritten)."""
from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from django.utils import timezone
from playwright.sync_api import expect

from hosting.models import Site, Task
from tests.e2e.conftest import wait_for

pytestmark = [pytest.mark.browser, pytest.mark.slow, pytest.mark.django_db(transaction=True)]


def _task_succeeds(page, site: Site, kind: str) -> None:
    page.wait_for_url("**/tasks/*/")
    task = wait_for(lambda: Task.objects.filter(site=site, kind=kind, state__in=Task.FINAL).first(), 60,
                    f"the {kind} task to end")
    assert task.state == Task.SUCCEEDED, task.summary
    page.reload()
    expect(page.locator("#task-state")).to_contain_text("succeeded")


@pytest.fixture
def member_page(chromium, live_server, member) -> Iterator[Any]:
    """A browser page logged in as acme's member through the login form."""
    context = chromium.new_context(viewport={"width": 1280, "height": 900})
    page = context.new_page()
    page.set_default_timeout(20_000)
    page.goto(f"{live_server.url}/login/")
    page.fill("input[name=username]", "member")
    page.fill("input[name=password]", "member-pass-1")
    page.click("button[type=submit]")
    page.wait_for_url(f"{live_server.url}/")
    try:
        yield page
    finally:
        context.close()


def test_a_member_adds_and_removes_an_alias_from_the_site_page(member_page, live_server, workers, settings, acme):
    from hosting.engine.worker import execute
    from hosting.inventory import add_site, local_server
    from hosting.models import Platform
    from hosting.operations import resources
    from provision.demo import VERSIONS, make_platform
    from provision.platform import find_docroot

    page = member_page
    data = Path(settings.HARBORMASTER_DATA_DIR)
    root = make_platform(data / "platforms" / "d10", drupal=10, db_dir=data / "databases")
    platform = Platform.objects.create(name="d10", server=local_server(), path=str(root), status="enabled",
                                       docroot=str(find_docroot(root)), drupal_version=VERSIONS[10],
                                       verified_at=timezone.now())
    site, install = add_site("shop.example.test", platform, client=acme)
    execute(install.pk)
    install.refresh_from_db()
    assert install.state == Task.SUCCEEDED, install.summary
    workers.start()

    page.goto(f"{live_server.url}/sites/{site.pk}/")
    domains = page.locator("#domains")
    expect(domains).to_contain_text("no www. redirect")
    domains.get_by_label("Add an alias").fill("blog.example.test")
    domains.get_by_role("button", name="Add alias").click()
    _task_succeeds(page, site, "alias-add")
    site.refresh_from_db()
    assert site.aliases == ["blog.example.test"]
    vhost = resources.web_config(site.platform.server).vhost_dir / "shop.example.test.conf"
    assert "blog.example.test" in vhost.read_text()

    page.goto(f"{live_server.url}/sites/{site.pk}/")
    expect(page.locator("#alias-list")).to_contain_text("blog.example.test")
    page.get_by_role("button", name="Remove alias blog.example.test").click()
    _task_succeeds(page, site, "alias-remove")
    site.refresh_from_db()
    assert site.aliases == [] and "blog.example.test" not in vhost.read_text()
    page.goto(f"{live_server.url}/sites/{site.pk}/")
    expect(page.locator("#domains")).not_to_contain_text("blog.example.test")
