"""What is known about the health of each site's backup store (hosting.scrub)."""
from __future__ import annotations

from django.db import models


class StoreCheck(models.Model):
    """One site's backup store (`<backups>/<domain>/objects`) as the scrub, `backups verify` and
    the last backup left it: how far the scrub's pass has come, and the damage known in it.

    The store itself (objects/damaged.json) is the truth about damage; this row is what the
    status page and `ping` read, so that they never open 10,000 stores."""

    domain = models.CharField(max_length=253, unique=True)
    # The scrub's pass through the store: where the unfinished one goes on ("" between passes).
    cursor = models.CharField(max_length=300, blank=True)
    pass_started_at = models.DateTimeField(null=True, blank=True)
    scrubbed_at = models.DateTimeField(null=True, blank=True, help_text="When the last whole pass ended.")
    # A run working on this store holds it until then (runs may overlap when one is slow).
    busy_until = models.DateTimeField(null=True, blank=True)
    object_count = models.PositiveIntegerField(default=0)
    stored_bytes = models.PositiveBigIntegerField(default=0)
    # Objects with no good copy (damaged, or missing though an archive names them), and the
    # archives that cannot be restored whole because of them. Bounded lists; the counts are whole.
    unusable = models.PositiveIntegerField(default=0)
    damaged_indexes = models.PositiveIntegerField(default=0)
    damaged_archives = models.JSONField(default=list, blank=True)
    detail = models.TextField(blank=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        indexes = [models.Index(fields=["scrubbed_at"], name="storecheck_scrubbed")]

    def __str__(self) -> str:
        return f"backup store of {self.domain}"

    @property
    def damaged(self) -> bool:
        return bool(self.unusable or self.damaged_indexes or self.damaged_archives)
