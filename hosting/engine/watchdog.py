"""Detecting a wedged cluster and restarting it (docs/decisions.md, "wedged worker queue").

django-q2's workers share one multiprocessing queue; a worker SIGKILLed while idle dies holding
its read lock, every reincarnated worker blocks on that lock, and the cluster runs nothing again
until it restarts. django-q2 offers no way to replace the queue from outside, so the
housekeeping thread (qcluster's main process) watches for the symptom and ends the cluster
with WEDGED_EXIT: systemd (Restart=on-failure) and `manage.py serve` start it again, clean.

The symptom, once a beat: a queued task of this queue that may start now (no waiting_reason:
no lock or cap stopped it) has had its delivery for STALL_BEATS beats (at least MIN_STALL
seconds), while no task of this queue runs, and the cluster itself is older than that. Busy
workers have running tasks; a cluster that just started is too young; a task that tried and
must wait has a reason. CHECKS consecutive observations, one a beat, before acting.

A restart must cure something, never loop (docs/decisions.md, "The watchdog restarts a queue's
cluster at most once in WEDGE_MEMORY"). It does not restart, and reports instead (the cluster's
registry row, shown by the status page and `ping`), when:
- this cluster dropped unreadable messages lately: something else writes into this queue's
  list (another instance, another secret key), and its cluster is probably taking our
  messages too. A restart changes none of that;
- this queue's cluster on this host was restarted for a wedge less than WEDGE_MEMORY ago: the
  restart did not cure it, and another one every minute would only hide that.
Once the symptom is gone the report is withdrawn; once WEDGE_MEMORY has passed a restart may
happen again, so an idle-worker wedge that comes back after hours is still cured by itself."""
from __future__ import annotations

import logging
import os
from datetime import datetime, timedelta

from django.db.models import Q

from hosting.engine import clock, registry, shutdown
from hosting.engine.heartbeat import interval
from hosting.engine.owner import hostname
from hosting.models import Cluster, Server, Task

# The exit status of a cluster that ended itself because its queue was wedged (EX_TEMPFAIL).
WEDGED_EXIT = 75
STALL_BEATS = 3
MIN_STALL = 5.0
CHECKS = 3
# At most one restart for a wedge per queue and host in this long (see the module doc).
WEDGE_MEMORY = timedelta(minutes=15)
_logger = logging.getLogger("hosting.engine")


def stall_seconds() -> float:
    return max(STALL_BEATS * interval(), MIN_STALL)


class Watchdog:
    def __init__(self, queue: str, registration: registry.Registration | None = None) -> None:
        self.queue = queue
        self.registration = registration
        self.strikes = 0
        self.stuck_ids: list[int] = []

    def stuck(self, started: datetime) -> list[int]:
        """The ids of this queue's tasks that look stuck now (empty if none or if a task runs)."""
        now = clock.db_now()
        old = now - timedelta(seconds=stall_seconds())
        if started > old:
            return []
        servers = list(Server.objects.filter(queue=self.queue).values_list("pk", flat=True))
        if not servers:
            return []
        tasks = Task.objects.filter(server_id__in=servers)
        if tasks.filter(state=Task.RUNNING).exists():
            return []
        return list(tasks.filter(state=Task.QUEUED, waiting_reason="")
                    .filter(Q(dispatched_at__lt=old) | Q(dispatched_at__isnull=True, created_at__lt=old))
                    .values_list("pk", flat=True)[:20])

    def observe(self, started: datetime) -> bool:
        """One observation; True when the queue has been wedged for CHECKS in a row and a
        restart may cure it."""
        stuck = self.stuck(started)
        self.strikes = self.strikes + 1 if stuck else 0
        self.stuck_ids = stuck
        if not stuck:
            self._report("")
            return False
        if self.strikes <= CHECKS:  # then a restart, or one report that stands until it clears
            _logger.warning("queue %s: tasks %s queued and startable, none running (%s/%s)",
                            self.queue, stuck, self.strikes, CHECKS)
        if self.strikes < CHECKS:
            return False
        held_back = self.why_not_restart()
        self._report(held_back)
        return not held_back

    def why_not_restart(self) -> str:
        """Why a restart would not cure this queue, in words for the status page; "" if it may."""
        now = clock.db_now()
        count, last = registry.unreadable()
        if last is not None and now - last < WEDGE_MEMORY:
            return (f"tasks {self.stuck_ids} stay queued, and this cluster dropped {count} unreadable "
                    f"message(s) of queue {self.queue}: another instance or secret key shares its broker "
                    "(give every instance its own HARBORMASTER_INSTANCE and every host of one instance "
                    "the same secret key); not restarting, which would not help")
        previous = (Cluster.objects.filter(queue=self.queue, host=hostname(), stop_reason=Cluster.WEDGED,
                                           stopped_at__gte=now - WEDGE_MEMORY)
                    .exclude(pid=os.getpid()).order_by("-stopped_at").values_list("stopped_at", flat=True).first())
        if previous is not None:
            minutes = max(1, int((now - previous).total_seconds() // 60))
            return (f"tasks {self.stuck_ids} stay queued with nothing running, {minutes} min after this "
                    f"queue's cluster was restarted for a wedged worker queue; not restarting again within "
                    f"{int(WEDGE_MEMORY.total_seconds() // 60)} min of that: restart qcluster by hand "
                    "if it does not recover")
        return ""

    def restart_reason(self) -> str:
        return f"restarted: worker queue wedged (tasks {self.stuck_ids} queued, none running)"

    def _report(self, problem: str) -> None:
        if self.registration is None or self.registration.problem == problem:
            return
        if problem:
            _logger.error("queue %s: %s", self.queue, problem)
        else:
            _logger.warning("queue %s: tasks run again", self.queue)
        self.registration.problem = problem


def restart_cluster(queue: str) -> None:
    """End this qcluster process and its children with WEDGED_EXIT. Nothing of this queue runs
    (that is the symptom), so no task is cut short; messages the cluster had fetched are made
    deliverable again by the next cluster (reconcile.unstrand, reconcile's `started`).
    django-q2's own stop would wait forever for the wedged workers, so this is the end of the
    engine's own stop (hosting.engine.shutdown) without its grace period: everything is
    SIGKILLed without waiting, and the process exits at once, joining nothing."""
    _logger.error("worker queue wedged after a worker died while idle; restarting the cluster "
                  "(queue %s, exit status %s)", queue, WEDGED_EXIT)
    shutdown.end_process(WEDGED_EXIT)
