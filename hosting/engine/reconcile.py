"""Reconciling queued tasks with the broker (DESIGN §4.7): nothing queued is ever lost.

Queued tasks are rows, so they survive any restart; what can be lost is their broker message
(a cluster SIGKILLed with messages it had already fetched, a broker that was down at enqueue, a
wake-up missed by a dying worker). The reconciler hands such tasks over again; a second
delivery is harmless. It looks into the broker for the task's message:
- ORM broker: OrmQ rows named `hm-task-<id>`, fetched or not (a fetched message stays, locked,
  until it is acknowledged), so a task without one has lost it for certain;
- Redis: the queue's list. A fetched message leaves the list, and the cluster keeps up to
  workers² of them in memory until a worker is free, so a task absent from the list may still
  be on its way: it is re-sent only if it was handed over before this cluster started (the
  cluster that fetched it is gone) or BLIND_RESEND ago. A re-sent message sits in the list
  until fetched, so a task waiting behind busy workers is re-sent at most once, never every
  minute;
- another broker: re-send what has waited for a delivery BLIND_RESEND."""
from __future__ import annotations

import logging
import re
from datetime import datetime, timedelta

from django.db.models import F, Q

from hosting.engine import clock
from hosting.engine.dispatch import EXECUTE, dispatch_ids
from hosting.engine.fairness import picks_to_deliver
from hosting.engine.routing import orm_broker, redis_broker, redis_list
from hosting.models import Server, Task

# A message younger than this may still be on its way into the broker.
GRACE = 5.0
# Without a broker we can look into, re-send after this long.
BLIND_RESEND = 60.0
_NAME = re.compile(r"^hm-task-(\d+)")
_logger = logging.getLogger("hosting.engine")


def task_of(package: bytes | str) -> int | None:
    """The task id a signed django-q2 package carries, or None (another function's message, or
    one signed with another key)."""
    from django_q.signing import SignedPackage

    try:
        task = SignedPackage.loads(package)
    except Exception:  # noqa: BLE001 - not ours to read
        return None
    if task.get("func") == EXECUTE and task.get("args"):
        try:
            return int(task["args"][0])
        except (TypeError, ValueError):
            return None
    match = _NAME.match(str(task.get("name") or ""))
    return int(match.group(1)) if match else None


def redis_messages(queue: str) -> list[int | None]:
    """The task ids of QUEUE's unfetched Redis messages, oldest first."""
    conn, key = redis_list(queue)
    return [task_of(pack) for pack in conn.lrange(key, 0, -1)]


def messages_in_broker(queue: str) -> set[int] | None:
    """Task ids with a message in QUEUE (ORM broker: fetched or not; Redis: not fetched yet), or
    None if the broker cannot tell."""
    if redis_broker():
        return {pk for pk in redis_messages(queue) if pk is not None}
    if not orm_broker():
        return None
    from django_q.models import OrmQ

    ids = set()
    for row in OrmQ.objects.filter(key=queue).only("payload"):
        match = _NAME.match(str(row.name() or ""))
        if match:
            ids.add(int(match.group(1)))
    return ids


def unstrand(queue: str) -> int:
    """At a cluster's start: make the messages of QUEUE that a dead cluster had fetched (locked
    until django-q2's `retry`, hours away) deliverable now. One cluster serves a queue; if two
    ever do, the other's in-flight messages are delivered twice, which is harmless."""
    if not orm_broker():
        return 0
    from django.utils import timezone
    from django_q.models import OrmQ

    now = timezone.now()
    return OrmQ.objects.filter(key=queue, lock__gt=now).update(lock=now)


def reconcile(queue: str, *, started: datetime | None = None) -> list[int]:
    """Hand over again the queued tasks of QUEUE's servers that have no delivery coming.
    STARTED is when this queue's cluster started (Redis: what was fetched before is gone).
    Returns the ids handed over."""
    # Both steps below act on queued tasks only: an idle queue costs this one query a beat.
    if not Task.objects.filter(server__queue=queue, state=Task.QUEUED).exists():
        return []
    servers = list(Server.objects.filter(queue=queue).values_list("pk", flat=True))
    if not servers:
        return []
    now = clock.db_now()
    old = now - timedelta(seconds=GRACE)
    # 1. Tasks whose last delivery was used up waiting and that may start now (a wake-up that
    #    a dying worker never sent, a slot freed by a reaper on another host).
    sent: list[int] = []
    for server_id in servers:
        sent += picks_to_deliver(server_id)
    # 2. Tasks expecting a delivery that the broker no longer holds.
    expecting = list(Task.objects.filter(server_id__in=servers, state=Task.QUEUED)
                     .filter(Q(waited_at__isnull=True) | Q(dispatched_at__gt=F("waited_at")))
                     .filter(Q(dispatched_at__lt=old) | Q(dispatched_at__isnull=True, created_at__lt=old))
                     .values_list("pk", "dispatched_at"))
    # Reading the broker decodes every message of the queue: only when something is expected.
    in_broker = messages_in_broker(queue) if expecting else set()
    # Only the ORM broker keeps fetched messages: elsewhere an absent message may be on its way.
    exact = orm_broker()
    blind = now - timedelta(seconds=BLIND_RESEND)
    for task_id, dispatched_at in expecting:
        if in_broker is not None and task_id in in_broker:
            continue
        if exact or dispatched_at is None or dispatched_at < blind or (started and dispatched_at < started):
            sent.append(task_id)
    sent = list(dict.fromkeys(sent))
    if sent:
        dispatch_ids(sent)
        _logger.info("reconciled queue %s: handed over %s", queue, sent)
    return sent
