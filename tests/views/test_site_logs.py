"""The log viewer page, its htmx part and its text download: whoever sees the site reads its
logs, another client's site is 404, lines are escaped, client members see no server path."""
from __future__ import annotations

from pathlib import Path

import pytest
from django.urls import reverse

from hosting.operations import resources

HOSTILE = '198.51.100.7 - - [07/Dec/2026:10:00:00 +0000] "GET /<script>alert(1)</script> HTTP/1.1" 404 9 "-" "x"'
OK = '198.51.100.7 - - [07/Dec/2026:10:00:01 +0000] "GET /node/1 HTTP/1.1" 200 9 "-" "x\x1b[31m"'


@pytest.fixture
def logged(site, hm_dirs, tmp_path):
    server = site.platform.server
    server.http, server.web_conf_dir = "nginx", str(tmp_path / "vhosts")
    server.save()
    docroot = Path(site.platform.path)
    docroot.mkdir(parents=True, exist_ok=True)
    site.platform.docroot = str(docroot)
    site.platform.save()
    access, error = resources.web_config(server).site_logs(site.domain)
    access.parent.mkdir(parents=True)
    access.write_text(HOSTILE + "\n" + OK + "\n")
    error.write_text("2026/12/07 10:00:00 [error] 12#12: *1 open() failed <b>bold</b>\n")
    return access


def test_the_viewer_shows_escaped_lines_and_filters(as_admin, site, logged):
    url = reverse("site-logs", args=[site.pk])
    body = as_admin.get(url).content.decode()
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in body and "<script>alert" not in body
    assert "/node/1" in body and "\x1b" not in body
    assert str(logged) in body  # an administrator sees where the file is
    only_404 = as_admin.get(url, {"status": "404"}).content.decode()
    assert "&lt;script&gt;" in only_404 and "/node/1" not in only_404
    assert "/node/1" in as_admin.get(url, {"status": "2xx"}).content.decode()
    assert "&lt;b&gt;bold&lt;/b&gt;" in as_admin.get(url, {"log": "error"}).content.decode()
    part = as_admin.get(url, {"part": "lines", "grep": "node"}, HTTP_HX_REQUEST="true").content.decode()
    assert part.lstrip().startswith('<div id="lines"') and "/node/1" in part and "<h1>" not in part
    bad = as_admin.get(url, {"status": "abc"}).content.decode()
    assert "The status filter is a code" in bad


def test_a_member_reads_the_lines_without_paths(as_member, site, logged):
    body = as_member.get(reverse("site-logs", args=[site.pk])).content.decode()
    assert "/node/1" in body and str(logged.parent) not in body
    text = as_member.get(reverse("site-logs", args=[site.pk]), {"format": "text"})
    assert text["Content-Type"].startswith("text/plain") and "attachment" in text["Content-Disposition"]
    content = text.content.decode()
    assert "/node/1" in content and "\x1b" not in content


def test_another_clients_site_logs_are_not_found(as_outsider, site, logged):
    assert as_outsider.get(reverse("site-logs", args=[site.pk])).status_code == 404
    assert as_outsider.get(reverse("site-logs", args=[site.pk]), {"format": "text"}).status_code == 404


def test_the_api_gives_the_lines_and_the_path_to_administrators_only(admin_user, member, outsider, site, logged):
    from tests.tenancy.conftest import api_client as api_as

    as_admin, as_member = api_as(admin_user), api_as(member)
    url = f"/api/v1/sites/{site.pk}/logs"
    body = as_member.get(url, {"status": "404"}).json()
    assert body["kind"] == "access" and len(body["lines"]) == 1 and "<script>" in body["lines"][0]
    assert body.get("path") is None
    assert as_admin.get(url, {"log": "error"}).json()["path"] == str(logged.parent / "www.acme.test.error.log")
    assert as_member.get(url, {"lines": "5000"}).status_code == 400
    assert api_as(outsider).get(url).status_code == 404


def test_the_command_prints_the_end_of_the_log(site, logged):
    from io import StringIO

    from django.core.management import call_command
    from django.core.management.base import CommandError

    out = StringIO()
    call_command("site", "logs", site.domain, "--lines", "1", stdout=out)
    assert out.getvalue().strip().endswith('"x\ufffd[31m"') and "/node/1" in out.getvalue()
    out = StringIO()
    call_command("site", "logs", site.domain, "--error", "--grep", "BOLD", stdout=out)
    assert "open() failed" in out.getvalue()
    with pytest.raises(CommandError, match="status filter"):
        call_command("site", "logs", site.domain, "--status", "4")


def test_a_log_that_cannot_be_read_here_says_why_and_is_not_polled(as_member, site, settings):
    body = as_member.get(reverse("site-logs", args=[site.pk])).content.decode()
    assert "no web server" in body and 'hx-trigger="every 2s"' not in body
    server = site.platform.server
    server.http, server.queue = "nginx", "elsewhere"
    server.save()
    body = as_member.get(reverse("site-logs", args=[site.pk])).content.decode()
    assert "the panel reads the logs of its own host only" in body
