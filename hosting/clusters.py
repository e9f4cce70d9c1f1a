"""Which worker clusters serve which queue, read from the clusters' own registry rows
(hosting.engine.registry): the status page, `ping`, the dashboard, and the waiting reason of a
queued task (panel, API, `tasks show`) all say it the same way.

A cluster is live while it beats (every heartbeat, from its housekeeping thread, whatever its
workers are doing) and has not stopped; a queue whose clusters all stopped beating for
STALE_BEATS beats is unserved, even when nothing is queued. A busy cluster with a backlog is not
down: its housekeeping beats while every worker runs a long task, and should that thread fall
behind, running tasks of the queue whose heartbeats are fresh still prove workers are there."""
from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from django.conf import settings

from hosting.engine import clock
from hosting.engine.heartbeat import lost_before
from hosting.models import Cluster, Server, Task

STALE_BEATS = 2
# Beats are taken on the housekeeping loop's ticks (a quarter beat apart), so one comes up to a
# quarter of a beat late, more when the machine is loaded: a second of slack.
STALE_SLACK = 1.0
# A cluster that dropped unreadable messages this recently is reported.
UNREADABLE_RECENT = timedelta(minutes=15)
SHOWN_GONE = 3


def stale_after() -> timedelta:
    return timedelta(seconds=STALE_BEATS * float(settings.HARBORMASTER_HEARTBEAT) + STALE_SLACK)


def elapsed(now: datetime, then: datetime) -> str:
    seconds = max(0, int((now - then).total_seconds()))
    if seconds < 120:
        return f"{seconds} s"
    return f"{seconds // 60} min" if seconds < 7200 else f"{seconds // 3600} h"


@dataclass
class QueueService:
    queue: str
    now: datetime
    live: list[Cluster] = field(default_factory=list)
    gone: list[Cluster] = field(default_factory=list)  # newest beat first
    # No cluster beats, but running tasks of the queue do (the busy-cluster fallback).
    tasks_beat: bool = False
    has_server: bool = True

    @property
    def served(self) -> bool:
        return bool(self.live) or self.tasks_beat

    @property
    def workers(self) -> int:
        return sum(c.workers for c in self.live)

    def unserved_reason(self, *, internals: bool = True) -> str:
        """Why nothing runs on this queue, or "" when it is served. INTERNALS: name hosts and
        processes (administrators); a client's people get the same words without them."""
        if self.served:
            return ""
        text = f"no worker cluster serves queue {self.queue}"
        last = self.gone[0] if self.gone else None
        if last is None:
            return f"{text}: none has registered (is `qcluster` running for {self.queue}?)"
        who = f" ({last.host} pid {last.pid})" if internals else ""
        if last.stopped_at is not None:
            why = " for a wedged worker queue" if last.stop_reason == Cluster.WEDGED else ""
            return f"{text}: the last one{who} stopped{why} {elapsed(self.now, last.stopped_at)} ago"
        return f"{text}: the last one{who} stopped beating {elapsed(self.now, last.beat_at)} ago"

    def problems(self, instance: str | None) -> list[str]:
        """What the live clusters report or show as wrong (INSTANCE: the key this process sends
        Redis messages under, None when the broker is not Redis)."""
        found = []
        for c in self.live:
            who = f"cluster {c.host} pid {c.pid}"
            if c.problem:
                found.append(f"{who}: {c.problem}")
            if c.unreadable and c.unreadable_at and self.now - c.unreadable_at < UNREADABLE_RECENT:
                found.append(f"{who} dropped {c.unreadable} unreadable message(s), the last "
                             f"{elapsed(self.now, c.unreadable_at)} ago: another instance or secret key "
                             "writes into this queue")
            if instance is not None and c.instance and c.instance != instance:
                found.append(f"{who} reads Redis under instance key {c.instance}, this panel sends under "
                             f"{instance}: set HARBORMASTER_INSTANCE (or the secret key and database name) "
                             "the same on every host of this instance")
        return found

    def describe(self) -> str:
        """The live clusters and the recently gone ones, for the status page and `ping`."""
        parts = [f"{c.host} pid {c.pid}: {c.workers} worker(s), up {elapsed(self.now, c.started_at)}, "
                 f"beat {elapsed(self.now, c.beat_at)} ago" + (f", version {c.version}" if c.version else "")
                 for c in self.live]
        if not self.live and self.tasks_beat:
            parts.append("no cluster beat lately, but running tasks beat")
        gone = [f"{c.host} pid {c.pid} " + (f"stopped {elapsed(self.now, c.stopped_at)} ago" if c.stopped_at
                                            else f"silent for {elapsed(self.now, c.beat_at)}")
                for c in self.gone[:SHOWN_GONE]]
        if gone and self.live:
            parts.append("gone: " + ", ".join(gone))
        return "; ".join(parts)


