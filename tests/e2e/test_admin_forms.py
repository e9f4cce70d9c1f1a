"""An administrator records a server from the panel and watches its verify run on that server's
own worker queue; creates a client and lowers its quota; and closes a platform to every client
but that one. Each through the forms a person clicks."""
from __future__ import annotations

from pathlib import Path

import pytest
from playwright.sync_api import expect

from hosting.models import Client, Platform, Server, Task
from tests.e2e.conftest import wait_for

pytestmark = [pytest.mark.browser, pytest.mark.slow, pytest.mark.django_db(transaction=True)]


def test_an_admin_creates_a_server_and_its_verify_runs(page, live_server, workers, settings):
    data = Path(settings.HARBORMASTER_DATA_DIR)
    workers.factory.start("web2", env=workers.env)  # the new server's host's workers

    page.goto(f"{live_server.url}/servers/")
    page.get_by_role("link", name="New server").click()
    page.get_by_label("Name", exact=True).fill("web2")
    page.get_by_label("Vhost directory").fill(str(data / "vhosts-web2"))
    page.get_by_label("SQLite directory").fill(str(data / "databases-web2"))
    page.get_by_role("button", name="Create server").click()
    page.wait_for_url("**/servers/*/?new=*")
    expect(page.locator("main")).to_contain_text("Server web2 recorded; its verify is queued")
    server = Server.objects.get(name="web2")
    assert server.queue == "web2"
    verify = wait_for(lambda: Task.objects.filter(server=server, kind="verify", state__in=Task.FINAL).first(), 60,
                      "the new server's verify")
    assert verify.state in (Task.SUCCEEDED, Task.WARNING), verify.summary
    page.reload()
    expect(page.locator("main")).to_contain_text("Verify")
    page.get_by_role("link", name=f"#{verify.pk}").first.click()
    expect(page.locator("main")).to_contain_text("web2")

    # A change of its settings is applied by a new verify.
    page.goto(f"{live_server.url}/servers/{server.pk}/")
    page.get_by_role("link", name="Edit settings").click()
    page.get_by_label("Listen on", exact=True).fill("8080")
    page.get_by_role("button", name="Save and verify").click()
    expect(page.locator("main")).to_contain_text("changed; the verify that applies it is queued")
    assert Server.objects.get(pk=server.pk).web_listen == "8080"
    wait_for(lambda: Task.objects.filter(server=server, kind="verify", state__in=Task.FINAL).count() == 2, 60,
             "the verify after the change")


def test_an_admin_creates_a_client_edits_its_quota_and_a_platforms_clients(page, live_server, server, tmp_path,
                                                                           acme):
    platform = Platform.objects.create(name="d10", server=server, path=str(tmp_path / "d10"), status="enabled")
    page.goto(f"{live_server.url}/clients/")
    page.get_by_role("link", name="New client").click()
    page.get_by_label("Name", exact=True).fill("initech")
    page.get_by_label("Title").fill("Initech")
    page.get_by_label("Most sites").fill("10")
    page.get_by_role("button", name="Create client").click()
    expect(page.locator(".messages")).to_contain_text("Client initech created")
    expect(page.locator("main")).to_contain_text("of 10 allowed")

    page.get_by_role("link", name="Edit quotas").click()
    page.get_by_label("Most sites").fill("2")
    page.get_by_role("button", name="Save").click()
    expect(page.locator("main")).to_contain_text("0 of 2 allowed")
    assert Client.objects.get(name="initech").max_sites == 2

    page.goto(f"{live_server.url}/platforms/{platform.pk}/")
    expect(page.locator("main")).to_contain_text("every client")
    page.get_by_role("link", name="Edit clients").click()
    page.get_by_label("Initech").check()
    page.get_by_role("button", name="Save").click()
    expect(page.locator(".messages")).to_contain_text("Platform d10 is open to initech")
    assert [c.name for c in platform.clients.all()] == ["initech"]
