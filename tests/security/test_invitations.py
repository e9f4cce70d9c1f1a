"""People join a client only by accepting an invitation sent to their e-mail address: a manager
can neither add an existing account (an administrator's, say) nor find out which addresses or
usernames exist. Panel, API and `manage.py clients invite`."""
from __future__ import annotations

import re
from datetime import timedelta
from io import StringIO

import pytest
from django.core import mail
from django.core.management import CommandError, call_command
from django.test import Client as HttpClient
from django.urls import reverse
from django.utils import timezone

from hosting.models import AuditEvent, Invitation, Membership
from tests.security.interfaces_cast import *  # noqa: F401,F403
from tests.tenancy.conftest import api_client

LINK = re.compile(r"https?://\S+/invitations/([A-Za-z0-9_-]+)/")


def _browser(user=None) -> HttpClient:
    browser = HttpClient()
    if user is not None:
        browser.force_login(user)
    return browser


def _invite(browser: HttpClient, client, email: str, role: str = "member"):
    return browser.post(reverse("client-invite", args=[client.pk]), {"email": email, "role": role}, follow=True)


def _token(message) -> str:
    return LINK.search(message.body).group(1)


def test_a_manager_cannot_add_an_existing_account_to_the_client(manager, admin_user, acme):
    browser = _browser(manager)
    # The old way: name an account and it was in. Gone; and an invitation adds nobody by itself.
    browser.post(f"/clients/{acme.pk}/members/add/", {"username": admin_user.username, "role": "manager"})
    _invite(browser, acme, admin_user.email, "manager")
    assert not Membership.objects.filter(user=admin_user).exists()
    assert "Add a member" not in browser.get(reverse("client-detail", args=[acme.pk])).content.decode()


def _seen_by_the_inviter(browser, client, email) -> tuple:
    response = _invite(browser, client, email)
    page = response.content.decode().replace(email, "ADDRESS")
    notice = re.search(r'<ul class="messages".*?</ul>', page, re.S).group(0)
    event = AuditEvent.objects.filter(action="invitation.sent").order_by("-id").first()
    message = mail.outbox[-1]
    return (response.status_code, notice, event.after["role"], sorted(event.after),
            message.subject, LINK.sub("LINK", message.body.replace(email, "ADDRESS")), message.to == [email])


def test_the_inviter_learns_nothing_about_whether_an_address_has_an_account(manager, admin_user, acme):
    browser = _browser(manager)
    known = _seen_by_the_inviter(browser, acme, admin_user.email)
    unknown = _seen_by_the_inviter(browser, acme, "nobody-here@example.test")
    assert known == unknown
    api = api_client(manager)
    answers = [api.post(f"/api/v1/clients/{acme.pk}/invitations", {"email": e, "role": "viewer"},
                        content_type="application/json") for e in (admin_user.email, "nobody@example.test")]
    assert [a.status_code for a in answers] == [202, 202]
    assert [sorted(a.json()) for a in answers] == [["email", "expires_at", "role"]] * 2


def test_the_link_is_the_only_copy_of_the_token(manager, acme):
    _invite(_browser(manager), acme, "new.person@example.test")
    token = _token(mail.outbox[-1])
    invitation = Invitation.objects.get()
    assert len(token) >= 40 and invitation.token_hash != token and len(invitation.token_hash) == 64
    assert not AuditEvent.objects.filter(after__icontains=token).exists()
    assert not AuditEvent.objects.filter(detail__contains=token).exists()


def test_an_existing_user_joins_only_by_accepting_with_the_invited_role(manager, outsider, acme):
    _invite(_browser(manager), acme, outsider.email, "viewer")
    url = reverse("invitation-accept", args=[_token(mail.outbox[-1])])
    browser = _browser(outsider)
    page = browser.get(url)
    assert page.status_code == 200 and "Accept as outsider" in page.content.decode()
    assert not Membership.objects.filter(user=outsider, client=acme).exists()  # looking is not accepting
    assert browser.post(url).status_code == 302
    assert Membership.objects.get(user=outsider, client=acme).role == "viewer"
    # Used up: the same link does nothing more, for anyone.
    assert browser.post(url).status_code == 404
    assert _browser().get(url).status_code == 404
    assert set(AuditEvent.objects.filter(client=acme).values_list("action", flat=True)) >= {
        "invitation.sent", "invitation.accepted", "member.added"}


