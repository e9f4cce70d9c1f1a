"""API tokens: per user, named, read or write, optionally expiring; only a hash is stored."""
from __future__ import annotations

import hashlib
import secrets

from django.conf import settings
from django.db import models
from django.utils import timezone

PREFIX_LENGTH = 8


def digest(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


class ApiToken(models.Model):
    READ, WRITE = "read", "write"
    SCOPES = [(READ, "Read only"), (WRITE, "Read and write")]

    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="api_tokens")
    name = models.CharField(max_length=63)
    scope = models.CharField(max_length=8, choices=SCOPES, default=READ)
    # "hm_" + the first characters of the secret: shown in lists and used to find the row; the
    # secret itself is only ever known as its sha256 (a leaked database dump grants nothing).
    prefix = models.CharField(max_length=16, unique=True)
    token_hash = models.CharField(max_length=64)
    expires_at = models.DateTimeField(null=True, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    last_used_at = models.DateTimeField(null=True, blank=True)
    revoked_at = models.DateTimeField(null=True, blank=True)
    # Sliding-window rate limit kept on the row itself (one UPDATE per request, shared by every
    # web process): requests counted in the current and the previous window.
    window_start = models.DateTimeField(null=True, blank=True)
    window_count = models.PositiveIntegerField(default=0)
    previous_count = models.PositiveIntegerField(default=0)

    class Meta:
        ordering = ["-created_at", "-id"]
        constraints = [models.UniqueConstraint(fields=["user", "name"], condition=models.Q(revoked_at=None),
                                               name="apitoken_name_live")]

    def __str__(self) -> str:
        return self.name

    @classmethod
    def issue(cls, user, name: str, scope: str, expires_at=None) -> tuple[ApiToken, str]:
        """A new token and its secret (shown once: it cannot be read back)."""
        while True:
            secret = secrets.token_urlsafe(32)  # 32 random bytes
            prefix = "hm_" + secret[:PREFIX_LENGTH]
            if not cls.objects.filter(prefix=prefix).exists():
                break
        token = cls.objects.create(user=user, name=name, scope=scope, expires_at=expires_at,
                                   prefix=prefix, token_hash=digest(secret))
        return token, f"{prefix}.{secret}"

    @property
    def is_live(self) -> bool:
        return self.revoked_at is None and (self.expires_at is None or self.expires_at > timezone.now())

    @property
    def label(self) -> str:
        """How the audit trail names who acted: "alice via token ci-deploy"."""
        return f"{self.user.get_username()} via token {self.name}"
