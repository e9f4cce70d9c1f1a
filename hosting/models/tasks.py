"""Tasks, their steps, their log lines, and the per-resource locks they hold while they run.

A task is always either final or has an owner and a deadline: see hosting/engine/ for the
state machine and the reaper that enforces it."""
from __future__ import annotations

from django.conf import settings
from django.db import models
from django.db.models import Q

from hosting.catalogue import TYPES, TaskType


class Task(models.Model):
    QUEUED, RUNNING, PAUSED = "queued", "running", "paused"
    SUCCEEDED, WARNING, FAILED, CANCELLED = "succeeded", "warning", "failed", "cancelled"
    STATES = [
        (QUEUED, "Queued"), (RUNNING, "Running"), (PAUSED, "Paused"),
        (SUCCEEDED, "Succeeded"), (WARNING, "Warning"), (FAILED, "Failed"), (CANCELLED, "Cancelled"),
    ]
    FINAL = (SUCCEEDED, WARNING, FAILED, CANCELLED)
    ACTIVE = (QUEUED, RUNNING, PAUSED)
    TARGETS = [("site", "Site"), ("platform", "Platform"), ("server", "Server")]

    kind = models.CharField(max_length=32)
    target_type = models.CharField(max_length=16, choices=TARGETS)
    # No index of their own on site, platform, server and client: the indexes below start with
    # them and serve the same lookups. Every index is written on each insert and each delete,
    # and a task table of 200,000 rows is pruned in batches (hosting.prune).
    site = models.ForeignKey("hosting.Site", on_delete=models.SET_NULL, null=True, blank=True, related_name="tasks",
                             db_index=False)
    platform = models.ForeignKey("hosting.Platform", on_delete=models.SET_NULL, null=True, blank=True,
                                 related_name="tasks", db_index=False)
    # The server whose workers run the task (its queue); set for every task.
    server = models.ForeignKey("hosting.Server", on_delete=models.SET_NULL, null=True, blank=True, related_name="tasks",
                               db_index=False)
    # Kept as text so the history still reads well after a node record is deleted.
    target_label = models.CharField(max_length=300)
    client = models.ForeignKey("hosting.Client", on_delete=models.SET_NULL, null=True, blank=True, related_name="tasks",
                               db_index=False)
    created_by = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, blank=True,
                                   related_name="tasks")
    # Who started it, as the audit trail names them ("alice", "cli:root", "command line",
    # "alice via token ci"): the command line and the scheduler are no user. Empty for tasks
    # recorded before this was kept.
    created_by_label = models.CharField(max_length=200, blank=True)
    args = models.JSONField(default=dict, blank=True)
    state = models.CharField(max_length=16, choices=STATES, default=QUEUED)

    created_at = models.DateTimeField(auto_now_add=True)
    dispatched_at = models.DateTimeField(null=True, blank=True)
    started_at = models.DateTimeField(null=True, blank=True)
    finished_at = models.DateTimeField(null=True, blank=True)

    # Who runs it: host, pid and that process's start time (pids are reused).
    owner_host = models.CharField(max_length=253, blank=True)
    owner_pid = models.PositiveIntegerField(null=True, blank=True)
    owner_started = models.FloatField(null=True, blank=True)
    heartbeat_at = models.DateTimeField(null=True, blank=True)
    deadline_at = models.DateTimeField(null=True, blank=True)
    attempt = models.PositiveIntegerField(default=0)

    cancel_requested = models.BooleanField(default=False)
    cancel_reason = models.CharField(max_length=300, blank=True)
    # Why a queued task has not started, in words ("waiting for task #12 holding site:4").
    waiting_reason = models.CharField(max_length=500, blank=True)
    waiting_on = models.ForeignKey("self", on_delete=models.SET_NULL, null=True, blank=True, related_name="+",
                                   db_index=False)
    # When a delivery last found the task unable to start (database clock). A task whose last
    # delivery was used up this way needs a new one when its obstacle goes: dispatched_at older
    # than waited_at says so.
    waited_at = models.DateTimeField(null=True, blank=True)
    # The process groups the running task started on owner_host ({"pid", "pgid", "started"}),
    # so that a reaper can kill what a SIGKILLed worker left behind.
    processes = models.JSONField(default=list, blank=True)
    current_step = models.CharField(max_length=100, blank=True)
    summary = models.CharField(max_length=1000, blank=True)
    result = models.JSONField(default=dict, blank=True)
    retry_of = models.ForeignKey("self", on_delete=models.SET_NULL, null=True, blank=True, related_name="retries",
                                 db_index=False)

    class Meta:
        ordering = ["-created_at", "-id"]
        indexes = [
            models.Index(fields=["state", "created_at"], name="task_state_created"),
            models.Index(fields=["-created_at"], name="task_created"),
            models.Index(fields=["site", "-created_at"], name="task_site_created"),
            models.Index(fields=["platform", "-created_at"], name="task_platform_created"),
            models.Index(fields=["server", "state"], name="task_server_state"),
            models.Index(fields=["client", "-created_at"], name="task_client_created"),
            # Fair sharing: when did each client last get a task started.
            models.Index(fields=["client", "started_at"], name="task_client_started"),
            models.Index(fields=["kind", "state"], name="task_kind_state"),
            # The reaper's scan: running tasks by heartbeat age.
            models.Index(fields=["heartbeat_at"], condition=Q(state="running"), name="task_running_heartbeat"),
            # Nearly every value is NULL: SQLite's statistics then call a plain index useless and
            # "who points at these tasks?" (a delete's SET NULL) reads the whole table.
            models.Index(fields=["waiting_on"], condition=Q(waiting_on__isnull=False), name="task_waiting_on"),
            models.Index(fields=["retry_of"], condition=Q(retry_of__isnull=False), name="task_retry_of"),
        ]

    def __str__(self) -> str:
        return f"#{self.pk} {self.kind} {self.target_label}"

    @property
    def type(self) -> TaskType:
        return TYPES[f"{self.target_type}.{self.kind}"]

    @property
    def is_final(self) -> bool:
        return self.state in self.FINAL

    @property
    def creator(self) -> str:
        """Who started the task, in the audit trail's words ("system": nobody, e.g. the reaper)."""
        if self.created_by_label:
            return self.created_by_label
        return self.created_by.get_username() if self.created_by_id and self.created_by else "system"

    @property
    def target(self):
        return {"site": self.site, "platform": self.platform, "server": self.server}[self.target_type]

    @property
    def duration(self):
        if self.started_at and self.finished_at:
            return self.finished_at - self.started_at
        return None


