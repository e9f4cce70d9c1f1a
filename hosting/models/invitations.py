"""Invitations: how a person joins a client. A client's manager (or an administrator) invites
an e-mail address with a role; the link in the e-mail carries a random token of which only the
sha256 is stored; whoever opens it accepts into the client, with their account or a new one."""
from __future__ import annotations

import hashlib

from django.conf import settings
from django.db import models
from django.utils import timezone

from hosting.models.nodes import Client, Membership


def token_digest(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


class Invitation(models.Model):
    client = models.ForeignKey(Client, on_delete=models.CASCADE, related_name="invitations")
    email = models.EmailField()
    role = models.CharField(max_length=16, choices=Membership.ROLES, default=Membership.MEMBER)
    # The link's token is 32 random bytes; a leaked database dump grants nothing.
    token_hash = models.CharField(max_length=64, unique=True)
    invited_by = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, blank=True,
                                   related_name="+")
    invited_by_label = models.CharField(max_length=150, blank=True)  # "cli:root" when no user
    created_at = models.DateTimeField(default=timezone.now)
    expires_at = models.DateTimeField()
    accepted_at = models.DateTimeField(null=True, blank=True)
    accepted_by = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, blank=True,
                                    related_name="+")

    class Meta:
        ordering = ["-created_at", "-id"]
        indexes = [models.Index(fields=["client", "email"], name="invitation_client_email")]

    def __str__(self) -> str:
        return f"{self.email} ({self.role}) to {self.client}"

    @property
    def pending(self) -> bool:
        return self.accepted_at is None and self.expires_at > timezone.now()
