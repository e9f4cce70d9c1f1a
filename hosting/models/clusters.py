"""Worker clusters as they register themselves (DESIGN §3 "Cluster"): each `qcluster` writes its
row at start and beats it once per heartbeat from its housekeeping thread, so that whether a
queue is served is read here instead of guessed from the age of broker messages."""
from __future__ import annotations

from datetime import datetime, timedelta

from django.db import models


class Cluster(models.Model):
    STOPPED, WEDGED = "stopped", "wedged"
    STOP_REASONS = [(STOPPED, "Stopped"), (WEDGED, "Restarted: wedged worker queue")]

    # Which process: host, pid and its start time (pids are reused), as for a task's owner.
    host = models.CharField(max_length=253)
    pid = models.PositiveIntegerField()
    process_started = models.FloatField()
    queue = models.CharField(max_length=63)
    # The instance key the cluster reads its Redis lists under (hosting.engine.instance): a
    # cluster with another key than the panel's never receives the panel's messages.
    instance = models.CharField(max_length=64, blank=True)
    version = models.CharField(max_length=40, blank=True)
    workers = models.PositiveSmallIntegerField(default=0)
    started_at = models.DateTimeField()
    beat_at = models.DateTimeField()
    stopped_at = models.DateTimeField(null=True, blank=True)
    stop_reason = models.CharField(max_length=16, choices=STOP_REASONS, blank=True)
    # Broker messages this cluster could not read (signed with another key) and dropped.
    unreadable = models.PositiveIntegerField(default=0)
    unreadable_at = models.DateTimeField(null=True, blank=True)
    # What the cluster itself reports as wrong (a wedge it will not restart for again).
    problem = models.CharField(max_length=500, blank=True)

    class Meta:
        ordering = ["queue", "host", "started_at"]
        constraints = [
            # The conflict target of the beat's UPSERT.
            models.UniqueConstraint(fields=["host", "pid", "process_started"], name="cluster_process"),
        ]

    def __str__(self) -> str:
        return f"cluster {self.queue} on {self.host} pid {self.pid}"

    def is_live(self, now: datetime, stale_after: timedelta) -> bool:
        return self.stopped_at is None and now - self.beat_at <= stale_after
