"""Passwords in a browser: a member changes theirs from the account menu and logs in with the
new one; someone who forgot theirs asks for a link on the login page, opens the e-mailed link,
chooses a new password and logs in with it. The e-mail goes through Django's locmem backend (the
test settings), read as tests/e2e/test_invitation_flow.py reads the invitation."""
from __future__ import annotations

import re

import pytest
from django.core import mail
from playwright.sync_api import expect

from tests.conftest import user_in

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]
LINK = re.compile(r"(https?://\S+/password-reset/[^/\s]+/[^/\s]+/)")


def _log_in(page, base: str, username: str, password: str) -> None:
    page.goto(f"{base}/login/")
    page.fill("input[name=username]", username)
    page.fill("input[name=password]", password)
    page.click("button[type=submit]")


def test_a_member_changes_their_password_and_logs_in_with_it(chromium, live_server, acme, django_user_model):
    user_in(django_user_model, "sailor", acme, "member")
    base = live_server.url
    page = chromium.new_context().new_page()
    page.set_default_timeout(20_000)
    _log_in(page, base, "sailor", "sailor-pass-1")
    page.wait_for_url(f"{base}/")
    page.locator("header").get_by_role("link", name="sailor").click()  # the account's pages
    page.get_by_role("navigation", name="Your account").get_by_role("link", name="Password").click()
    page.get_by_label("Old password").fill("sailor-pass-1")
    page.get_by_label("New password", exact=True).fill("tide-table-2718")
    page.get_by_label("New password confirmation").fill("tide-table-2718")
    page.get_by_role("button", name="Change my password").click()
    expect(page.locator("h1")).to_contain_text("Password changed")
    page.get_by_role("button", name="Log out").click()

    _log_in(page, base, "sailor", "sailor-pass-1")
    expect(page.locator("main")).to_contain_text("Please enter a correct username and password")
    _log_in(page, base, "sailor", "tide-table-2718")
    page.wait_for_url(f"{base}/")
    expect(page.locator("header")).to_contain_text("sailor")


def test_someone_resets_a_forgotten_password_by_email(chromium, live_server, acme, django_user_model):
    user_in(django_user_model, "deckhand", acme, "member")
    base = live_server.url
    page = chromium.new_context().new_page()
    page.set_default_timeout(20_000)
    page.goto(f"{base}/login/")
    page.get_by_role("link", name="Forgot your password?").click()
    page.get_by_label("Email").fill("deckhand@acme.test")
    page.get_by_role("button", name="Send me the link").click()
    expect(page.locator("h1")).to_contain_text("Check your e-mail")

    message = next(m for m in reversed(mail.outbox) if m.to == ["deckhand@acme.test"])
    found = LINK.search(message.body).group(1)
    page.goto(base + found[found.index("/password-reset/"):])  # the live server, not BASE_URL
    page.get_by_label("New password", exact=True).fill("anchor-chain-3141")
    page.get_by_label("New password confirmation").fill("anchor-chain-3141")
    page.get_by_role("button", name="Set my password").click()
    expect(page.locator("h1")).to_contain_text("Password set")
    page.get_by_role("link", name="Log in").click()
    page.fill("input[name=username]", "deckhand")
    page.fill("input[name=password]", "anchor-chain-3141")
    page.click("button[type=submit]")
    page.wait_for_url(f"{base}/")
    expect(page.locator("header")).to_contain_text("deckhand")
