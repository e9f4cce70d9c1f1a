"""`manage.py site https DOMAIN [--mode ...]`: show a site's HTTPS, or queue its https task."""
from __future__ import annotations

import re
from io import StringIO

import pytest
from django.core.management import CommandError, call_command

from hosting.models import Certificate, Task


def run(*args: str) -> str:
    out = StringIO()
    call_command(*args, stdout=out)
    return out.getvalue()


@pytest.fixture
def live(server, acme, tmp_path):
    from hosting.models import Platform, Site

    platform = Platform.objects.create(name="d10", server=server, path=str(tmp_path / "d10"), status="enabled",
                                       drupal_version="10.3.1", verified_at="2026-01-01T00:00Z")
    return Site.objects.create(domain="www.acme.test", platform=platform, client=acme, status="enabled")


def test_it_queues_the_https_task(live):
    out = run("site", "https", live.domain, "--mode", "required", "--hsts")
    task = Task.objects.get(pk=int(re.search(r"task (\d+)", out).group(1)))
    assert (task.kind, task.site_id, task.args) == ("https", live.pk, {"mode": "required", "hsts": True,
                                                                       "renew": False})


def test_it_shows_the_mode_and_the_last_attempt(live):
    Certificate.objects.create(site=live, last_ok=False, last_outcome="The ACME server did not answer.",
                               last_attempt_at="2026-12-07T10:00Z")
    out = run("site", "https", live.domain)
    assert f"{live.domain}: HTTPS off" in out and "failed: The ACME server did not answer." in out


def test_it_refuses_an_unknown_site_or_a_busy_one(live):
    with pytest.raises(CommandError, match="No site"):
        run("site", "https", "nowhere.example.test", "--mode", "on")
    run("site", "https", live.domain, "--mode", "on")
    with pytest.raises(CommandError):
        run("site", "https", live.domain, "--mode", "off")
    assert Task.objects.filter(kind="https").count() == 1


def test_it_uploads_a_certificate_from_files(live, tmp_path, hm_dirs):
    from tests import certs

    made = certs.bundle([live.domain])
    (tmp_path / "chain.pem").write_bytes(made.chain)
    (tmp_path / "key.pem").write_bytes(made.key)
    out = run("site", "https", live.domain, "--certificate", str(tmp_path / "chain.pem"),
              "--key", str(tmp_path / "key.pem"), "--mode", "required")
    task = Task.objects.get(pk=int(re.search(r"task (\d+)", out).group(1)))
    assert task.args["upload"] and task.args["mode"] == "required" and "PRIVATE" not in out


def test_it_refuses_a_key_of_another_certificate(live, tmp_path, hm_dirs):
    from tests import certs

    (tmp_path / "chain.pem").write_bytes(certs.bundle([live.domain]).chain)
    (tmp_path / "key.pem").write_bytes(certs.bundle([live.domain]).key)
    with pytest.raises(CommandError, match="does not belong to the certificate"):
        run("site", "https", live.domain, "--certificate", str(tmp_path / "chain.pem"),
            "--key", str(tmp_path / "key.pem"))
    assert not Task.objects.filter(kind="https").exists()
    with pytest.raises(CommandError, match="not a file"):
        run("site", "https", live.domain, "--certificate", str(tmp_path / "missing.pem"),
            "--key", str(tmp_path / "key.pem"))
