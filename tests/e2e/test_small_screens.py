"""The panel on a phone (390 x 844, touch): the menu folds into one line of header and opens on a
tap with no JavaScript needed, and the list pages stack their rows instead of scrolling sideways."""
from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from playwright.sync_api import expect

from tests.e2e.conftest import ADMIN_PASSWORD
from tests.e2e.screenshots import log_in

pytestmark = [pytest.mark.browser, pytest.mark.slow, pytest.mark.django_db(transaction=True)]

WIDTH, HEIGHT = 390, 844
# Any table of the page wider than its box (it would scroll by itself), and the page's own width.
OVERFLOW = """() => ({page: document.documentElement.scrollWidth,
  tables: [...document.querySelectorAll('main table')].filter(t => t.scrollWidth > t.clientWidth + 1).length})"""


@pytest.fixture
def phone(chromium, live_server, admin_user) -> Iterator[Any]:
    context = chromium.new_context(viewport={"width": WIDTH, "height": HEIGHT}, is_mobile=True, has_touch=True)
    page = context.new_page()
    page.set_default_timeout(20_000)
    log_in(page, live_server.url, admin_user.username, ADMIN_PASSWORD)
    try:
        yield page
    finally:
        context.close()


def _header_height(page: Any) -> float:
    return float(page.evaluate("document.querySelector('header.top').getBoundingClientRect().height"))


def test_the_menu_folds_and_opens_on_a_tap(phone, live_server, demo):
    nav = phone.get_by_role("navigation", name="Main")
    for path in ("/", "/sites/", "/tasks/"):
        phone.goto(live_server.url + path)
        assert _header_height(phone) < 120, (path, _header_height(phone))
        expect(nav).to_be_hidden()
    phone.locator(".menu-button").tap()
    expect(nav.get_by_role("link", name="Platforms")).to_be_visible()
    assert _header_height(phone) > 120
    nav.get_by_role("link", name="Platforms").tap()
    phone.wait_for_url(f"{live_server.url}/platforms/")
    expect(nav).to_be_hidden()


def test_the_lists_stack_their_rows_without_scrolling_sideways(phone, live_server, demo):
    for path in ("/sites/", "/tasks/", "/platforms/", "/servers/", "/clients/", "/audit/", "/locks/", "/backups/"):
        phone.goto(live_server.url + path)
        assert phone.evaluate(OVERFLOW) == {"page": WIDTH, "tables": 0}, path
    # A site's row is a card: its domain as title, then each value under its column's name.
    phone.goto(f"{live_server.url}/sites/")
    row = phone.locator("#results tbody tr").filter(has_text="site1.example.test")
    status = row.locator("td[data-label=Status]")
    expect(status).to_be_visible()
    assert phone.evaluate("c => getComputedStyle(c, '::before').content", status.element_handle()) == '"Status"'
    box, title = status.bounding_box(), row.locator("td").first.bounding_box()
    assert box is not None and title is not None and box["y"] > title["y"] + title["height"] - 1


def test_the_desktop_header_and_tables_are_unchanged(page, live_server, demo):
    page.goto(f"{live_server.url}/sites/")
    expect(page.locator(".menu-button")).to_be_hidden()
    expect(page.get_by_role("navigation", name="Main").get_by_role("link", name="Platforms")).to_be_visible()
    assert _header_height(page) < 60
    assert page.evaluate("getComputedStyle(document.querySelector('#results table')).display") == "table"
