"""The Content-Security-Policy (hosting.csp): sent on every kind of response, and nothing the
panel serves needs more than it allows. tests/e2e/test_csp.py loads the pages in Chromium and
counts the violations it reports."""
from __future__ import annotations

import re
from pathlib import Path

import pytest
from django.conf import settings as django_settings
from django.test import Client
from django.utils import timezone

from hosting.csp import HEADER, POLICY
from hosting.models import Platform, Site, Task, TaskLog

pytestmark = pytest.mark.django_db

TEMPLATES = Path(django_settings.BASE_DIR) / "templates"
# What the policy forbids: inline <style> and style="" (style-src 'self'), inline <script> and
# on*="" handlers (script-src 'self'), and code htmx would compile with eval (hx-on, js: values,
# event filters in hx-trigger), which allowEval=false turns off anyway.
FORBIDDEN = {
    "style attribute": re.compile(r"\sstyle\s*=", re.I),
    "<style> element": re.compile(r"<style[\s>]", re.I),
    "inline <script>": re.compile(r"<script(?![^>]*\ssrc=)[^>]*>", re.I),
    "event handler attribute": re.compile(r"\son[a-z]+\s*=\s*[\"']", re.I),
    "javascript: URL": re.compile(r"javascript:", re.I),
    "hx-on": re.compile(r"\shx-on", re.I),
    "js: value": re.compile(r"hx-(?:vals|headers)\s*=\s*[\"']\s*js:", re.I),
    # An event name and its [filter] at the start of a trigger (from:input[name=q] is a selector).
    "htmx event filter": re.compile(r"hx-trigger\s*=\s*\"(?:[^\"]*,)?\s*[\w.:-]+\[", re.I),
}


def _offences(text: str) -> list[str]:
    return [name for name, pattern in FORBIDDEN.items() if pattern.search(text)]


@pytest.fixture
def world(server, admin_user, tmp_path):
    platform = Platform.objects.create(name="d10", server=server, path=str(tmp_path), status="enabled",
                                       verified_at=timezone.now())
    site = Site.objects.create(domain="www.acme.test", platform=platform, status="enabled")
    task = Task.objects.create(kind="backup", target_type="site", site=site, platform=platform, server=server,
                               state="running", started_at=timezone.now(), heartbeat_at=timezone.now(),
                               owner_host="web1", owner_pid=4242)
    TaskLog.objects.create(task=task, position=0, at=timezone.now(), line="a line")
    return {"site": site, "platform": platform, "task": task}


def test_it_sends_the_policy_on_every_kind_of_response(client: Client, world, admin_user) -> None:
    task, site = world["task"], world["site"]
    anonymous = ["/login/", "/status.json", "/admin/login/", "/", "/no-such-page/"]
    answers = {url: client.get(url) for url in anonymous}
    client.force_login(admin_user)
    for url in ("/", "/sites/", f"/sites/{site.pk}/", "/tasks/", f"/tasks/{task.pk}/",
                f"/tasks/{task.pk}/log/?after=0", "/status/", "/admin/", "/admin/hosting/site/",
                f"/admin/hosting/site/{site.pk}/change/", "/no-such-page/"):
        answers[f"admin {url}"] = client.get(url)
    answers["htmx partial"] = client.get("/?part=health", HTTP_HX_REQUEST="true")
    answers["api"] = client.get("/api/v1/status")
    # Redirects (to the login page), 404s, JSON and htmx partials carry it too.
    assert {answers["/"].status_code, answers["/no-such-page/"].status_code} == {302, 404}
    missing = {name: answer.status_code for name, answer in answers.items() if answer.get(HEADER) != POLICY}
    assert missing == {}


def test_it_allows_only_this_origin_and_nothing_inline() -> None:
    directives = dict(d.strip().split(" ", 1) for d in POLICY.split(";"))
    assert directives["default-src"] == "'self'"
    assert directives["script-src"] == "'self'" and directives["style-src"] == "'self'"
    assert directives["frame-ancestors"] == "'none'" and directives["object-src"] == "'none'"
    assert "unsafe" not in POLICY and "*" not in POLICY and "http" not in POLICY


def test_it_finds_nothing_inline_in_the_templates() -> None:
    found = {str(path.relative_to(TEMPLATES)): bad for path in sorted(TEMPLATES.rglob("*.html"))
             if (bad := _offences(path.read_text()))}
    assert found == {}
    assert len(list(TEMPLATES.rglob("*.html"))) > 20


def test_it_catches_what_it_looks_for() -> None:
    """The scan is not blind: each pattern finds its own kind of offence."""
    samples = ['<p style="x">', "<style>p{}</style>", "<script>go()</script>", '<a onclick="go()">',
               '<a href="javascript:go()">', '<b hx-on:click="go()">', "<b hx-vals='js:{a: 1}'>",
               '<b hx-trigger="keyup[key==\'Enter\']">']
    assert [_offences(s) for s in samples] == [[name] for name in FORBIDDEN]
    assert _offences('<script src="/static/js/app.js" defer></script><b hx-trigger="every 1s">') == []
    assert _offences('<form hx-trigger="input changed from:input[name=q], submit">') == []
    assert _offences('<b hx-trigger="every 1s, keyup[key==\'Enter\'] from:body">') == ["htmx event filter"]


def test_it_renders_pages_with_nothing_inline(client: Client, world, admin_user) -> None:
    """What the browser receives, tags and filters included (they can write HTML too)."""
    client.force_login(admin_user)
    task, site, platform = world["task"], world["site"], world["platform"]
    pages = ["/", "/sites/", f"/sites/{site.pk}/", f"/platforms/{platform.pk}/", "/servers/", "/tasks/",
             f"/tasks/{task.pk}/", "/locks/", "/clients/", "/audit/", "/status/", "/account/notifications/"]
    found = {}
    for url in pages:
        answer = client.get(url)
        assert answer.status_code == 200, url
        if bad := _offences(answer.content.decode()):
            found[url] = bad
    assert found == {}
    body = client.get(f"/tasks/{task.pk}/").content.decode()
    assert '<meta name="htmx-config" content=\'{"includeIndicatorStyles": false, "allowEval": false}\'>' in body
