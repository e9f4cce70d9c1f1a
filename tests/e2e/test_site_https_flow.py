"""A client's member turns HTTPS on from the site's page: the HTTPS button's form (Required,
HSTS), the task run by a real worker cluster against a real Pebble and nginx, then the site's
page shows the certificate and the site answers over TLS."""
from __future__ import annotations

from pathlib import Path

import pytest
from playwright.sync_api import expect

from hosting.models import Certificate, Site, Task
from tests.e2e.conftest import ADMIN_PASSWORD, wait_for
from tests.operations.test_nginx_site import web_stack  # noqa: F401 - the fixture
from tests.operations.test_site_https import eventually, http_get, https_get
from tests.pebble import free_port, pebble_server  # noqa: F401 - the fixture

pytestmark = [pytest.mark.browser, pytest.mark.slow, pytest.mark.django_db(transaction=True)]


def test_a_member_requires_https_from_the_site_page(chromium, live_server, workers, e2e_dirs, settings,  # noqa: F811
                                                    admin_user, acme, member, web_stack, pebble_server):
    from hosting.engine.worker import execute
    from hosting.inventory import add_site
    from hosting.models import Platform, Server
    from provision.demo import VERSIONS, make_platform
    from provision.platform import find_docroot

    data = Path(settings.HARBORMASTER_DATA_DIR)
    tls_port = free_port()
    server = Server.objects.create(
        name="local", queue="local", http="nginx", web_conf_dir=str(data / "vhosts"),
        web_listen=f"127.0.0.1:{pebble_server.http_port}", web_tls_listen=f"127.0.0.1:{tls_port}",
        php_fastcgi=f"unix:{web_stack['socket']}", web_main_config=str(web_stack["conf"]),
        web_prefix=str(web_stack["prefix"]), db_engine="sqlite", sqlite_dir=str(data / "databases"))
    root = make_platform(data / "platforms" / "d10", drupal=10, db_dir=data / "databases")
    platform = Platform.objects.create(name="d10", server=server, path=str(root), status="enabled",
                                       docroot=str(find_docroot(root)), drupal_version=VERSIONS[10],
                                       verified_at="2026-01-01T00:00Z")
    platform.clients.add(acme)
    site, install = add_site("tls.example.test", platform, client=acme)
    execute(install.pk)
    install.refresh_from_db()
    assert install.state == Task.SUCCEEDED, install.summary
    workers.env.update({"HARBORMASTER_ACME_DIRECTORY": pebble_server.directory,
                        "HARBORMASTER_ACME_CA_BUNDLE": str(pebble_server.cert)})
    workers.start()

    context = chromium.new_context(viewport={"width": 1280, "height": 900})
    page = context.new_page()
    page.set_default_timeout(20_000)
    try:
        member.set_password(ADMIN_PASSWORD)
        member.save()
        page.goto(f"{live_server.url}/login/")
        page.fill("input[name=username]", member.username)
        page.fill("input[name=password]", ADMIN_PASSWORD)
        page.click("button[type=submit]")
        page.wait_for_url(f"{live_server.url}/")
        page.goto(f"{live_server.url}/sites/{site.pk}/")
        expect(page.locator("#https")).to_contain_text("Off")
        page.get_by_role("link", name="HTTPS").or_(page.get_by_role("button", name="HTTPS")).first.click()
        page.select_option("select[name=mode]", "required")
        page.check("input[name=hsts]")
        page.locator("main form button[type=submit]").last.click()
        task = wait_for(lambda: Task.objects.filter(site=site, kind="https", state__in=Task.FINAL).first(), 90,
                        "the https task to end")
        assert task.state == Task.SUCCEEDED, task.summary
        page.goto(f"{live_server.url}/sites/{site.pk}/")
        expect(page.locator("#https")).to_contain_text("Required (HTTP redirects) · HSTS")
        expect(page.locator("#certificate")).to_contain_text("issued by Pebble")
        expect(page.locator("#certificate-attempt")).to_contain_text("succeeded")
    finally:
        context.close()
    assert Site.objects.get(pk=site.pk).https_mode == "required"
    assert Certificate.objects.get(site=site).last_ok
    status, headers, body = eventually(lambda: _ok(https_get(tls_port, site.domain, pebble_server.trust())))
    assert "strict-transport-security" in headers and "Site name: tls.example.test" in body
    assert http_get(pebble_server.http_port, site.domain, "/")[0] == 301


def _ok(got):
    assert got[0] == 200, got[:2]
    return got
