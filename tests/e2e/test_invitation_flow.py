"""Inviting someone end to end in a browser: a manager invites two addresses from the client's
page; the e-mails' links are opened in fresh browsers: a new person creates an account there, an
existing user logs in and accepts. Nobody is a member before accepting."""
from __future__ import annotations

import re

import pytest
from django.core import mail
from playwright.sync_api import expect

from hosting.models import Membership
from tests.conftest import user_in

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]
LINK = re.compile(r"(https?://\S+/invitations/[A-Za-z0-9_-]+/)")


def _log_in(page, base: str, username: str, password: str) -> None:
    page.goto(f"{base}/login/")
    page.fill("input[name=username]", username)
    page.fill("input[name=password]", password)
    page.click("button[type=submit]")


def _link(address: str, base: str) -> str:
    message = next(m for m in reversed(mail.outbox) if m.to == [address])
    found = LINK.search(message.body).group(1)
    return base + found[found.index("/invitations/"):]  # the live server's address, not BASE_URL


def test_a_manager_invites_and_people_join_by_accepting(chromium, live_server, acme, django_user_model, settings):
    user_in(django_user_model, "boss", acme, "manager")
    known = django_user_model.objects.create_user("known", "known@example.test", "known-pass-1")
    base = live_server.url
    manager = chromium.new_context().new_page()
    manager.set_default_timeout(20_000)
    _log_in(manager, base, "boss", "boss-pass-1")
    manager.goto(f"{base}/clients/{acme.pk}/")
    for address, role in (("newbie@example.test", "Client member"), ("known@example.test", "Viewer")):
        manager.get_by_label("E-mail address").fill(address)
        manager.get_by_label("Role").select_option(label=role)
        manager.get_by_role("button", name="Send the invitation").click()
        expect(manager.locator(".messages")).to_contain_text(f"Invitation sent to {address}")
    expect(manager.locator("main")).to_contain_text("Invitations not accepted yet")
    assert not Membership.objects.filter(client=acme, user=known).exists()

    newbie = chromium.new_context().new_page()
    newbie.set_default_timeout(20_000)
    newbie.goto(_link("newbie@example.test", base))
    expect(newbie.locator("h1")).to_contain_text("Join Acme Corp")
    newbie.get_by_label("Username").fill("newbie")
    newbie.get_by_label("Password", exact=True).fill("sea-shanty-42-harbour")
    newbie.get_by_label("Password confirmation").fill("sea-shanty-42-harbour")
    newbie.get_by_role("button", name="Create my account and join").click()
    expect(newbie.locator(".messages")).to_contain_text("Welcome, newbie")
    expect(newbie.locator("h1")).to_contain_text("Acme Corp")
    assert Membership.objects.get(client=acme, user__username="newbie").role == "member"

    other = chromium.new_context().new_page()
    other.set_default_timeout(20_000)
    other.goto(_link("known@example.test", base))
    other.get_by_role("link", name="Log in to accept").click()
    other.fill("input[name=username]", "known")
    other.fill("input[name=password]", "known-pass-1")
    other.click("button[type=submit]")
    other.get_by_role("button", name="Accept as known").click()
    expect(other.locator(".messages")).to_contain_text("You are viewer of Acme Corp now")
    assert Membership.objects.get(client=acme, user=known).role == "viewer"

    manager.reload()
    expect(manager.locator("main")).not_to_contain_text("Invitations not accepted yet")
    expect(manager.locator("main table").first).to_contain_text("newbie")
