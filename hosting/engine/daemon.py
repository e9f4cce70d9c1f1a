"""The engine's housekeeping loop, running by itself wherever workers run (no cron to set up):
reap lost tasks, reconcile queued ones with the broker, sweep this host's leftover processes,
and beat the cluster's registry row (hosting.engine.registry).

It runs as a daemon thread in the main process of `manage.py qcluster`. hosting.apps starts it
by wrapping django_q's Cluster.start, so the thread starts after the cluster has forked its
sentinel: a thread alive across a fork could leave a lock (logging, a database driver) held in
the child. django-q2 has no "cluster started" signal in the main process, and a wrapper command
would be one more thing to remember in systemd units, which run `qcluster`."""
from __future__ import annotations

import logging
import os
import threading
import time
from collections.abc import Callable
from datetime import datetime

from hosting.engine import clock, reconcile, reconnect, registry, shutdown, watchdog
from hosting.engine.heartbeat import interval
from hosting.engine.owner import hostname, process_alive
from hosting.engine.processes import kill_tree, marked_processes
from hosting.engine.reaper import Reaper
from hosting.engine.routing import cluster_queue
from hosting.models import Cluster, Task

SWEEP_EVERY = 30.0
# Called once a beat with the queue (and at a cluster's start): hosting.apps registers
# hosting.batches.reconcile, which advances the batches whose advance a dead worker missed.
RECONCILE: list[Callable[[str], object]] = []
# Rows of clusters gone for an hour are removed this often (and when a cluster starts).
CLEAN_UP_EVERY = 600.0
_logger = logging.getLogger("hosting.engine")
_started = threading.Event()
# Set when the cluster stops: the loop takes on no new work.
_halt = threading.Event()
# This process's cluster, when it is qcluster's main process.
_registration: registry.Registration | None = None


def sweep() -> list[int]:
    """Kill this host's task processes whose task is over, or that belong to a run other than
    the task's current one (a worker that was reaped while its program went on)."""
    marked = marked_processes()
    if not marked:
        return []
    me = hostname()
    running = {pk: (pid, started) for pk, pid, started in Task.objects.filter(
        pk__in={t for _, t, _ in marked}, state=Task.RUNNING, owner_host=me,
    ).values_list("pk", "owner_pid", "owner_started")}
    killed: list[int] = []
    for proc, task_id, owner_pid in marked:
        current = running.get(task_id)
        if current is not None and current[0] == owner_pid and process_alive(*current):
            continue
        _logger.warning("killing leftover process %s of task %s", proc.pid, task_id)
        killed += kill_tree(proc.pid)
    return killed


class Housekeeping:
    """One process's loop. Reaping runs four times a beat: a task is lost 3 beats after its last
    one, and the reaper's own delay adds to that (with 5 s beats, at most about 16 s from the
    last beat of a worker on a dead host to its task being settled). The cluster's beat and
    reconciling run once a beat, sweeping every SWEEP_EVERY seconds."""

    def __init__(self, queue: str | None = None, *, background: bool = True, watch: bool = False,
                 registration: registry.Registration | None = None) -> None:
        self.reaper = Reaper(queue or cluster_queue(), background=background)
        self.queue = self.reaper.queue
        self.registration = registration
        # Only in qcluster's main process: on a wedged queue it ends the process.
        self.watchdog = watchdog.Watchdog(self.queue, registration) if watch else None
        self.reconciled_at = 0.0
        self.swept_at = 0.0
        self.cleaned_at: float | None = None
        # Messages handed over before now and no longer in a Redis list were fetched by a
        # cluster that is gone (or by this one, just now: one harmless extra delivery).
        self.started: datetime | None = None

    def tick(self) -> None:
        if self.started is None:
            self.started = clock.db_now()
        self.reaper.reap_all()
        now = time.monotonic()
        if now - self.reconciled_at >= interval():
            if self.registration is not None:
                registry.beat(self.registration)
            reconcile.reconcile(self.queue, started=self.started)
            for listener in RECONCILE:
                listener(self.queue)
            self.reconciled_at = now
            # After an outage the queue is judged as if the cluster had just started: nothing
            # could be fetched or claimed while the database was away.
            since = max(self.started, self.reaper.answering_since or self.started)
            if self.watchdog is not None and self.watchdog.observe(since):
                if self.registration is not None:
                    registry.stopped(self.registration, Cluster.WEDGED, self.watchdog.restart_reason())
                watchdog.restart_cluster(self.queue)
        if now - self.swept_at >= SWEEP_EVERY:
            sweep()
            self.swept_at = now
        if self.registration is not None and (self.cleaned_at is None or now - self.cleaned_at >= CLEAN_UP_EVERY):
            registry.clean_up()
            self.cleaned_at = now


