"""Hand-over of task ids to django-q2, after the task row is committed (DESIGN §4.1, §4.11).

Each server has its own queue: the django-q2 cluster name of the qcluster running on that
server's host. Handing a task over twice is harmless: the claim turns a delivery of a task that
is not queued any more into a no-op."""
from __future__ import annotations

import logging
from collections.abc import Iterable

from django.db import transaction

from hosting.engine import clock
from hosting.models import Task

EXECUTE = "hosting.engine.worker.execute"
DEFAULT_QUEUE = "local"
_logger = logging.getLogger("hosting.engine")


def queue_of(task: Task) -> str:
    return task.server.queue if task.server is not None else DEFAULT_QUEUE


def dispatch(task_id: int, queue: str) -> bool:
    """Put TASK_ID on QUEUE. A broker that is down is logged, not raised: the task row is
    committed, and the reconciler hands it over again once the broker is back."""
    from django_q.tasks import async_task

    try:
        async_task(EXECUTE, task_id, cluster=queue, task_name=f"hm-task-{task_id}", save=False)
    except Exception:  # noqa: BLE001 - see the docstring
        _logger.exception("could not hand task %s to queue %s; the reconciler will retry", task_id, queue)
        return False
    Task.objects.filter(pk=task_id).update(dispatched_at=clock.now_expr())
    return True


def dispatch_ids(task_ids: Iterable[int]) -> int:
    """Hand over several queued tasks, each to its server's queue."""
    ids = list(dict.fromkeys(task_ids))
    if not ids:
        return 0
    rows = Task.objects.filter(pk__in=ids, state=Task.QUEUED).values_list("pk", "server__queue")
    sent = 0
    for task_id, queue in rows:
        sent += dispatch(task_id, queue or DEFAULT_QUEUE)
    return sent


def dispatch_on_commit(task: Task) -> None:
    from hosting.engine import statelog

    statelog.created(task)  # first, so that the `queued` line comes before any `running` one
    queue = queue_of(task)
    task_id = task.pk
    transaction.on_commit(lambda: dispatch(task_id, queue))
