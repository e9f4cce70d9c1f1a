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
must wait has a reason. CHECKS consecutive observations, one a beat, before acting."""
from __future__ import annotations

import logging
import os
import signal
import sys
from datetime import datetime, timedelta

import psutil
from django.db.models import Q

from hosting.engine import clock
from hosting.engine.heartbeat import interval
from hosting.models import Server, Task

# The exit status of a cluster that ended itself because its queue was wedged (EX_TEMPFAIL).
WEDGED_EXIT = 75
STALL_BEATS = 3
MIN_STALL = 5.0
CHECKS = 3
_logger = logging.getLogger("hosting.engine")


def stall_seconds() -> float:
    return max(STALL_BEATS * interval(), MIN_STALL)


class Watchdog:
    def __init__(self, queue: str) -> None:
        self.queue = queue
        self.strikes = 0

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
        """One observation; True when the queue has been wedged for CHECKS in a row."""
        stuck = self.stuck(started)
        self.strikes = self.strikes + 1 if stuck else 0
        if stuck:
            _logger.warning("queue %s: tasks %s queued and startable, none running (%s/%s)",
                            self.queue, stuck, self.strikes, CHECKS)
        return self.strikes >= CHECKS


def restart_cluster(queue: str) -> None:
    """End this qcluster process and its children with WEDGED_EXIT. Nothing of this queue runs
    (that is the symptom), so no task is cut short; messages the cluster had fetched are made
    deliverable again by the next cluster (reconcile.unstrand, reconcile's `started`).
    django-q2's own stop would wait forever for the wedged workers, so this does not use it.
    Everything is SIGKILLed without waiting, the sentinel last, and the process exits right
    after: the main thread is joining the sentinel, and once that returns it would end the
    process with status 0 before this thread could choose the status."""
    _logger.error("worker queue wedged after a worker died while idle; restarting the cluster "
                  "(queue %s, exit status %s)", queue, WEDGED_EXIT)
    for handler in [*logging.getLogger().handlers, *_logger.handlers]:
        try:
            handler.flush()
        except Exception:  # noqa: BLE001
            pass
    try:
        sys.stdout.flush()
        sys.stderr.flush()
    except Exception:  # noqa: BLE001
        pass
    try:
        me = psutil.Process(os.getpid())
        direct = me.children()
        direct_pids = {p.pid for p in direct}
        deeper = [p for p in me.children(recursive=True) if p.pid not in direct_pids]
        for proc in [*deeper, *direct]:  # workers, pusher, monitor; then the sentinel
            try:
                os.kill(proc.pid, signal.SIGKILL)
            except OSError:
                pass
    finally:
        os._exit(WEDGED_EXIT)
