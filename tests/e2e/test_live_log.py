"""The live task log as a reader watches it in a real browser: a placeholder until the first
line, then the lines in the order of the log with no blank line between them (each poll used to
leave a newline in the pre-wrapped log), each within about a second of being written; and after
a cancel, neither the Cancel button nor the "Cancel requested" flash outlives the task."""
from __future__ import annotations

import time

import pytest
from playwright.sync_api import expect

from hosting.models import Task, TaskLog
from tests.e2e.conftest import wait_for

pytestmark = [pytest.mark.browser, pytest.mark.slow, pytest.mark.django_db(transaction=True)]

def _texts(page) -> list[str]:
    return page.eval_on_selector_all("#log > div", "divs => divs.map(d => d.lastChild.textContent)")


def test_it_shows_a_running_tasks_log_in_order_without_blank_lines_and_ends_clean_after_a_cancel(
        page, live_server, demo):
    site = demo["site"]
    demo["workers"].stop_all()  # the page opens on a task that has no line yet
    (demo["root"] / ".standin").mkdir(exist_ok=True)
    (demo["root"] / ".standin" / "sleep-status").write_text("60")
    page.goto(f"{live_server.url}/sites/{site.pk}/")
    page.get_by_role("button", name="Verify").click()
    expect(page.locator("#work .notice.ok")).to_contain_text("Verify queued")
    task = Task.objects.get(kind="verify", site=site, state__in=Task.ACTIVE)
    page.goto(f"{live_server.url}/tasks/{task.pk}/")
    expect(page.locator("#log .log-empty")).to_be_visible()
    expect(page.locator("#log .log-empty")).to_contain_text("No log lines yet")

    demo["workers"].start()
    # When each line was first seen in the page (an upper bound: read every 0.1 s).
    seen: dict[str, float] = {}
    give_up = time.monotonic() + 30
    while not any("Check that Drupal bootstraps" in text for text in seen) and time.monotonic() < give_up:
        for text in _texts(page):
            seen.setdefault(text, time.time())
        time.sleep(0.1)
    expect(page.locator("#log")).to_contain_text("Check that Drupal bootstraps", timeout=30_000)
    expect(page.locator("#log .log-empty")).to_be_hidden()  # the placeholder goes with the first line
    time.sleep(3)  # a few polls that bring nothing new: each used to leave a blank line
    page.get_by_role("button", name="Cancel").click()
    expect(page.locator(".messages")).to_contain_text(f"Cancel requested: task #{task.pk}")
    expect(page.locator("#task-state")).to_contain_text("cancelled", timeout=20_000)
    expect(page.get_by_role("button", name="Cancel")).to_have_count(0)
    expect(page.locator(".messages")).not_to_contain_text("Cancel requested")  # the flash went with it
    wait_for(lambda: page.locator("#log-poller").count() == 0, 10, "the poller to stop")

    logged = list(TaskLog.objects.filter(task=task).order_by("position").values_list("line", "at"))
    shown = _texts(page)
    assert shown == [line for line, _ in logged]  # every line, once, in the log's order
    assert shown[0].startswith("Started on ")
    assert any(text.startswith("Cancel requested by admin") for text in shown[1:])
    text = page.locator("#log").inner_text()
    # One text line per log line, and not one blank line (the polls' whitespace is not shown).
    assert "\n\n" not in text and len(text.strip().splitlines()) == len(logged), repr(text)
    # Lines came by polling, each within a second of being written: the worker writes a line
    # at once or within FLUSH_AFTER + LOOK_EVERY (0.3 s), the page polls about every 0.5 s, and
    # this loop looks every 0.1 s. Medians measured with a load average of 6 on 2 cores: 0.2 to
    # 0.8 s (the phase of the poll decides). The slowest line may meet a busy moment.
    delays = [seen[line] - at.timestamp() for line, at in logged if line in seen]
    print("live log delays (s):", sorted(round(d, 2) for d in delays))
    assert delays and max(delays) < 2.0, delays
    assert sorted(delays)[len(delays) // 2] < 1.0, delays
