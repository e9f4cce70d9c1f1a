"""The site's own certificate (hosting.certupload, provision.uploaded): checked before anything
is written, applied by the https task against the test's real nginx, served over TLS to a
client that trusts the test's root; hostile uploads are refused with their reason and leave no
file behind; the renewal schedule never renews an uploaded certificate."""
from __future__ import annotations

import datetime
import stat
from pathlib import Path

import pytest

from hosting.certupload import UploadRefused, start_upload
from hosting.management.taskcli import actor
from hosting.models import Certificate, Site, Task
from tests import certs
from tests.operations.conftest import log_of, run_task
from tests.operations.test_nginx_site import fetch, web_stack  # noqa: F401 - the fixture
from tests.operations.test_site_https import _ok, _status, eventually, http_get, https_get
from tests.pebble import free_port


@pytest.fixture
def plain_site(web_stack, make_server, make_platform, domains):  # noqa: F811
    from hosting.engine.worker import execute
    from hosting.inventory import add_site

    http_port, tls_port = free_port(), free_port()
    server = make_server("sqlite", http="nginx", web_listen=f"127.0.0.1:{http_port}",
                         web_tls_listen=f"127.0.0.1:{tls_port}",
                         php_fastcgi=f"unix:{web_stack['socket']}", web_main_config=str(web_stack["conf"]),
                         web_prefix=str(web_stack["prefix"]))
    platform = make_platform(server)
    domain = domains.new("own")
    site, task = add_site(domain, platform, aliases=[f"www.{domain}"])
    execute(task.pk)
    task.refresh_from_db()
    assert task.state == Task.SUCCEEDED, (task.summary, log_of(task))
    site.refresh_from_db()
    assert fetch(http_port, site.domain, 200)[0] == 200
    return site, http_port, tls_port


def _files(base: Path) -> list[Path]:
    return sorted(p for p in base.rglob("*") if p.is_file()) if base.exists() else []


def test_an_uploaded_certificate_is_served_and_never_renewed(plain_site, hm_dirs, tmp_path, monkeypatch):
    from hosting import renewals

    site, http_port, tls_port = plain_site
    made = certs.bundle([site.domain, f"*.{site.domain}"])
    task = start_upload(actor(), site, made.chain, made.key, mode=Site.HTTPS_REQUIRED, hsts=True)
    assert "PRIVATE KEY" not in str(task.args) and "CERTIFICATE" not in str(task.args)
    from hosting.engine.worker import execute

    execute(task.pk)
    task.refresh_from_db()
    assert task.state == Task.SUCCEEDED, (task.summary, log_of(task))
    cert = Certificate.objects.get(site=site)
    assert cert.source == "uploaded" and cert.uploaded and cert.issuer == "Test Intermediate CA"
    assert cert.not_after == made.leaf.not_valid_after_utc
    version = Path(cert.path)
    assert version.is_relative_to(hm_dirs / "data" / "tls" / "sites" / site.domain)
    assert stat.S_IMODE((version / "privkey.pem").stat().st_mode) == 0o600
    assert stat.S_IMODE(version.stat().st_mode) == 0o700
    assert "PRIVATE KEY" not in log_of(task)
    assert not any((hm_dirs / "data" / "tls" / "uploads").iterdir())  # staged pair moved, none left
    site.refresh_from_db()
    assert (site.https_mode, site.https_hsts) == (Site.HTTPS_REQUIRED, True)

    root = tmp_path / "root.pem"
    root.write_bytes(made.root)
    status, headers, body = eventually(lambda: _ok(https_get(tls_port, site.domain, root)))
    assert f"Site name: {site.domain}" in body and "strict-transport-security" in headers
    assert eventually(lambda: _ok(https_get(tls_port, f"www.{site.domain}", root)))[0] == 200
    # HTTP redirects; an old nginx worker may answer with the previous vhost just after the reload.
    assert eventually(lambda: _status(http_get(http_port, site.domain, "/"), 301))[0] == 301

    # A later https task with the same mode keeps the uploaded certificate (no ACME call).
    again = run_task(site, "https", {"mode": "on"})
    assert again.state == Task.SUCCEEDED, (again.summary, log_of(again))
    assert "uploaded certificate" in log_of(again) and Certificate.objects.get(site=site).path == cert.path

    # Near its end: listed and alarmed about, never renewed by the schedule.
    monkeypatch.setattr("hosting.engine.dispatch.dispatch", lambda task_id, queue: True)
    Certificate.objects.filter(pk=cert.pk).update(not_after=datetime.datetime.now(datetime.UTC)
                                                  + datetime.timedelta(days=3))
    assert renewals.run_due_renewals() == []
    assert [c.site_id for c in renewals.expiring(renewals.ALARM_DAYS)] == [site.pk]
    from hosting import health

    check = health.certificates()
    assert not check.ok and "upload a new one" in check.detail


