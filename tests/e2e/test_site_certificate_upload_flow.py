"""A client's member gives the site their own certificate from its HTTPS page: a chain and key
made here (a test root and intermediate, for the site's domain), uploaded as files; the task
runs on a real worker cluster against a real nginx, the site's page shows the certificate as
uploaded, and the site answers over TLS with it."""
from __future__ import annotations

from pathlib import Path

import pytest
from playwright.sync_api import expect

from hosting.models import Certificate, Task
from tests import certs
from tests.e2e.conftest import ADMIN_PASSWORD, wait_for
from tests.operations.test_nginx_site import web_stack  # noqa: F401 - the fixture
from tests.operations.test_site_https import eventually, https_get
from tests.pebble import free_port

pytestmark = [pytest.mark.browser, pytest.mark.slow, pytest.mark.django_db(transaction=True)]


def test_a_member_uploads_a_certificate_from_the_https_page(chromium, live_server, workers, e2e_dirs, settings,  # noqa: F811
                                                            acme, member, web_stack, tmp_path):
    from hosting.engine.worker import execute
    from hosting.inventory import add_site
    from hosting.models import Platform, Server
    from provision.demo import VERSIONS, make_platform
    from provision.platform import find_docroot

    data = Path(settings.HARBORMASTER_DATA_DIR)
    http_port, tls_port = free_port(), free_port()
    server = Server.objects.create(
        name="local", queue="local", http="nginx", web_conf_dir=str(data / "vhosts"),
        web_listen=f"127.0.0.1:{http_port}", web_tls_listen=f"127.0.0.1:{tls_port}",
        php_fastcgi=f"unix:{web_stack['socket']}", web_main_config=str(web_stack["conf"]),
        web_prefix=str(web_stack["prefix"]), db_engine="sqlite", sqlite_dir=str(data / "databases"))
    root = make_platform(data / "platforms" / "d10", drupal=10, db_dir=data / "databases")
    platform = Platform.objects.create(name="d10", server=server, path=str(root), status="enabled",
                                       docroot=str(find_docroot(root)), drupal_version=VERSIONS[10],
                                       verified_at="2026-01-01T00:00Z")
    platform.clients.add(acme)
    site, install = add_site("own.example.test", platform, client=acme)
    execute(install.pk)
    install.refresh_from_db()
    assert install.state == Task.SUCCEEDED, install.summary
    workers.start()

    made = certs.bundle([site.domain])
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
        page.get_by_role("link", name="HTTPS").or_(page.get_by_role("button", name="HTTPS")).first.click()
        page.click("#own-certificate a")
        page.set_input_files("input[name=certificate_file]", files=[
            {"name": "chain.pem", "mimeType": "application/x-pem-file", "buffer": made.chain}])
        page.set_input_files("input[name=key_file]", files=[
            {"name": "key.pem", "mimeType": "application/x-pem-file", "buffer": made.key}])
        page.select_option("select[name=mode]", "required")
        page.click("#upload-form button[type=submit]")
        task = wait_for(lambda: Task.objects.filter(site=site, kind="https", state__in=Task.FINAL).first(), 90,
                        "the https task to end")
        assert task.state == Task.SUCCEEDED, task.summary
        page.goto(f"{live_server.url}/sites/{site.pk}/")
        expect(page.locator("#https")).to_contain_text("Required")
        expect(page.locator("#certificate")).to_contain_text("uploaded · issued by Test Intermediate CA")
        expect(page.locator("#certificate-attempt")).to_contain_text("succeeded")
        assert "PRIVATE KEY" not in page.content()
    finally:
        context.close()
    assert Certificate.objects.get(site=site).source == "uploaded"
    trust = tmp_path / "root.pem"
    trust.write_bytes(made.root)
    status, _, body = eventually(lambda: https_get(tls_port, site.domain, trust))
    assert status == 200 and "Site name: own.example.test" in body