def loop(stop: threading.Event, queue: str | None = None, watch: bool = False,
         registration: registry.Registration | None = None) -> None:
    work = Housekeeping(queue, watch=watch, registration=registration)
    _logger.info("engine housekeeping for queue %s in pid %s", work.queue, os.getpid())
    try:
        reconcile.unstrand(work.queue)
    except Exception:  # noqa: BLE001
        _logger.exception("could not release stranded messages of %s", work.queue)
    away = False
    while not stop.is_set():
        try:
            # One connection for the life of the loop (not reopened every tick, whatever
            # CONN_MAX_AGE says); a failure closes it and the next tick reconnects.
            work.tick()
            away = False
        except Exception as exc:  # noqa: BLE001 - the loop must outlive a database restart
            lost = reconnect.connection_lost(exc)
            if not lost:
                _logger.exception("engine housekeeping failed; trying again")
            elif not away:
                _logger.warning("engine housekeeping: the control database is unreachable; trying again")
            if lost:
                away = True
                work.reaper.lost_database()
            reconnect.reset()
        stop.wait(interval() / 4)


def start(queue: str | None = None, registration: registry.Registration | None = None) -> threading.Thread | None:
    """Start the loop once per process, with the wedge watchdog (see hosting.engine.watchdog)."""
    if _started.is_set():
        return None
    _started.set()
    thread = threading.Thread(target=loop, args=(_halt, queue, True, registration),
                              name="harbormaster-reaper", daemon=True)
    thread.start()
    return thread


def _stopped() -> None:
    """The cluster has stopped, or is about to be killed: no new housekeeping, the row marked."""
    _halt.set()
    if _registration is not None and not _registration.ended:
        registry.stopped(_registration, Cluster.STOPPED)


def attach_to_qcluster() -> None:
    """Register the cluster before it forks, start the loop in qcluster's main process once the
    cluster runs (see the module doc), stop the cluster the engine's way on SIGTERM and SIGINT
    (hosting.engine.shutdown) and mark it stopped when it stops."""
    from django_q import cluster
    from django_q.conf import Conf

    original = cluster.Cluster.start
    if getattr(original, "_harbormaster", False):
        return
    original_stop = cluster.Cluster.stop
    stopper = shutdown.Stopper()

    class Sentinel(cluster.Sentinel):
        """django-q2's sentinel, whose children leave SIGTERM and SIGINT to the main process."""

        def __init__(self, *args: object, start: bool = True, **kwargs: object) -> None:
            shutdown.ignore_stop_signals()
            super().__init__(*args, start=False, **kwargs)  # it sets SIGTERM back to the default
            shutdown.ignore_stop_signals()
            if start:
                self.start()

    def start_then_housekeep(self: cluster.Cluster) -> int:
        global _registration
        if _registration is None:
            # Before the fork: the shared counters must exist in every child.
            _registration = registry.prepare(cluster_queue(), int(Conf.WORKERS))
            registry.register(_registration)
        pid = original(self)
        if os.getpid() == self.pid:
            start(registration=_registration)
            # A signal that came while the cluster started waits in the stopper's pipe.
            stopper.start(lambda: self.sentinel.pid if self.sentinel else None, lambda: self.stop(), _stopped)
        return pid

    def stop_then_unregister(self: cluster.Cluster) -> bool:
        stopped = original_stop(self)
        if stopped and os.getpid() == self.pid and _registration is not None:
            registry.stopped(_registration, Cluster.STOPPED)
        return stopped

    def request_stop(self: cluster.Cluster, signum: int, frame: object) -> None:
        stopper.request(signum)

    start_then_housekeep._harbormaster = True  # type: ignore[attr-defined]
    cluster.Cluster.start = start_then_housekeep
    cluster.Cluster.stop = stop_then_unregister
    # Cluster.__init__ installs `self.sig_handler` for SIGTERM and SIGINT; Cluster.start forks
    # the module's `Sentinel`.
    cluster.Cluster.sig_handler = request_stop
    cluster.Sentinel = Sentinel
