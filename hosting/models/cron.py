"""Cron of every site: its settings and last run (SiteCron, one row per site that ever had one)
and a bounded history of compact runs (CronRun). A scheduled run is a Task while it runs, so the
engine's guarantees hold (deadline, heartbeat, process-tree kill, the reaper); once it ends it is
folded into these rows and its Task row is deleted (hosting.cron.fold). See docs/decisions.md."""
from __future__ import annotations

from django.db import models


class SiteCron(models.Model):
    OK, FAILED = "ok", "failed"
    OUTCOMES = [(OK, "Succeeded"), (FAILED, "Failed")]

    site = models.OneToOneField("hosting.Site", on_delete=models.CASCADE, primary_key=True, related_name="cron")
    # Minutes between runs; None: HARBORMASTER_CRON_INTERVAL; 0: off.
    interval = models.PositiveIntegerField(null=True, blank=True)
    queued_at = models.DateTimeField(null=True, blank=True)   # the last scheduled run was queued
    last_started_at = models.DateTimeField(null=True, blank=True)
    last_duration = models.FloatField(null=True, blank=True)  # seconds
    last_outcome = models.CharField(max_length=8, choices=OUTCOMES, blank=True)
    failures = models.PositiveIntegerField(default=0)        # failed runs in a row
    alerted = models.BooleanField(default=False)             # the streak was notified

    def __str__(self) -> str:
        return f"cron of site {self.site_id}"


class CronRun(models.Model):
    site = models.ForeignKey("hosting.Site", on_delete=models.CASCADE, related_name="cron_runs", db_index=False)
    started_at = models.DateTimeField()
    duration = models.FloatField(default=0)  # seconds
    outcome = models.CharField(max_length=8, choices=SiteCron.OUTCOMES)
    summary = models.CharField(max_length=500, blank=True)
    log = models.TextField(blank=True)  # failures only: the tail of the run's log
    task_id_was = models.PositiveBigIntegerField(null=True, blank=True)

    class Meta:
        indexes = [models.Index(fields=["site", "-started_at"], name="cronrun_site_started")]

    def __str__(self) -> str:
        return f"cron of site {self.site_id} at {self.started_at:%Y-%m-%d %H:%M}: {self.outcome}"


class DrushCommand(models.Model):
    """A drush command that a client's managers and members may run on their sites (the
    administrator keeps the list in Django admin; administrators may run any command)."""

    name = models.CharField(max_length=64, unique=True, help_text="The command as drush names it: watchdog:show, "
                                                                  "state:get, ... (its aliases are not matched).")
    note = models.CharField(max_length=200, blank=True)

    def __str__(self) -> str:
        return self.name
