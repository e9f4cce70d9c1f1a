"""Operations around the tasks: backup schedules, notification preferences and webhooks, and the
watcher's memory of each task's last seen state (hosting.events)."""
from __future__ import annotations

from datetime import timedelta

from django.conf import settings
from django.db import models
from django.db.models import Q

EVENTS = [("task.failed", "A task failed"), ("task.paused", "A task paused (needs a human)"),
          ("backup.stale", "A site's last good backup is older than its schedule allows"),
          ("cron.failing", "A site's cron failed several times in a row")]
EVENT_NAMES = [name for name, _ in EVENTS]


def all_events() -> list[str]:
    return list(EVENT_NAMES)


class BackupSchedule(models.Model):
    """Scheduled backups of one site, or of every site of a client. A site's own schedule wins
    over its client's (a disabled site schedule switches the client's off for that site)."""

    DAILY, WEEKLY = "daily", "weekly"
    FREQUENCIES = [(DAILY, "Daily"), (WEEKLY, "Weekly")]
    PERIODS = {DAILY: timedelta(days=1), WEEKLY: timedelta(days=7)}

    site = models.OneToOneField("hosting.Site", on_delete=models.CASCADE, null=True, blank=True,
                                related_name="backup_schedule")
    client = models.OneToOneField("hosting.Client", on_delete=models.CASCADE, null=True, blank=True,
                                  related_name="backup_schedule")
    frequency = models.CharField(max_length=8, choices=FREQUENCIES, default=DAILY)
    keep_count = models.PositiveIntegerField(null=True, blank=True, default=7,
                                             help_text="Scheduled backups kept per site. Empty: no count limit.")
    keep_days = models.PositiveIntegerField(null=True, blank=True, default=30,
                                            help_text="Scheduled backups older than this are deleted. "
                                                      "Empty: no age limit.")
    enabled = models.BooleanField(default=True)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        constraints = [
            models.CheckConstraint(condition=(Q(site__isnull=False, client__isnull=True)
                                              | Q(site__isnull=True, client__isnull=False)),
                                   name="backupschedule_one_target"),
        ]

    def __str__(self) -> str:
        return f"{self.frequency} backups of {self.site or self.client}"

    @property
    def period(self) -> timedelta:
        return self.PERIODS[self.frequency]

    @property
    def allowed_age(self) -> timedelta:
        """How old the last good backup may be before the site counts as stale: one and a half
        periods, so that a backup that takes a while or a worker restart is not an alarm."""
        return self.period * 3 / 2


class NotificationPreference(models.Model):
    """Which events a user is emailed about. Users without a row: administrators get every
    event, everyone else none (see hosting.notify.recipients)."""

    user = models.OneToOneField(settings.AUTH_USER_MODEL, on_delete=models.CASCADE,
                                related_name="notification_preference")
    events = models.JSONField(default=all_events, blank=True,
                              help_text="Any of: " + ", ".join(EVENT_NAMES))

    def __str__(self) -> str:
        return f"notifications of {self.user}"


class Webhook(models.Model):
    """A URL that receives a signed JSON POST for each event it subscribes to (docs/notifications.md)."""

    name = models.CharField(max_length=63)
    url = models.URLField(max_length=1000)
    # Signs every payload (HMAC-SHA256); shown only to administrators in the admin.
    secret = models.CharField(max_length=200)
    events = models.JSONField(default=all_events, blank=True, help_text="Any of: " + ", ".join(EVENT_NAMES))
    client = models.ForeignKey("hosting.Client", on_delete=models.CASCADE, null=True, blank=True,
                               related_name="webhooks", help_text="Only this client's events. Empty: all.")
    active = models.BooleanField(default=True)
    created_at = models.DateTimeField(auto_now_add=True)

    def __str__(self) -> str:
        return self.name


class TaskWatch(models.Model):
    """The state (and attempt) the watcher last saw of a task. The engine changes task rows with
    conditional UPDATEs, which send no Django signals, so hosting.events compares rows with this."""

    task = models.OneToOneField("hosting.Task", on_delete=models.CASCADE, primary_key=True, related_name="watch")
    state = models.CharField(max_length=16)
    attempt = models.PositiveIntegerField(default=0)
    seen_at = models.DateTimeField(auto_now=True)


class StaleBackupAlert(models.Model):
    """A site whose staleness was notified: one notice per stale spell, cleared by a fresh backup."""

    site = models.OneToOneField("hosting.Site", on_delete=models.CASCADE, primary_key=True, related_name="+")
    notified_at = models.DateTimeField(auto_now_add=True)
