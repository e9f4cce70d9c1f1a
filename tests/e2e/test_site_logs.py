"""The log viewer in a browser: a real nginx serves the site and writes its own access log; the
open Logs page shows a request made after it was opened (htmx polling), the status filter keeps
only the matching lines, and a hostile line shows as text. Drupal's log: the viewer's button
queues the drush task (a real worker, the stand-in drush)."""
from __future__ import annotations

from pathlib import Path

import pytest
from django.conf import settings
from django.utils import timezone
from playwright.sync_api import expect

from hosting.models import Platform, Server, Site, Task
from provision.web import VhostSpec
from tests.e2e.conftest import wait_for
from tests.provision.test_web_nginx import Nginx, nginx  # noqa: F401 - the fixture

pytestmark = [pytest.mark.browser, pytest.mark.slow, pytest.mark.django_db(transaction=True)]


def test_a_new_request_appears_in_the_open_viewer(page, live_server, nginx: Nginx, e2e_dirs: Path,  # noqa: F811
                                                  tmp_path: Path) -> None:
    docroot = tmp_path / "platform" / "web"
    (docroot / "sites" / "logs.example.test").mkdir(parents=True)
    (docroot / "hello.txt").write_text("hello")
    server = Server.objects.create(name="web", queue=settings.HARBORMASTER_QUEUE, hostname="localhost",
                                   http="nginx", web_conf_dir=str(nginx.prefix / "vhosts"))
    platform = Platform.objects.create(name="d10", server=server, path=str(tmp_path / "platform"),
                                       docroot=str(docroot), status="enabled", drupal_version="10.3.1",
                                       verified_at=timezone.now())
    site = Site.objects.create(domain="logs.example.test", platform=platform, status="enabled")
    nginx.web.write_vhost(VhostSpec(site.domain, [], docroot, docroot / "sites" / site.domain, "127.0.0.1:9"))
    nginx.wait_for("/hello.txt", site.domain, 200, "hello")

    page.goto(f"{live_server.url}/sites/{site.pk}/")
    page.get_by_role("link", name="Logs: access, errors, Drupal's log →").click()
    page.wait_for_url(f"**/sites/{site.pk}/logs/")
    shown = page.locator("#log-lines-shown")
    expect(shown).to_contain_text('"GET /hello.txt HTTP/1.1" 200')
    expect(page.locator("#log-path")).to_contain_text("harbormaster-logs/logs.example.test.access.log")

    # A request made while the page is open: the poll brings it in, a script in it stays text.
    assert nginx.get("/just-now-<script>window.pwned=1</script>.txt", site.domain)[0] == 404
    expect(shown).to_contain_text("/just-now-<script>window.pwned=1</script>.txt", timeout=10_000)
    assert page.evaluate("window.pwned") is None

    page.get_by_label("Status").fill("404")
    page.get_by_role("button", name="Show", exact=True).click()
    expect(shown).to_contain_text("/just-now-")
    expect(shown).not_to_contain_text("/hello.txt")


def test_drupals_log_runs_as_a_drush_task(page, live_server, demo) -> None:
    site = demo["site"]
    page.goto(f"{live_server.url}/sites/{site.pk}/logs/")
    expect(page.locator("#log-error")).to_contain_text("no web server")  # the demo server writes no vhosts
    page.get_by_role("button", name="Show Drupal's last 50 messages").click()
    task = wait_for(lambda: Task.objects.filter(kind="drush", site=site).first(), what="the drush task")
    assert task.args["argv"] == ["watchdog:show", "--count=50"]
    page.goto(f"{live_server.url}/tasks/{task.pk}/")
    expect(page.locator("#task-state")).to_contain_text("succeeded", timeout=30_000)
    expect(page.locator("#log")).to_contain_text("No log messages available.")
