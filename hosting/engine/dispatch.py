"""Hand-over of task ids to django-q2, after the task row is committed (DESIGN §4.1)."""
from __future__ import annotations

from django.db import transaction
from django.utils import timezone

from hosting.models import Task

EXECUTE = "hosting.engine.worker.execute"


def dispatch(task_id: int, queue: str) -> None:
    """Put TASK_ID on QUEUE's broker list. Handing over twice is harmless: the claim ignores a
    delivery of a task that is not queued any more."""
    from django_q.tasks import async_task

    async_task(EXECUTE, task_id, cluster=queue, task_name=f"hm-task-{task_id}-{timezone.now():%H%M%S%f}")
    Task.objects.filter(pk=task_id).update(dispatched_at=timezone.now())


def dispatch_on_commit(task: Task) -> None:
    queue = task.server.queue if task.server_id else "local"
    task_id = task.pk
    transaction.on_commit(lambda: dispatch(task_id, queue))
