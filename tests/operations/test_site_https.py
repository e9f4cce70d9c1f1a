"""site.https end to end: a real Pebble (tests.pebble) issues by HTTP-01 against the test's own
nginx, which listens for HTTP on Pebble's validation port and for TLS on a free port; a client
that trusts Pebble's root fetches the front page over TLS."""
from __future__ import annotations

import os
import socket
import ssl
import stat
import time
from pathlib import Path

import pytest

from hosting.models import Certificate, Site, Task
from tests.operations.conftest import log_of, run_task
from tests.operations.test_nginx_site import fetch, web_stack  # noqa: F401 - the fixture
from tests.pebble import Pebble, free_port, pebble_server  # noqa: F401 - the fixture


def https_get(port: int, host: str, cafile: Path, path: str = "/") -> tuple[int, dict[str, str], str]:
    """GET PATH over TLS from 127.0.0.1:PORT, with HOST as SNI and Host, checking the
    certificate against CAFILE for HOST."""
    context = ssl.create_default_context(cafile=str(cafile))
    with socket.create_connection(("127.0.0.1", port), timeout=10) as raw:
        with context.wrap_socket(raw, server_hostname=host) as tls:
            assert tls.version() in ("TLSv1.2", "TLSv1.3")
            tls.sendall(f"GET {path} HTTP/1.0\r\nHost: {host}\r\n\r\n".encode())
            data = b""
            while chunk := tls.recv(65536):
                data += chunk
    head, _, body = data.decode("utf-8", "replace").partition("\r\n\r\n")
    lines = head.split("\r\n")
    headers = dict(line.split(": ", 1) for line in lines[1:] if ": " in line)
    return int(lines[0].split()[1]), {k.lower(): v for k, v in headers.items()}, body


def http_get(port: int, host: str, path: str) -> tuple[int, dict[str, str], str]:
    with socket.create_connection(("127.0.0.1", port), timeout=10) as conn:
        conn.sendall(f"GET {path} HTTP/1.0\r\nHost: {host}\r\n\r\n".encode())
        data = b""
        while chunk := conn.recv(65536):
            data += chunk
    head, _, body = data.decode("utf-8", "replace").partition("\r\n\r\n")
    lines = head.split("\r\n")
    headers = dict(line.split(": ", 1) for line in lines[1:] if ": " in line)
    return int(lines[0].split()[1]), {k.lower(): v for k, v in headers.items()}, body


def eventually(check, timeout: float = 10.0):
    """A reload is asynchronous: old workers answer until the new ones took over."""
    give_up = time.monotonic() + timeout
    while True:
        try:
            return check()
        except (AssertionError, OSError):
            if time.monotonic() > give_up:
                raise
            time.sleep(0.1)


@pytest.fixture
def tls_site(web_stack, pebble_server, make_server, make_platform, domains, settings):  # noqa: F811
    from hosting.engine.worker import execute
    from hosting.inventory import add_site

    settings.HARBORMASTER_ACME_DIRECTORY = pebble_server.directory
    settings.HARBORMASTER_ACME_CA_BUNDLE = str(pebble_server.cert)
    settings.HARBORMASTER_ACME_EMAIL = "ops@example.test"
    tls_port = free_port()
    server = make_server("sqlite", http="nginx", web_listen=f"127.0.0.1:{pebble_server.http_port}",
                         web_tls_listen=f"127.0.0.1:{tls_port}",
                         php_fastcgi=f"unix:{web_stack['socket']}", web_main_config=str(web_stack["conf"]),
                         web_prefix=str(web_stack["prefix"]))
    platform = make_platform(server)
    domain = domains.new("tls")
    site, task = add_site(domain, platform, aliases=[f"www.{domain}"])
    execute(task.pk)
    task.refresh_from_db()
    assert task.state == Task.SUCCEEDED, (task.summary, log_of(task))
    site.refresh_from_db()
    assert fetch(pebble_server.http_port, site.domain, 200)[0] == 200
    return site, tls_port


