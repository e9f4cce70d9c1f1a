"""Invitations of addresses that have an account: the accept page says to log in with it (no
second account with the same address), and inviting a client's own member is refused clearly."""
from __future__ import annotations

import re

from django.core import mail
from django.urls import reverse

from hosting import invitations
from hosting.models import Invitation, Membership


def _token(address: str) -> str:
    message = next(m for m in reversed(mail.outbox) if [t.lower() for t in m.to] == [address.lower()])
    return re.search(r"/invitations/([\w-]+)/", message.body).group(1)


def test_the_accept_page_asks_an_existing_account_to_log_in(client, manager, outsider, acme, django_user_model):
    as_manager = client.__class__()
    as_manager.force_login(manager)
    assert as_manager.post(reverse("client-invite", args=[acme.pk]),
                           {"email": outsider.email.upper(), "role": "member"}).status_code == 302
    url = reverse("invitation-accept", args=[_token(outsider.email.upper())])
    page = client.get(url)
    assert page.status_code == 200
    text = page.content.decode()
    assert "exists already: log in with it to accept" in text and "Create my account" not in text
    # Posting the new-account form anyway creates nothing.
    refused = client.post(url, {"username": "second", "password1": "harbour-94-x", "password2": "harbour-94-x"})
    assert refused.status_code == 400
    assert not django_user_model.objects.filter(username="second").exists()
    # Logged in with the account, it is accepted as usual.
    client.force_login(outsider)
    assert client.post(url).status_code == 302
    assert Membership.objects.get(client=acme, user=outsider).role == "member"


def test_a_new_address_still_gets_the_new_account_form(client, manager, acme):
    invitations.invite(acme, "fresh@example.test", "member", by=manager)
    page = client.get(reverse("invitation-accept", args=[_token("fresh@example.test")]))
    assert "Create my account and join" in page.content.decode()


def test_inviting_a_member_of_the_client_says_so(client, manager, member, acme):
    client.force_login(manager)
    response = client.post(reverse("client-invite", args=[acme.pk]), {"email": member.email, "role": "manager"})
    assert response.status_code == 400
    assert "is client member of Acme Corp already (user member)" in response.content.decode()
    assert not Invitation.objects.exists() and not mail.outbox
