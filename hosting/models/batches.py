"""Batch migrates: every site of a platform moved to another one, each by its own site.migrate
task (hosting.batches drives them). A batch is a light record, not a running task: it is advanced
when one of its children ends and by the engine's housekeeping (docs/decisions.md)."""
from __future__ import annotations

from django.conf import settings
from django.db import models


class MigrationBatch(models.Model):
    RUNNING, PAUSED, DONE, STOPPED = "running", "paused", "done", "stopped"
    STATES = [(RUNNING, "Running"), (PAUSED, "Paused"), (DONE, "Done"), (STOPPED, "Stopped")]
    FINAL = (DONE, STOPPED)

    source = models.ForeignKey("hosting.Platform", on_delete=models.PROTECT, related_name="batches_out")
    target = models.ForeignKey("hosting.Platform", on_delete=models.PROTECT, related_name="batches_in")
    # The platform.migrate-sites task that planned it (one batch per task: a second delivery of
    # that task finds it rather than planning another).
    task = models.OneToOneField("hosting.Task", on_delete=models.SET_NULL, null=True, blank=True,
                                related_name="batch")
    state = models.CharField(max_length=16, choices=STATES, default=RUNNING)
    # Stop starting children after this many failures; null: HARBORMASTER_BATCH_MAX_FAILURES.
    max_failures = models.PositiveIntegerField(null=True, blank=True)
    created_by = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, blank=True,
                                   related_name="+")
    created_by_label = models.CharField(max_length=200, blank=True)
    summary = models.TextField(blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    finished_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-created_at", "-id"]
        indexes = [models.Index(fields=["state"], name="batch_state")]

    def __str__(self) -> str:
        return f"batch #{self.pk}: {self.source} -> {self.target}"

    @property
    def failure_limit(self) -> int:
        return self.max_failures if self.max_failures is not None else settings.HARBORMASTER_BATCH_MAX_FAILURES


class BatchItem(models.Model):
    """One site of a batch. WAITING: not started; STARTED: its migrate task exists (queued,
    running or paused); MOVED / FAILED: that task ended; SKIPPED: never started (the batch
    stopped). The task is recorded in the transaction that creates it, so a child is never
    started twice nor lost."""

    WAITING, STARTED, MOVED, FAILED, SKIPPED = "waiting", "started", "moved", "failed", "skipped"
    STATES = [(WAITING, "Waiting"), (STARTED, "Started"), (MOVED, "Moved"), (FAILED, "Failed"),
              (SKIPPED, "Not started")]

    batch = models.ForeignKey(MigrationBatch, on_delete=models.CASCADE, related_name="items")
    site = models.ForeignKey("hosting.Site", on_delete=models.SET_NULL, null=True, blank=True, related_name="+")
    domain = models.CharField(max_length=253)
    position = models.PositiveIntegerField()
    task = models.ForeignKey("hosting.Task", on_delete=models.SET_NULL, null=True, blank=True, related_name="+")
    state = models.CharField(max_length=16, choices=STATES, default=WAITING)
    reason = models.TextField(blank=True)
    finished_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["position"]
        indexes = [models.Index(fields=["batch", "state", "position"], name="batchitem_state")]