def test_it_serves_a_site_over_https_with_a_certificate_from_pebble(tls_site, pebble_server, hm_dirs):  # noqa: F811
    site, tls_port = tls_site
    http_port = pebble_server.http_port
    task = run_task(site, "https", {"mode": "on", "hsts": False, "renew": False})
    assert task.state == Task.SUCCEEDED, (task.summary, log_of(task))
    cert = Certificate.objects.get(site=site)
    assert set(cert.domains) == {site.domain, f"www.{site.domain}"}
    assert "Pebble" in cert.issuer and cert.last_ok and cert.not_after
    site.refresh_from_db()
    assert site.https_mode == Site.HTTPS_ON

    trust = pebble_server.trust()
    status, headers, body = eventually(lambda: _ok(https_get(tls_port, site.domain, trust)))
    assert f"Site name: {site.domain}" in body and "strict-transport-security" not in headers
    assert eventually(lambda: _ok(https_get(tls_port, f"www.{site.domain}", trust)))[0] == 200
    assert fetch(http_port, site.domain, 200)[0] == 200  # HTTP still serves in mode `on`

    # The keys are the data directory's, private, and never in the log.
    version = Path(cert.path)
    assert version.is_relative_to(hm_dirs / "data" / "tls" / "sites" / site.domain)
    assert stat.S_IMODE((version / "privkey.pem").stat().st_mode) == 0o600
    assert "PRIVATE KEY" not in log_of(task)

    # Required, with HSTS: HTTP redirects (the challenge path apart), HTTPS says HSTS. The
    # certificate is good: it is kept, not issued again.
    task = run_task(site, "https", {"mode": "required", "hsts": True})
    assert task.state == Task.SUCCEEDED, (task.summary, log_of(task))
    assert "kept" in log_of(task)
    status, headers, _ = eventually(lambda: _status(http_get(http_port, site.domain, "/node/1"), 301))
    assert headers["location"] == f"https://{site.domain}:{tls_port}/node/1"
    token = hm_dirs / "data" / "acme-challenge" / "probe-token"
    token.write_text("probe")
    status, _, body = http_get(http_port, site.domain, "/.well-known/acme-challenge/probe-token")
    assert (status, body) == (200, "probe")
    # The new workers say HSTS; an old one may still answer the first requests after the reload.
    status, headers, _ = eventually(lambda: _hsts(_ok(https_get(tls_port, site.domain, trust))))
    assert headers["strict-transport-security"].startswith("max-age=")

    # A verify rewrites the vhost as the record says: HTTPS stays.
    assert run_task(site, "verify").state == Task.SUCCEEDED
    assert _ok(https_get(tls_port, site.domain, trust))
    assert http_get(http_port, site.domain, "/")[0] == 301

    # A disabled site still answers the challenge (its certificate can be renewed).
    assert run_task(site, "disable").state == Task.SUCCEEDED
    probe = "/.well-known/acme-challenge/probe-token"
    status, _, body = eventually(lambda: _status(http_get(http_port, site.domain, probe), 200))
    assert body == "probe"
    assert eventually(lambda: _status(http_get(http_port, site.domain, "/"), 503))
    # Over HTTPS too, with the site's own certificate (not the default server's).
    assert eventually(lambda: _status(https_get(tls_port, site.domain, trust), 503))
    renewed = run_task(site, "https", {"mode": "required", "hsts": True, "renew": True})
    assert renewed.state == Task.SUCCEEDED, (renewed.summary, log_of(renewed))
    new = Certificate.objects.get(site=site)
    assert new.path != cert.path and not Path(cert.path).exists()

    # Off: HTTP serves again, no TLS block.
    assert run_task(site, "enable").state == Task.SUCCEEDED
    assert run_task(site, "https", {"mode": "off"}).state == Task.SUCCEEDED
    assert eventually(lambda: _status(http_get(http_port, site.domain, "/"), 200))


def test_a_refusing_acme_server_leaves_the_site_serving(tls_site, pebble_server, hm_dirs):  # noqa: F811
    site, tls_port = tls_site
    vhost = hm_dirs / "data" / "vhosts" / f"{site.domain}.conf"
    before = vhost.read_text()
    pebble_server.stop()
    task = run_task(site, "https", {"mode": "required", "hsts": True})
    assert task.state == Task.FAILED
    assert "No certificate for" in task.summary and "serves as before" in task.summary
    assert pebble_server.directory in task.summary
    assert vhost.read_text() == before
    assert fetch(pebble_server.http_port, site.domain, 200)[0] == 200
    site.refresh_from_db()
    assert site.https_mode == Site.HTTPS_OFF
    cert = Certificate.objects.get(site=site)
    assert not cert.last_ok and not cert.path and "did not issue" in cert.last_outcome
    assert not (hm_dirs / "data" / "tls" / "sites").exists() or not any((hm_dirs / "data" / "tls" / "sites").iterdir())


