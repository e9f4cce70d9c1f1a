"""A site's certificate: what its vhost serves (the files of one version directory under
<data dir>/tls, provision.certificates) and how its last issuance or renewal went."""
from __future__ import annotations

import datetime

from django.db import models
from django.utils import timezone


class Certificate(models.Model):
    site = models.OneToOneField("hosting.Site", on_delete=models.CASCADE, related_name="certificate")
    domains = models.JSONField(default=list, blank=True)
    issuer = models.CharField(max_length=200, blank=True)
    not_before = models.DateTimeField(null=True, blank=True)
    not_after = models.DateTimeField(null=True, blank=True)
    # The version directory the vhost names (provision.certificates.Issued.version); empty: none
    # issued yet (only attempts).
    path = models.CharField(max_length=1024, blank=True)
    last_attempt_at = models.DateTimeField(null=True, blank=True)
    last_ok = models.BooleanField(default=False)
    last_outcome = models.TextField(blank=True)
    failures = models.PositiveIntegerField(default=0, help_text="Failed attempts since the last success.")
    # "acme", or "uploaded" (the user's own pair: the schedule never renews it, it only warns).
    source = models.CharField(max_length=16, default="acme", blank=True)
    # The ACME server said "not before" (429 / rateLimited / Retry-After): no attempt before this.
    retry_not_before = models.DateTimeField(null=True, blank=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        indexes = [models.Index(fields=["not_after"], name="certificate_not_after")]

    def __str__(self) -> str:
        return f"certificate of site {self.site_id}"

    @property
    def uploaded(self) -> bool:
        return self.source == "uploaded"

    @property
    def issued(self) -> bool:
        return bool(self.path and self.not_after)

    def expires_within(self, days: float) -> bool:
        return self.not_after is not None and self.not_after <= timezone.now() + datetime.timedelta(days=days)
