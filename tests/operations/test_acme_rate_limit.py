"""The ACME server's rate limit: a small ACME server on 127.0.0.1 (real HTTP, in a thread) whose
directory and nonces are fine and whose newAccount answers 429 with a rateLimited problem and
Retry-After. (Pebble has no setting that makes it answer rateLimited.) The https task fails
saying when it will be retried; the record keeps that time; the schedule waits for it on top of
its own backoff."""
from __future__ import annotations

import datetime
import json
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from hosting.models import Certificate, Site, Task
from provision.certificates import retry_after
from tests.operations.conftest import run_task


class _Acme(BaseHTTPRequestHandler):
    retry_after = "3600"

    def log_message(self, *args: object) -> None:
        pass

    def _base(self) -> str:
        return f"http://127.0.0.1:{self.server.server_address[1]}"

    def _answer(self, status: int, body: dict | None, headers: dict[str, str]) -> None:
        data = json.dumps(body).encode() if body is not None else b""
        self.send_response(status)
        for name, value in {"Replay-Nonce": "bm9uY2U", "Cache-Control": "no-store", **headers}.items():
            self.send_header(name, value)
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def do_HEAD(self) -> None:  # noqa: N802 - http.server's name
        self._answer(200, None, {})

    def do_GET(self) -> None:  # noqa: N802
        if self.path == "/dir":
            base = self._base()
            self._answer(200, {"newNonce": f"{base}/nonce", "newAccount": f"{base}/account",
                               "newOrder": f"{base}/order", "revokeCert": f"{base}/revoke",
                               "keyChange": f"{base}/key"}, {"Content-Type": "application/json"})
        else:
            self._answer(200, None, {})

    def do_POST(self) -> None:  # noqa: N802
        self.rfile.read(int(self.headers.get("Content-Length") or 0))
        self._answer(429, {"type": "urn:ietf:params:acme:error:rateLimited",
                           "detail": "too many new registrations from this address", "status": 429},
                     {"Content-Type": "application/problem+json", "Retry-After": type(self).retry_after})


@pytest.fixture
def limited_acme(settings) -> Iterator[type[_Acme]]:
    handler = type("Acme", (_Acme,), {})
    server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    settings.HARBORMASTER_ACME_DIRECTORY = f"http://127.0.0.1:{server.server_address[1]}/dir"
    settings.HARBORMASTER_ACME_CA_BUNDLE = ""
    try:
        yield handler
    finally:
        server.shutdown()
        server.server_close()
        thread.join(5)


@pytest.fixture
def https_site(hm_dirs, make_server, make_platform, domains):
    from hosting.inventory import add_site

    server = make_server("sqlite", http="nginx")
    site, install = add_site(domains.new("limited"), make_platform(server))
    Task.objects.filter(pk=install.pk).delete()  # the site stands as installed; its install is not the point
    Site.objects.filter(pk=site.pk).update(status=Site.ENABLED, https_mode=Site.HTTPS_ON)
    site.refresh_from_db()
    return site


@pytest.mark.django_db
def test_a_rate_limited_attempt_is_not_retried_before_the_servers_time(limited_acme, https_site, monkeypatch):
    from hosting import renewals

    site = https_site
    before = datetime.datetime.now(datetime.UTC)
    task = run_task(site, "https", {"mode": "on"})
    assert task.state == Task.FAILED
    assert "rateLimited" in task.summary or "too many new registrations" in task.summary
    assert "retried not before" in task.summary and "tries again from" in task.summary
    cert = Certificate.objects.get(site=site)
    assert cert.failures == 1 and not cert.last_ok and cert.retry_not_before is not None
    wait = cert.retry_not_before - before
    assert datetime.timedelta(minutes=59) < wait < datetime.timedelta(minutes=61)
    assert f"{cert.retry_not_before:%Y-%m-%d %H:%M}" in task.summary

    monkeypatch.setattr("hosting.engine.dispatch.dispatch", lambda task_id, queue: True)
    now = datetime.datetime.now(datetime.UTC)
    # The backoff of one failure (1 h) has passed, the server's time has not: nothing queued.
    Certificate.objects.filter(pk=cert.pk).update(last_attempt_at=now - datetime.timedelta(hours=2),
                                                  retry_not_before=now + datetime.timedelta(minutes=30))
    assert renewals.run_due_renewals() == []
    # Both passed: queued.
    Certificate.objects.filter(pk=cert.pk).update(retry_not_before=now - datetime.timedelta(minutes=1))
    assert len(renewals.run_due_renewals()) == 1


@pytest.mark.django_db
def test_a_retry_after_date_is_kept(limited_acme, https_site):
    limited_acme.retry_after = "Wed, 09 Dec 2026 10:00:00 GMT"
    task = run_task(https_site, "https", {"mode": "on"})
    assert task.state == Task.FAILED
    cert = Certificate.objects.get(site=https_site)
    expected = min(datetime.datetime(2026, 12, 9, 10, 0, tzinfo=datetime.UTC),
                   datetime.datetime.now(datetime.UTC) + datetime.timedelta(days=7))
    assert cert.retry_not_before is not None
    assert abs(cert.retry_not_before - max(expected, cert.last_attempt_at)) < datetime.timedelta(seconds=5)
    assert f"{cert.retry_not_before:%Y-%m-%d %H:%M}" in task.summary


def test_retry_after_values():
    now = datetime.datetime(2026, 12, 7, 12, 0, tzinfo=datetime.UTC)
    assert retry_after("120", now) == now + datetime.timedelta(seconds=120)
    assert retry_after("Mon, 07 Dec 2026 13:00:00 GMT", now) == now + datetime.timedelta(hours=1)
    assert retry_after("Mon, 07 Dec 2026 11:00:00 GMT", now) == now  # in the past: now
    assert retry_after("99999999", now) == now + datetime.timedelta(days=7)  # capped
    assert retry_after("soon", now) is None and retry_after(None, now) is None
