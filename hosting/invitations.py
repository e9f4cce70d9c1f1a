"""Joining a client by invitation, for the panel, the API and `manage.py clients invite`.

A manager never adds an existing account: they invite an e-mail address, and the person who
reads that mailbox accepts (logged in with their account, or creating one on the accept page).
The inviter gets the same answer whether or not the address has an account, so an invitation
cannot be used to find out which people or usernames exist."""
from __future__ import annotations

import logging
import secrets
from datetime import timedelta
from typing import Any

from django.conf import settings
from django.contrib.auth import get_user_model
from django.contrib.auth.base_user import BaseUserManager
from django.core.exceptions import ValidationError
from django.core.mail import send_mail
from django.core.validators import validate_email
from django.db import IntegrityError, transaction
from django.urls import reverse
from django.utils import timezone

from hosting import audit
from hosting.actor import Actor, is_operator, name_of
from hosting.models import Client, Invitation, Membership
from hosting.models.invitations import token_digest

VALID_DAYS = 7
_logger = logging.getLogger("hosting.invitations")


class InvitationError(Exception):
    """The invitation cannot be made or used; the message says why (shown as it is)."""


class MailNotSent(InvitationError):
    """The mail server did not take the invitation e-mail; nothing was kept."""


def normalise_email(value: Any) -> str:
    email = BaseUserManager.normalize_email(str(value or "").strip())
    try:
        validate_email(email)
    except ValidationError:
        raise InvitationError("Enter a valid e-mail address.") from None
    return email


def link(token: str) -> str:
    return settings.HARBORMASTER_BASE_URL + reverse("invitation-accept", args=[token])


def _label(by: Actor) -> str:
    return name_of(by)


def _mail(invitation: Invitation, token: str) -> None:
    client = invitation.client
    subject = f"{settings.EMAIL_SUBJECT_PREFIX}Invitation to {client}"
    body = (f"{invitation.invited_by_label} invites you to {client} on Harbormaster, as "
            f"{invitation.get_role_display().lower()}.\n\nTo accept, open this link (valid until "
            f"{timezone.localtime(invitation.expires_at):%Y-%m-%d %H:%M %Z}):\n\n{link(token)}\n\n"
            "With an account, log in and accept; without one, choose a username and password there.\n"
            "If you did not expect this e-mail, ignore it: nothing happens unless the link is opened.\n")
    send_mail(subject.strip(), body, None, [invitation.email])


def invite(client: Client, email: Any, role: str, *, by: Actor, address: str | None = None,
           send: bool = True) -> tuple[Invitation, str]:
    """Invite EMAIL to CLIENT as ROLE; returns the invitation and its link (the token exists
    nowhere else). A pending invitation of the same address to the same client is replaced.
    With SEND, the e-mail goes out through the instance's mail settings (EMAIL_URL); when it
    cannot be sent, nothing is kept and InvitationError says so."""
    email = normalise_email(email)
    if role not in dict(Membership.ROLES):
        raise InvitationError(f"Unknown role {role!r}; one of {', '.join(dict(Membership.ROLES))}.")
    member = client.memberships.filter(user__email__iexact=email).select_related("user").first()
    if member is not None:
        # Only the inviting client's own members are named: that tells a manager nothing about
        # accounts outside their client (whether the address has one elsewhere stays unsaid).
        raise InvitationError(f"{email} is {member.get_role_display().lower()} of {client} already "
                              f"(user {member.user.get_username()}).")
    token = secrets.token_urlsafe(32)
    user: Any = None if is_operator(by) else by
    with transaction.atomic():
        Invitation.objects.filter(client=client, email__iexact=email, accepted_at__isnull=True).delete()
        invitation = Invitation.objects.create(
            client=client, email=email, role=role, token_hash=token_digest(token), invited_by=user,
            invited_by_label=_label(by), expires_at=timezone.now() + timedelta(days=VALID_DAYS))
        audit.record(by, "invitation.sent", client, address=address, after={"email": email, "role": role})
    if send:
        try:
            _mail(invitation, token)
        except Exception as exc:  # noqa: BLE001 - any mail failure: say so, keep nothing
            _logger.warning("could not send the invitation to %s: %s", email, exc)
            invitation.delete()
            raise MailNotSent(f"The invitation e-mail could not be sent ({type(exc).__name__}); "
                                  "nothing was kept. Try again later.") from None
    return invitation, token


def find(token: str) -> Invitation | None:
    """The pending invitation whose link carries TOKEN, or None (unknown, used, revoked, expired)."""
    if not token or len(token) > 100:
        return None
    found = Invitation.objects.select_related("client").filter(token_hash=token_digest(token)).first()
    return found if found is not None and found.pending else None


def accept(invitation: Invitation, user: Any, *, address: str | None = None) -> Membership:
    """USER joins the invitation's client with its role (an existing membership keeps its role);
    the invitation is used up."""
    with transaction.atomic():
        fresh = Invitation.objects.select_for_update().select_related("client").get(pk=invitation.pk)
        if not fresh.pending:
            raise InvitationError("This invitation has been used, revoked or has expired.")
        membership, created = Membership.objects.get_or_create(client=fresh.client, user=user,
                                                               defaults={"role": fresh.role})
        Invitation.objects.filter(pk=fresh.pk).update(accepted_at=timezone.now(), accepted_by=user)
        audit.record(user, "invitation.accepted", fresh.client, address=address,
                     after={"email": fresh.email, "role": membership.role})
        if created:
            audit.record(user, "member.added", fresh.client, address=address,
                         after={"user": user.get_username(), "role": membership.role},
                         detail=f"by invitation from {fresh.invited_by_label}")
    return membership


def accept_as_new(invitation: Invitation, username: str, password: str, *, address: str | None = None):
    """Create the account USERNAME (the invitation's e-mail) and accept with it; returns the user.
    The caller has validated USERNAME and PASSWORD (Django's UserCreationForm)."""
    with transaction.atomic():
        if not Invitation.objects.filter(pk=invitation.pk).exists() or not invitation.pending:
            raise InvitationError("This invitation has been used, revoked or has expired.")
        try:
            with transaction.atomic():
                user = get_user_model().objects.create_user(username, invitation.email, password)
        except IntegrityError:
            raise InvitationError("A user with that username already exists.") from None
        audit.record(user, "user.created", user, client=invitation.client, address=address,
                     detail="by accepting an invitation")
        accept(invitation, user, address=address)
    return user


def revoke(invitation: Invitation, *, by: Actor, address: str | None = None) -> None:
    with transaction.atomic():
        audit.record(by, "invitation.revoked", invitation.client, address=address,
                     before={"email": invitation.email, "role": invitation.role})
        invitation.delete()


def pending(client: Client):
    return client.invitations.filter(accepted_at__isnull=True, expires_at__gt=timezone.now()).order_by("email")
