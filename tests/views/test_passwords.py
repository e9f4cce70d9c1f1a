"""Passwords: a logged-in user changes theirs; anyone asks for a reset link by e-mail, gets the
same answer whether or not the address has an account, and is throttled like the login."""
from __future__ import annotations

import re

from django.core import mail
from django.test import Client as HttpClient
from django.urls import reverse

from hosting.models import AuditEvent

LINK = re.compile(r"https?://\S+/password-reset/[^/\s]+/[^/\s]+/")


def test_it_changes_the_password_of_the_logged_in_user(as_member, member):
    response = as_member.post(reverse("password-change"), {
        "old_password": "member-pass-1", "new_password1": "quay-lantern-77", "new_password2": "quay-lantern-77"})
    assert response.status_code == 302 and response.url == reverse("password-change-done")
    member.refresh_from_db()
    assert member.check_password("quay-lantern-77")
    assert as_member.get(reverse("dashboard")).status_code == 200  # this session stays logged in
    assert AuditEvent.objects.filter(action="user.password-changed", actor=member).exists()


def test_it_refuses_a_change_with_the_wrong_old_password(as_member, member):
    response = as_member.post(reverse("password-change"), {
        "old_password": "wrong", "new_password1": "quay-lantern-77", "new_password2": "quay-lantern-77"})
    assert response.status_code == 200 and "old_password" in response.context["form"].errors
    member.refresh_from_db()
    assert member.check_password("member-pass-1")


def test_the_account_pages_link_the_password_page(as_member):
    # The header's user name leads to the account's pages, which link each other.
    assert reverse("token-list").encode() in as_member.get(reverse("dashboard")).content
    for name in ("token-list", "notification-preferences", "password-change"):
        page = as_member.get(reverse(name)).content
        assert reverse("password-change").encode() in page and reverse("notification-preferences").encode() in page


def test_the_login_page_links_the_reset(client, db):
    assert reverse("password-reset").encode() in client.get(reverse("login")).content


def test_it_mails_a_reset_link_that_sets_a_new_password(client, member, settings):
    settings.HARBORMASTER_BASE_URL = "https://panel.example.test"
    response = client.post(reverse("password-reset"), {"email": "member@acme.test"})
    assert response.status_code == 302 and response.url == reverse("password-reset-done")
    (message,) = mail.outbox
    assert message.to == ["member@acme.test"] and "member" in message.subject
    link = LINK.search(message.body).group(0)
    assert link.startswith("https://panel.example.test/")  # never the request's Host
    path = link[len("https://panel.example.test"):]
    form_page = client.get(path, follow=True)
    assert form_page.context["validlink"]
    done = client.post(form_page.redirect_chain[-1][0],
                       {"new_password1": "harbour-light-93", "new_password2": "harbour-light-93"})
    assert done.status_code == 302 and done.url == reverse("password-reset-complete")
    member.refresh_from_db()
    assert member.check_password("harbour-light-93")
    assert AuditEvent.objects.filter(action="user.password-reset", actor=member).exists()
    # The link works once.
    assert not client.get(path, follow=True).context["validlink"]


def test_it_answers_the_same_for_an_unknown_address(client, member):
    known = client.post(reverse("password-reset"), {"email": "member@acme.test"})
    unknown = client.post(reverse("password-reset"), {"email": "nobody@acme.test"})
    assert (known.status_code, known.url) == (unknown.status_code, unknown.url)
    assert [m.to for m in mail.outbox] == [["member@acme.test"]]


def test_it_throttles_reset_requests_per_address(client, member, settings):
    settings.HARBORMASTER_LOGIN_ATTEMPTS = 2
    for _ in range(2):
        assert client.post(reverse("password-reset"), {"email": "member@acme.test"}).status_code == 302
    refused = client.post(reverse("password-reset"), {"email": "Member@ACME.test"})
    assert refused.status_code == 429 and b"Too many reset requests" in refused.content
    assert len(mail.outbox) == 2
    # Another client address is not held back by this one's requests.
    other = HttpClient(REMOTE_ADDR="198.51.100.7")
    assert other.post(reverse("password-reset"), {"email": "member@acme.test"}).status_code == 302
    # An unknown address is throttled alike: the 429 reveals nothing either.
    for _ in range(2):
        client.post(reverse("password-reset"), {"email": "ghost@acme.test"})
    assert client.post(reverse("password-reset"), {"email": "ghost@acme.test"}).status_code == 429


def test_a_bad_reset_link_says_it_does_not_work(client, db):
    response = client.get(reverse("password-reset-confirm", args=["MQ", "not-a-token"]))
    assert response.status_code == 200 and not response.context["validlink"]
    assert b"This link does not work" in response.content