HOSTILE = {
    "key of another certificate": "does not belong to the certificate",
    "chain out of order": "not in order",
    "self-signed leaf with another root": "not in order",
    "another domain": "does not cover",
    "expired": "expired on",
    "not yet valid": "not valid before",
    "garbage": "not PEM",
    "garbage inside PEM": "not valid PEM",
    "5 MB": "too large",
    "passphrase": "passphrase",
}


def _hostile(case: str, domain: str) -> tuple[bytes, bytes]:
    good = certs.bundle([domain])
    now = datetime.datetime.now(datetime.UTC)
    if case == "key of another certificate":
        return good.chain, certs.bundle([domain]).key
    if case == "chain out of order":
        root = certs.authority()
        inter = certs.authority("Test Intermediate CA", root)
        leaf, key = certs.leaf(inter, [domain])
        return certs.pem(inter.cert, leaf), certs.key_pem(key)  # issuer first
    if case == "self-signed leaf with another root":
        own = certs.authority(domain)
        return certs.pem(own.cert, certs.authority("Another Root").cert), certs.key_pem(own.key)
    if case == "another domain":
        other = certs.bundle(["elsewhere.example.test", "*.example.org"])
        return other.chain, other.key
    if case == "expired":
        old = certs.bundle([domain], not_before=now - datetime.timedelta(days=100),
                           not_after=now - datetime.timedelta(days=1))
        return old.chain, old.key
    if case == "not yet valid":
        early = certs.bundle([domain], not_before=now + datetime.timedelta(days=2),
                             not_after=now + datetime.timedelta(days=90))
        return early.chain, early.key
    if case == "garbage":
        return b"this is not a certificate\x00\xff", b"nor a key"
    if case == "garbage inside PEM":
        return b"-----BEGIN CERTIFICATE-----\nAAAA!!!!\n-----END CERTIFICATE-----\n", good.key
    if case == "5 MB":
        return good.chain + b"A" * (5 * 1024 * 1024), good.key
    if case == "passphrase":
        from cryptography.hazmat.primitives import serialization

        key = serialization.load_pem_private_key(good.key, password=None)
        return good.chain, certs.key_pem(key, passphrase=b"secret")
    raise AssertionError(case)


@pytest.mark.django_db
@pytest.mark.parametrize("case", sorted(HOSTILE))
def test_a_hostile_upload_is_refused_and_nothing_is_written(case, hm_dirs, make_server, make_platform, domains):
    from hosting.inventory import add_site

    server = make_server("sqlite", http="nginx")
    site, _ = add_site(domains.new("hostile"), make_platform(server))
    Site.objects.filter(pk=site.pk).update(status=Site.ENABLED)
    site.refresh_from_db()
    chain, key = _hostile(case, site.domain)
    tasks = Task.objects.count()
    with pytest.raises(UploadRefused) as refused:
        start_upload(actor(), site, chain, key)
    assert HOSTILE[case] in str(refused.value)
    assert "PRIVATE KEY" not in str(refused.value)
    assert Task.objects.count() == tasks
    assert _files(hm_dirs / "data" / "tls") == []
    assert not Certificate.objects.filter(site=site).exists()


def test_rfc6125_wildcards():
    from provision.uploaded import names_match

    assert names_match("*.example.com", "www.example.com")
    assert not names_match("*.example.com", "example.com")
    assert not names_match("*.example.com", "a.b.example.com")
    assert not names_match("*.com", "example.com")
    assert not names_match("w*.example.com", "www.example.com")
    assert not names_match("www.*.com", "www.example.com")
    assert names_match("Example.COM", "example.com")


def test_staged_uploads_no_task_took_are_tidied_after_a_day(tmp_path):
    import os
    import time

    from provision import uploaded

    made = certs.bundle(["tidy.example.test"])
    checked = uploaded.check_upload(made.chain, made.key, ["tidy.example.test"])
    old, new = uploaded.stage(tmp_path, checked, 7), uploaded.stage(tmp_path, checked, 7)
    stale = uploaded.staged_dir(tmp_path, old)
    os.utime(stale, (time.time() - 90000, time.time() - 90000))
    assert uploaded.tidy(tmp_path) == 1
    assert not stale.exists() and uploaded.staged_dir(tmp_path, new).is_dir()