def queues_with_servers() -> list[str]:
    """The queues that matter: each server's (Server.queue is unique)."""
    return list(Server.objects.order_by("queue").values_list("queue", flat=True))


def services(queues: Iterable[str] | None = None, *, with_unused: bool = False) -> dict[str, QueueService]:
    """QUEUES (default: every server's) as their clusters serve them; WITH_UNUSED adds queues
    that clusters serve but no server uses. Two or three queries, however many queues."""
    now = clock.db_now()
    wanted = list(queues) if queues is not None else queues_with_servers()
    rows = Cluster.objects.all() if with_unused or queues is None else Cluster.objects.filter(queue__in=wanted)
    found = {q: QueueService(q, now) for q in wanted}
    stale = now - stale_after()
    for c in sorted(rows, key=lambda c: c.beat_at, reverse=True):
        if c.queue not in found:
            if not with_unused:
                continue
            found[c.queue] = QueueService(c.queue, now, has_server=False)
        service = found[c.queue]
        (service.live if c.stopped_at is None and c.beat_at >= stale else service.gone).append(c)
    idle = [q for q, s in found.items() if not s.live and s.has_server]
    if idle:
        beat_since = lost_before(now)
        for queue in (Task.objects.filter(state=Task.RUNNING, heartbeat_at__gte=beat_since, server__queue__in=idle)
                      .values_list("server__queue", flat=True).distinct()):
            found[queue].tasks_beat = True
    return found


def service(queue: str) -> QueueService:
    return services([queue])[queue]


def overview(now: datetime) -> list[dict[str, object]]:
    """Each server's queue with its live clusters and workers, in one query (the dashboard's
    shared figures): served when a cluster beats, or else running tasks of the queue do."""
    from django.db.models import Count, Exists, IntegerField, OuterRef, Subquery, Sum
    from django.db.models.functions import Coalesce

    live = Cluster.objects.filter(queue=OuterRef("queue"), stopped_at__isnull=True, beat_at__gte=now - stale_after())
    per_queue = live.order_by().values("queue")
    beat_since = lost_before(now)
    rows = (Server.objects.order_by("queue").annotate(
        clusters=Coalesce(Subquery(per_queue.annotate(n=Count("id")).values("n"), output_field=IntegerField()), 0),
        workers=Coalesce(Subquery(per_queue.annotate(n=Sum("workers")).values("n"), output_field=IntegerField()), 0),
        tasks_beat=Exists(Task.objects.filter(server=OuterRef("pk"), state=Task.RUNNING, heartbeat_at__gte=beat_since)),
        problem=Exists(live.exclude(problem="")),
    ).values_list("queue", "clusters", "workers", "tasks_beat", "problem"))
    return [{"queue": q, "clusters": n, "workers": w, "served": bool(n or beat), "problem": problem}
            for q, n, w, beat, problem in rows]


def waiting_reason(task: Task, *, internals: bool = True) -> str:
    """The reason a queued task waits: its own (a lock, a cap, a turn), or else that no cluster
    serves its queue; "" when it simply waits for a free worker."""
    if task.state != Task.QUEUED or task.waiting_reason:
        return task.waiting_reason
    from hosting.engine.dispatch import queue_of

    return service(queue_of(task)).unserved_reason(internals=internals)