def test_a_new_person_creates_an_account_on_the_accept_page(manager, acme, django_user_model):
    _invite(_browser(manager), acme, "Fresh.Person@Example.TEST", "member")
    url = reverse("invitation-accept", args=[_token(mail.outbox[-1])])
    browser = _browser()
    page = browser.get(url).content.decode()
    assert "Log in to accept" in page and "Create my account" in page
    taken = browser.post(url, {"username": "manager", "password1": "a-long-pass-phrase-1",
                               "password2": "a-long-pass-phrase-1"})
    assert taken.status_code == 400 and not Membership.objects.filter(client=acme, user__username="fresh").exists()
    weak = browser.post(url, {"username": "fresh", "password1": "123", "password2": "123"})
    assert weak.status_code == 400
    done = browser.post(url, {"username": "fresh", "password1": "a-long-pass-phrase-1",
                              "password2": "a-long-pass-phrase-1"})
    assert done.status_code == 302 and done["Location"] == reverse("client-detail", args=[acme.pk])
    user = django_user_model.objects.get(username="fresh")
    assert user.email == "Fresh.Person@example.test" and user.check_password("a-long-pass-phrase-1")
    assert Membership.objects.get(user=user).role == "member"
    assert browser.get(reverse("client-detail", args=[acme.pk])).status_code == 200  # logged in


def test_expired_revoked_and_made_up_links_are_refused(manager, outsider, acme, globex, admin_user):
    browser = _browser(manager)
    _invite(browser, acme, "late@example.test")
    late = _token(mail.outbox[-1])
    Invitation.objects.filter(email="late@example.test").update(expires_at=timezone.now() - timedelta(seconds=1))
    _invite(browser, acme, "revoked@example.test")
    revoked = _token(mail.outbox[-1])
    invitation = Invitation.objects.get(email="revoked@example.test")
    assert browser.post(reverse("client-invitation-revoke", args=[acme.pk, invitation.pk])).status_code == 302
    for token in (late, revoked, "A" * 43, late[:-1]):
        assert _browser(outsider).post(reverse("invitation-accept", args=[token])).status_code == 404
    assert not Membership.objects.filter(user=outsider, client=acme).exists()
    # Another client's manager can neither see nor revoke acme's invitations.
    _invite(browser, acme, "kept@example.test")
    kept = Invitation.objects.get(email="kept@example.test")
    gm = admin_user.__class__.objects.create_user("gm", "gm@g.test", "gm-pass-1")
    Membership.objects.create(client=globex, user=gm, role="manager")
    gm = _browser(admin_user.__class__.objects.get(username="gm"))
    assert gm.post(reverse("client-invitation-revoke", args=[globex.pk, kept.pk])).status_code == 404
    assert gm.post(reverse("client-invitation-revoke", args=[acme.pk, kept.pk])).status_code == 404
    assert Invitation.objects.filter(pk=kept.pk).exists()


def test_only_managers_and_administrators_invite(member, viewer, acme):
    for user in (member, viewer):
        assert _browser(user).post(reverse("client-invite", args=[acme.pk]),
                                   {"email": "x@example.test", "role": "manager"}).status_code == 403
        assert api_client(user).post(f"/api/v1/clients/{acme.pk}/invitations", {"email": "x@example.test"},
                                     content_type="application/json").status_code == 403
    assert not Invitation.objects.exists() and not mail.outbox


def test_the_api_lists_members_to_whoever_sees_the_client(member, outsider, acme, globex):
    answer = api_client(member).get(f"/api/v1/clients/{acme.pk}/members").json()
    assert [m["user"] for m in answer["items"]] == ["member"]
    assert api_client(outsider).get(f"/api/v1/clients/{acme.pk}/members").status_code == 404


def test_the_command_line_invites_and_prints_the_link(acme, outsider):
    out, err = StringIO(), StringIO()
    call_command("clients", "invite", "acme", outsider.email, "--role", "manager", stdout=out, stderr=err)
    token = LINK.search(out.getvalue()).group(1)
    assert _token(mail.outbox[-1]) == token and "as manager" in err.getvalue()
    assert _browser(outsider).post(reverse("invitation-accept", args=[token])).status_code == 302
    assert Membership.objects.get(user=outsider, client=acme).role == "manager"
    call_command("clients", "invite", "acme", "quiet@example.test", "--no-email", stdout=StringIO(), stderr=StringIO())
    assert len(mail.outbox) == 1
    for args, words in ((["nope", "a@b.test"], "No client"), (["acme", "not-an-address"], "valid e-mail")):
        with pytest.raises(CommandError, match=words):
            call_command("clients", "invite", *args, stdout=StringIO(), stderr=StringIO())


def test_nothing_is_kept_when_the_mail_cannot_be_sent(manager, acme, settings):
    settings.EMAIL_BACKEND = "django.core.mail.backends.smtp.EmailBackend"
    settings.EMAIL_HOST, settings.EMAIL_PORT, settings.EMAIL_TIMEOUT = "127.0.0.1", 9, 2  # nobody listens
    response = _invite(_browser(manager), acme, "someone@example.test")
    assert response.status_code == 400 and "could not be sent" in response.content.decode()
    assert not Invitation.objects.exists()
