"""A worker cluster records itself (hosting.models.Cluster): registered in qcluster's main process
before the cluster forks, beaten once per heartbeat by the housekeeping thread, marked stopped
on a clean exit or when the watchdog restarts it. The status page, the dashboard, `ping` and a
queued task's waiting reason read these rows (hosting.clusters).

The beat is one statement: an INSERT ... ON CONFLICT DO UPDATE on (host, pid, process start),
outside any transaction, so a row that a clean-up removed, or that a database restart lost, comes
back with the next beat.

Unreadable broker messages are counted in shared memory created here before the fork: the pusher
that drops them (hosting.engine.broker) is a grandchild of the main process, whose beat reports
the count."""
from __future__ import annotations

import logging
import multiprocessing
import threading
import time
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from importlib import metadata

from django.db import connections
from django.db.models.constants import OnConflict

from hosting.engine import clock
from hosting.engine.owner import Owner
from hosting.models import Cluster

# Rows of clusters that stopped or died are shown as gone for this long, then removed.
KEEP_GONE = timedelta(hours=1)
_logger = logging.getLogger("hosting.engine")
# [messages dropped, time of the last one]: set in qcluster's main process before it forks.
_unreadable = None
# Written by every beat; the row's identity and started_at are not.
_BEAT_FIELDS = ["queue", "instance", "version", "workers", "beat_at", "stopped_at", "stop_reason",
                "unreadable", "unreadable_at", "problem"]


def _version() -> str:
    try:
        return metadata.version("harbormaster")
    except metadata.PackageNotFoundError:
        return ""


@dataclass
class Registration:
    """This process's cluster."""
    queue: str
    workers: int
    owner: Owner = field(default_factory=Owner.current)
    instance: str = ""
    version: str = field(default_factory=_version)
    # What the cluster reports as wrong, written with every beat (hosting.engine.watchdog).
    problem: str = ""
    # Set once the row is marked stopped: a beat in flight must not bring the row back.
    ended: bool = False
    lock: threading.Lock = field(default_factory=threading.Lock, repr=False)

    def rows(self):
        return Cluster.objects.filter(host=self.owner.host, pid=self.owner.pid,
                                      process_started=self.owner.started)


def prepare(queue: str, workers: int) -> Registration:
    """In qcluster's main process, before the fork: the shared counters and this cluster."""
    global _unreadable
    from hosting.engine.instance import instance_key

    _unreadable = multiprocessing.get_context("fork").Array("d", 2)
    return Registration(queue=queue, workers=workers, instance=instance_key())


def count_unreadable() -> None:
    """A message was dropped as unreadable (in the pusher). Counted when a cluster runs here."""
    if _unreadable is None:
        return
    with _unreadable.get_lock():
        _unreadable[0] += 1
        _unreadable[1] = time.time()


def unreadable() -> tuple[int, datetime | None]:
    if _unreadable is None:
        return 0, None
    with _unreadable.get_lock():
        count, last = int(_unreadable[0]), _unreadable[1]
    return count, (datetime.fromtimestamp(last, UTC) if last else None)


def beat(reg: Registration) -> None:
    """Record that this cluster is alive: one UPSERT."""
    with reg.lock:
        if not reg.ended:
            _upsert(reg)


def _upsert(reg: Registration) -> None:
    count, last = unreadable()
    now = clock.now_expr()
    started = reg.owner.started
    assert started is not None  # Owner.current() reads it from /proc
    row = Cluster(host=reg.owner.host, pid=reg.owner.pid, process_started=started, queue=reg.queue,
                  instance=reg.instance, version=reg.version, workers=reg.workers, started_at=now, beat_at=now,
                  stopped_at=None, stop_reason="", unreadable=count, unreadable_at=last, problem=reg.problem[:500])
    meta = Cluster._meta
    # QuerySet._insert is what bulk_create calls, without the transaction bulk_create opens
    # around it (BEGIN and COMMIT would triple the statements of an idle cluster's beat).
    # The stubs leave out the private _insert.
    Cluster.objects._insert(  # type: ignore[attr-defined]
        [row], fields=[f for f in meta.concrete_fields if not f.primary_key], on_conflict=OnConflict.UPDATE,
        update_fields=[meta.get_field(name) for name in _BEAT_FIELDS],
        unique_fields=[meta.get_field(name) for name in ("host", "pid", "process_started")],
    )


def register(reg: Registration) -> None:
    """The first beat, before the cluster forks; the connection is closed afterwards so that no
    child inherits it. A database that is away now gets the row with the first beat after."""
    try:
        beat(reg)
    except Exception:  # noqa: BLE001 - a cluster starts without its database, and waits for it
        _logger.warning("could not register the cluster of queue %s yet; its first beat will", reg.queue,
                        exc_info=True)
    finally:
        connections.close_all()


def stopped(reg: Registration, reason: str, problem: str = "") -> None:
    """Mark this cluster stopped (a clean exit, or a restart by the watchdog)."""
    try:
        with reg.lock:
            reg.ended = True
            reg.rows().update(stopped_at=clock.now_expr(), stop_reason=reason, problem=problem[:500])
    except Exception:  # noqa: BLE001 - exiting anyway; the row goes stale and shows as gone
        _logger.warning("could not mark the cluster of queue %s stopped", reg.queue, exc_info=True)


def clean_up() -> int:
    """Remove the rows of clusters that have been gone for KEEP_GONE."""
    deleted, _ = Cluster.objects.filter(beat_at__lt=clock.db_now() - KEEP_GONE).delete()
    return deleted