def test_a_sites_own_files_cannot_steer_its_keys(tls_site, pebble_server, hm_dirs, tmp_path):  # noqa: F811
    """The client writes sites/<domain>/ (settings.php included) and its docroot's files: none
    of it says where keys go or what the challenge path serves."""
    from hosting.operations import resources

    site, tls_port = tls_site
    site_dir = resources.site_dir(site)
    elsewhere = tmp_path / "stolen"
    elsewhere.mkdir()
    settings_php = site_dir / "settings.php"
    os.chmod(settings_php, 0o644)
    with open(settings_php, "a") as handle:
        handle.write(f"\n$settings['harbormaster_tls_dir'] = '{elsewhere}';\n$conf['ssl_key'] = '{elsewhere}/k';\n")
    planted = resources.docroot(site.platform) / ".well-known" / "acme-challenge"
    planted.mkdir(parents=True)
    (planted / "planted").write_text("the site's own")
    (site_dir / "files" / "tls").symlink_to(elsewhere)

    task = run_task(site, "https", {"mode": "on"})
    assert task.state == Task.SUCCEEDED, (task.summary, log_of(task))
    cert = Certificate.objects.get(site=site)
    assert Path(cert.path).parent == hm_dirs / "data" / "tls" / "sites" / site.domain
    assert list(elsewhere.iterdir()) == []
    status, _, body = http_get(pebble_server.http_port, site.domain, "/.well-known/acme-challenge/planted")
    assert status == 404 and "the site's own" not in body
    found = [p for p in resources.docroot(site.platform).rglob("*.pem")]
    assert found == []


def _hsts(got: tuple[int, dict[str, str], str]) -> tuple[int, dict[str, str], str]:
    assert "strict-transport-security" in got[1], got[:2]
    return got


def _ok(got: tuple[int, dict[str, str], str]) -> tuple[int, dict[str, str], str]:
    return _status(got, 200)


def _status(got: tuple[int, dict[str, str], str], expect: int) -> tuple[int, dict[str, str], str]:
    assert got[0] == expect, got[:2]
    return got


def test_the_schedule_renews_a_certificate_near_its_end(tls_site, pebble_server, monkeypatch):  # noqa: F811
    import datetime

    from django.utils import timezone

    from hosting import renewals
    from hosting.engine.worker import execute

    monkeypatch.setattr("hosting.engine.dispatch.dispatch", lambda task_id, queue: True)
    site, tls_port = tls_site
    assert run_task(site, "https", {"mode": "required"}).state == Task.SUCCEEDED
    first = Certificate.objects.get(site=site)
    assert renewals.run_due_renewals() == []  # good for months
    Certificate.objects.filter(pk=first.pk).update(not_after=timezone.now() + datetime.timedelta(days=5))
    (task_id,) = renewals.run_due_renewals()
    execute(task_id)
    task = Task.objects.get(pk=task_id)
    assert task.state == Task.SUCCEEDED, (task.summary, log_of(task))
    renewed = Certificate.objects.get(site=site)
    assert renewed.path != first.path and renewed.not_after > first.not_after - datetime.timedelta(days=1)
    assert renewed.failures == 0 and renewed.last_ok
    status, _, _ = eventually(lambda: _ok(https_get(tls_port, site.domain, pebble_server.trust())))
    assert status == 200
    site.refresh_from_db()
    assert site.https_mode == Site.HTTPS_REQUIRED


def test_a_migrated_site_keeps_its_https(tls_site, pebble_server, make_platform, hm_dirs):  # noqa: F811
    site, tls_port = tls_site
    assert run_task(site, "https", {"mode": "on"}).state == Task.SUCCEEDED
    target = make_platform(site.platform.server, "p2")
    task = run_task(site, "migrate", {"platform": target.pk})
    assert task.state == Task.SUCCEEDED, (task.summary, log_of(task))
    vhost = (hm_dirs / "data" / "vhosts" / f"{site.domain}.conf").read_text()
    assert "platforms/p2" in vhost and "ssl_certificate " in vhost
    def served_from_p2() -> str:
        # Until the reload's old workers are gone, one may answer from the old platform's vhost.
        body = _ok(https_get(tls_port, site.domain, pebble_server.trust()))[2]
        assert f"Site name: {site.domain}" in body, body
        return body

    eventually(served_from_p2)
