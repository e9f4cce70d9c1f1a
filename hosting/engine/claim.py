"""Claim (DESIGN §4.2): one atomic step moves a task from queued to running, sets its owner,
heartbeat and deadline, and inserts its locks; or leaves it queued saying why.

Never holds a transaction across work: provisioning starts after this commits."""
from __future__ import annotations

from collections.abc import Iterable
from datetime import timedelta

from django.conf import settings
from django.db import IntegrityError, connection, transaction
from django.db.models import F

from hosting.engine import clock, fairness, statelog
from hosting.engine.dispatch import dispatch_ids
from hosting.engine.owner import Owner
from hosting.models import Client, Lock, Server, Task


def target_lock(task: Task) -> str:
    """The lock of the task's own target: `site:<id>`, `platform:<id>` or `server:<id>`."""
    target_id = {"site": task.site_id, "platform": task.platform_id, "server": task.server_id}[task.target_type]
    return f"{task.target_type}:{target_id}"


def lock_keys(task: Task, extra: Iterable[str] = ()) -> list[str]:
    # Sorted: every claim inserts in the same order, so two claims cannot wait on each other
    # in opposite orders on PostgreSQL.
    return sorted({target_lock(task), *extra})


def deadline_seconds(task: Task) -> int:
    key = f"{task.target_type}.{task.kind}"
    return int(settings.HARBORMASTER_DEADLINES.get(key, task.type.deadline))


def claim(task_id: int, owner: Owner, extra_locks: Iterable[str] = ()) -> Task | None:
    """Move a queued task to running and take its locks, or leave it queued. Returns None if
    another worker won, the task is no longer queued (a stale or duplicate delivery), or it
    must wait (a lock is held, a concurrency cap is reached, or another client's turn comes
    first): the reason is recorded on the task and whoever frees the obstacle wakes it."""
    wake: list[int] = []
    with transaction.atomic():
        # The server and client come along (the caps need them) but only the task row is locked
        # here: theirs are locked next, one at a time, in the same order by every claim.
        task = (Task.objects.select_for_update(no_key=True, of=("self",)).select_related("server", "client")
                .filter(pk=task_id, state=Task.QUEUED).first())
        if task is None:
            return None
        # Claims of one server (and of one client) are serialised by a row lock, so that two
        # workers cannot both see 3 of 4 slots taken and both start. SQLite's IMMEDIATE
        # transactions serialise every writer anyway (select_for_update is a no-op there, so
        # the statements are not even sent).
        # no_key (FOR NO KEY UPDATE): it still excludes other claims, but not the foreign-key
        # checks of rows inserted meanwhile (a new task of this server and client), which
        # would otherwise deadlock with us at their commit.
        if connection.features.has_select_for_update:
            if task.server_id:
                list(Server.objects.select_for_update(no_key=True).filter(pk=task.server_id).values_list("pk"))
            if task.client_id:
                list(Client.objects.select_for_update(no_key=True).filter(pk=task.client_id).values_list("pk"))
        reason, holder, wake = fairness.obstacle(task)
        if reason is None:
            reason, holder = _take_locks(task, lock_keys(task, extra_locks))
        if reason is not None:
            Task.objects.filter(pk=task.pk).update(
                waiting_reason=reason[:500], waiting_on=holder, waited_at=clock.now_expr())
            if wake:
                transaction.on_commit(lambda: dispatch_ids(wake), robust=True)
            return None
        now = clock.db_now()
        Task.objects.filter(pk=task.pk).update(
            state=Task.RUNNING, **owner.fields(), started_at=now, heartbeat_at=now,
            deadline_at=now + timedelta(seconds=deadline_seconds(task)), attempt=F("attempt") + 1,
            waiting_reason="", waiting_on=None, waited_at=None, current_step="", finished_at=None,
            processes=[],
        )
        # The row as this transaction left it: what the caller gets, without reading it again.
        claimed = statelog.changed(task.pk, Task.QUEUED)
    return claimed


def _take_locks(task: Task, keys: list[str]) -> tuple[str | None, int | None]:
    held = {lock.key: lock for lock in Lock.objects.filter(key__in=keys).select_related("task")}
    for key in keys:
        lock = held.get(key)
        if lock is None or lock.task_id == task.pk:
            continue  # a resumed task still holds its own locks
        if lock.task.is_final:
            # Cannot happen (locks go in the transaction that ends a task), but if it ever
            # does the queue must not wedge on it: a final task holds nothing.
            lock.delete()
            continue
        return f"waiting for task #{lock.task_id} holding {key}", lock.task_id
    missing = [k for k in keys if k not in held or held[k].task_id != task.pk]
    try:
        # A savepoint: on PostgreSQL a failed insert would otherwise poison the transaction.
        with transaction.atomic():
            Lock.objects.bulk_create([Lock(key=k, task=task) for k in missing])
    except IntegrityError:
        # Another claim inserted one of them after our read (PostgreSQL only).
        lock = Lock.objects.filter(key__in=missing).exclude(task=task).first()
        if lock is None:
            return "waiting for a lock taken at the same moment", None
        return f"waiting for task #{lock.task_id} holding {lock.key}", lock.task_id
    return None, None
