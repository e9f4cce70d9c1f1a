from __future__ import annotations

from django.conf import settings
from django.db import models


class AppendOnly(Exception):
    """An audit event was to be changed or deleted other than by the retention pruner."""


class AuditEvent(models.Model):
    """Who did what to which object, when, and from where. Append-only."""

    at = models.DateTimeField(auto_now_add=True)
    actor = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, blank=True, related_name="+")
    # "alice", "system (reaper)", "alice via token ci-deploy": readable even when the user is gone.
    actor_label = models.CharField(max_length=200)
    action = models.CharField(max_length=64)
    object_type = models.CharField(max_length=32, blank=True)
    object_id = models.CharField(max_length=64, blank=True)
    object_label = models.CharField(max_length=300, blank=True)
    client = models.ForeignKey("hosting.Client", on_delete=models.SET_NULL, null=True, blank=True, related_name="+")
    address = models.GenericIPAddressField(null=True, blank=True)
    before = models.JSONField(null=True, blank=True)
    after = models.JSONField(null=True, blank=True)
    detail = models.CharField(max_length=1000, blank=True)

    class Meta:
        ordering = ["-at", "-id"]
        indexes = [
            models.Index(fields=["-at"], name="audit_at"),
            models.Index(fields=["object_type", "object_id"], name="audit_object"),
            models.Index(fields=["client", "-at"], name="audit_client_at"),
            models.Index(fields=["actor", "-at"], name="audit_actor_at"),
        ]

    def save(self, *args, **kwargs) -> None:
        # The database refuses a changed event too (migration 0007); this says so before asking it.
        if not self._state.adding:
            raise AppendOnly("Audit events are append-only: an event is never changed.")
        super().save(*args, **kwargs)

    def delete(self, *args, **kwargs):
        raise AppendOnly("Audit events are append-only: only the audit retention deletes them.")

    def __str__(self) -> str:
        return f"{self.at:%Y-%m-%d %H:%M:%S} {self.actor_label} {self.action} {self.object_label}"