class TaskStep(models.Model):
    PENDING, RUNNING, DONE, FAILED, SKIPPED = "pending", "running", "done", "failed", "skipped"
    UNDOING, UNDONE, UNDO_FAILED = "undoing", "undone", "undo-failed"
    STATES = [(s, s.replace("-", " ").capitalize()) for s in
              (PENDING, RUNNING, DONE, FAILED, SKIPPED, UNDOING, UNDONE, UNDO_FAILED)]

    # Found through the unique (task, position) index: a second index on task alone would only cost.
    task = models.ForeignKey(Task, on_delete=models.CASCADE, related_name="steps", db_index=False)
    position = models.PositiveIntegerField()
    name = models.CharField(max_length=100)
    label = models.CharField(max_length=200, blank=True)
    state = models.CharField(max_length=16, choices=STATES, default=PENDING)
    started_at = models.DateTimeField(null=True, blank=True)
    finished_at = models.DateTimeField(null=True, blank=True)
    error = models.CharField(max_length=1000, blank=True)

    class Meta:
        ordering = ["task", "position"]
        constraints = [models.UniqueConstraint(fields=["task", "position"], name="taskstep_position")]

    def __str__(self) -> str:
        return f"{self.task_id}/{self.position} {self.name}"


class TaskLog(models.Model):
    """Append-only log lines of a task; `position` orders them and lets readers ask for what is
    new since the last line they saw."""

    # "detail" lines are for administrators only: they name what belongs to another client (the
    # site whose database a settings.php names), next to a line every reader of the task sees.
    DETAIL = "detail"
    LEVELS = [("debug", "Debug"), ("info", "Info"), ("warning", "Warning"), ("error", "Error"),
              (DETAIL, "Administrators only")]

    # Found through the unique (task, position) index: a second index on task alone would only cost.
    task = models.ForeignKey(Task, on_delete=models.CASCADE, related_name="log", db_index=False)
    position = models.PositiveIntegerField()
    at = models.DateTimeField()
    level = models.CharField(max_length=8, choices=LEVELS, default="info")
    line = models.TextField()

    class Meta:
        ordering = ["task", "position"]
        constraints = [models.UniqueConstraint(fields=["task", "position"], name="tasklog_position")]

    def __str__(self) -> str:
        return f"{self.task_id}:{self.position} {self.line[:60]}"


class Lock(models.Model):
    """One row per locked resource (`site:42`, `platform:3`); the unique key is the lock."""

    key = models.CharField(max_length=100, unique=True)
    task = models.ForeignKey(Task, on_delete=models.CASCADE, related_name="locks")
    acquired_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["acquired_at"]

    def __str__(self) -> str:
        return f"{self.key} held by #{self.task_id}"
