"""The task watcher: notifications when a task fails or pauses, and backup retention after a
successful scheduled backup. (The structured line of each state change is written by the engine
itself at the moment of the change, hosting.engine.statelog; the watcher logs nothing, so that
no change is reported twice.)

Why a watcher and not post_save: the engine changes task rows with conditional UPDATEs (a claim,
an end, a reaper's takeover), which send no Django signals. `poll()` compares task rows with what
it saw last (TaskWatch) and claims each change with a conditional UPDATE of its own, so two
watchers at once never report a change twice. django-q2's scheduler runs it every minute
(hosting.schedules), so a notification may be up to a minute late."""
from __future__ import annotations

import logging
from datetime import datetime, timedelta

from django.db import IntegrityError, transaction
from django.db.models import Exists, OuterRef, Q
from django.utils import timezone

from hosting.models import Task, TaskWatch

# Final tasks are looked at for this long after they finish; older ones are history.
RECENT = timedelta(hours=1)
BATCH = 500
NOTIFY_STATES = (Task.FAILED, Task.PAUSED)
_logger = logging.getLogger("hosting.events")


def changed_tasks(now: datetime) -> list[Task]:
    seen = TaskWatch.objects.filter(task=OuterRef("pk"), state=OuterRef("state"), attempt=OuterRef("attempt"))
    return list(Task.objects.filter(Q(state__in=Task.ACTIVE) | Q(finished_at__gte=now - RECENT))
                .exclude(Exists(seen)).select_related("client").order_by("pk")[:BATCH])


def claim_change(task: Task) -> str | None | bool:
    """Record that TASK's current state has been seen. Returns the state seen before (None if
    the task is new to the watcher), or False when another watcher took this change."""
    with transaction.atomic():
        before = TaskWatch.objects.filter(task_id=task.pk).values_list("state", "attempt").first()
        if before is None:
            try:
                with transaction.atomic():
                    TaskWatch.objects.create(task_id=task.pk, state=task.state, attempt=task.attempt)
            except IntegrityError:
                return False
            return None
        if before == (task.state, task.attempt):
            return False
        updated = TaskWatch.objects.filter(task_id=task.pk, state=before[0], attempt=before[1]).update(
            state=task.state, attempt=task.attempt, seen_at=timezone.now())
        return before[0] if updated else False


def after_change(task: Task) -> None:
    """Side effects of a change: notifications, retention. Failures are logged, never raised:
    the change is recorded as seen and must not be retried forever."""
    try:
        # A scheduled cron run notifies through its failure streak instead (hosting.cron).
        scheduled_cron = task.kind == "cron" and (task.args or {}).get("scheduled")
        if task.state in NOTIFY_STATES and not scheduled_cron:
            from hosting import notify

            notify.notify(notify.task_event(task))
        if (task.target_type, task.kind) == ("site", "backup") and task.state in (Task.SUCCEEDED, Task.WARNING) \
                and (task.args or {}).get("kind") == "scheduled" and task.site is not None:
            from hosting import retention

            retention.apply(task.site)
    except Exception:  # noqa: BLE001 - see the docstring
        _logger.exception("after task #%s became %s", task.pk, task.state)


def poll(now: datetime | None = None) -> int:
    """Act on every task state change since the last poll (notifications, retention). Returns
    how many changes were seen."""
    now = now or timezone.now()
    reported = 0
    for task in changed_tasks(now):
        previous = claim_change(task)
        if previous is False:
            continue
        if task.state != previous:
            after_change(task)
        reported += 1
    # Forget tasks that left the window: they can no longer change.
    TaskWatch.objects.filter(task__finished_at__lt=now - RECENT * 2).delete()
    return reported
