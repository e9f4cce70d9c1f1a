"""The Content-Security-Policy in a real browser: the dashboard, a running task's page and the
Django admin load with no violation reported, and what needs JavaScript still works under it
(htmx polls, the live log grows without a reload, the admin's own scripts run)."""
from __future__ import annotations

from typing import Any

import pytest
from playwright.sync_api import expect

from hosting.actions import queue_task
from hosting.csp import HEADER, POLICY
from hosting.models import Site, Task
from tests.e2e.conftest import wait_for

pytestmark = [pytest.mark.browser, pytest.mark.slow, pytest.mark.django_db(transaction=True)]

# Every page reports the violations the browser sees, from before its first script runs.
REPORT_VIOLATIONS = """
document.addEventListener("securitypolicyviolation", function (e) {
  window.hmViolation(location.pathname + ": " + e.violatedDirective + " " + (e.blockedURI || "inline"));
});
"""


def _watch(page: Any) -> tuple[list[str], list[str]]:
    """(violations reported by the pages, console messages and page errors about the policy:
    Chromium logs "Refused to ... because it violates ... Content Security Policy")."""
    violations: list[str] = []
    said: list[str] = []
    page.expose_function("hmViolation", lambda text: violations.append(text))
    page.add_init_script(REPORT_VIOLATIONS)
    page.on("console", lambda m: said.append(m.text) if "Content Security Policy" in m.text
            or "unsafe-eval" in m.text or "evalDisallowed" in m.text else None)
    page.on("pageerror", lambda e: said.append(f"page error: {e}"))
    return violations, said


def test_it_loads_the_panel_and_the_admin_without_a_violation(page, live_server, demo):
    violations, said = _watch(page)
    site = Site.objects.get(pk=demo["site"].pk)
    # The stand-in drush sleeps in `status`: the verify stays running while its page is open.
    (demo["root"] / ".standin").mkdir(exist_ok=True)
    (demo["root"] / ".standin" / "sleep-status").write_text("4")

    answer = page.goto(f"{live_server.url}/")
    assert answer is not None and answer.headers[HEADER.lower()] == POLICY
    assert page.evaluate("htmx.config.includeIndicatorStyles === false && htmx.config.allowEval === false")
    # htmx polls the queue health by itself (every 5 s).
    with page.expect_response(lambda r: "part=health" in r.url, timeout=10_000):
        pass
    expect(page.locator("#health")).to_be_visible()

    task = queue_task(site, "verify")
    page.goto(f"{live_server.url}/tasks/{task.pk}/")
    expect(page.locator("#task-state")).to_contain_text("running", timeout=20_000)
    page.evaluate("window.hmMarker = 'no reload'")
    # The live log grows while the page is open, then the task ends, all without a reload.
    expect(page.locator("#log")).to_contain_text("Check that Drupal bootstraps", timeout=20_000)
    expect(page.locator("#task-state")).to_contain_text("succeeded", timeout=30_000)
    expect(page.locator("#log")).to_contain_text("Done:")
    assert page.evaluate("window.hmMarker") == "no reload"
    assert Task.objects.get(pk=task.pk).state == Task.SUCCEEDED

    # The admin: its pages and its scripts (the change list's "select all" is actions.js).
    page.goto(f"{live_server.url}/admin/")
    expect(page.locator("#site-name")).to_be_visible()
    page.goto(f"{live_server.url}/admin/hosting/site/")
    boxes = page.locator("input.action-select")
    wait_for(lambda: boxes.count() >= 2, 10, "the sites in the admin's list")
    page.locator("#action-toggle").check()
    expect(boxes.first).to_be_checked()
    expect(page.locator(".action-counter")).to_contain_text(f"{boxes.count()} of {boxes.count()} selected")
    page.goto(f"{live_server.url}/admin/hosting/site/{site.pk}/change/")
    expect(page.locator("input[name=domain]")).to_have_value(site.domain)
    assert violations == [] and said == []
