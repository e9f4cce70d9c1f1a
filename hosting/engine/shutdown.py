"""Stopping a worker cluster (docs/decisions.md, "A cluster stops on any SIGTERM or SIGINT").

django-q2 stops a cluster from its signal handler in the main process: `stop_event.set()` and a
join of the sentinel, both taking multiprocessing locks, while every child keeps the default
SIGTERM action. When the whole process group gets the signal (systemd's control-group kill, GNU
`timeout`, a terminal's Ctrl-C) the sentinel dies while it waits on that event, and the main
process blocks for ever in `Condition.notify`, waiting for the dead sleeper to wake.

So the engine stops the cluster itself:
- the cluster's children (sentinel, workers, pusher, monitor) ignore SIGTERM, SIGINT and
  STOP_SIGNAL: a signal to the whole group is the main process's business. A worker running
  a task installs its own handlers meanwhile (hosting.engine.worker): it kills the task's
  process tree and hands the task back (re-queued, or rolled back and failed, or paused);
- the main process's handler only writes one byte into a pipe (no lock, no I/O beyond that).
  The Stopper thread reads it and marks the cluster stopping (no worker claims a task any more:
  the broker's message is spent, and the next cluster sends the queued task again, see
  hosting.engine.reconcile). It sends STOP_SIGNAL to the workers (a busy one hands its task
  back, an idle one ignores it) and runs django-q2's own stop in a thread of its own. If that
  has not ended in stop_grace() seconds (or a second signal comes), the busy workers get
  STOP_NOW_SIGNAL (a second stop: a rollback in progress is cut short, its task paused), and
  KILL_AFTER seconds later every process of the cluster is SIGKILLed (a task left running is
  settled by the reaper of the next cluster, its owner being gone). The process then exits:
  0 after a clean stop, 1 after a kill."""
from __future__ import annotations

import atexit
import logging
import multiprocessing
import os
import signal
import sys
import threading
import time
from collections.abc import Callable

import psutil
from django.conf import settings

# "The cluster is stopping": sent by the main process to its workers. Unlike a second SIGTERM it
# never cuts a rollback short, so a worker that also got the group's SIGTERM counts one stop.
STOP_SIGNAL = signal.SIGUSR1
# "Stop now": after the grace period. A rollback in progress is cut short (its task is paused).
STOP_NOW_SIGNAL = signal.SIGUSR2
STOP_SIGNALS = (signal.SIGTERM, signal.SIGINT, STOP_SIGNAL, STOP_NOW_SIGNAL)
# After the grace period and the second SIGTERM, this long before everything is SIGKILLed.
KILL_AFTER = 5.0
_logger = logging.getLogger("hosting.engine")
# One byte of shared memory, set by the main process when the cluster stops: a worker then
# claims nothing more (a task re-queued by the stop must not start again in this cluster).
# Created before the fork, read without a lock.
_stopping = None


def stopping() -> bool:
    return bool(_stopping is not None and _stopping.value)


def stop_grace() -> float:
    return float(getattr(settings, "HARBORMASTER_STOP_GRACE", 20.0))


def ignore_stop_signals() -> None:
    """In the cluster's children: let the main process decide (see the module doc). Dispositions
    set to SIG_IGN are inherited by every process forked afterwards."""
    for sig in STOP_SIGNALS:
        signal.signal(sig, signal.SIG_IGN)


def end_process(code: int) -> None:
    """SIGKILL every descendant of this process (the deepest first, the sentinel last: it would
    reincarnate the others), flush the logs and exit with CODE, without joining anything."""
    for handler in [*logging.getLogger().handlers, *_logger.handlers]:
        try:
            handler.flush()
        except Exception:  # noqa: BLE001, S110 - exiting anyway; a log that cannot flush must not stop that
            pass
    try:
        sys.stdout.flush()
        sys.stderr.flush()
    except Exception:  # noqa: BLE001, S110
        pass
    try:
        me = psutil.Process(os.getpid())
        direct = me.children()
        direct_pids = {p.pid for p in direct}
        deeper = [p for p in me.children(recursive=True) if p.pid not in direct_pids]
        for proc in [*deeper, *direct]:
            try:
                os.kill(proc.pid, signal.SIGKILL)
            except OSError:
                pass
    finally:
        os._exit(code)


def _alive(pid: int | None) -> bool:
    try:
        return pid is not None and psutil.Process(pid).status() != psutil.STATUS_ZOMBIE
    except psutil.Error:
        return False


def _signal_workers(sentinel_pid: int | None, sig: int) -> None:
    """SIG to the sentinel's children (workers, pusher, monitor): those not running a task ignore it."""
    if sentinel_pid is None:
        return
    try:
        children = psutil.Process(sentinel_pid).children()
    except psutil.Error:
        return
    for proc in children:
        try:
            proc.send_signal(sig)
        except psutil.Error:
            pass


class Stopper:
    """The main process's SIGTERM/SIGINT handler and the thread that acts on it."""

    def __init__(self) -> None:
        """In qcluster's main process, before the cluster forks."""
        global _stopping
        _stopping = multiprocessing.get_context("fork").RawValue("b", 0)
        self.pid = os.getpid()
        self.signals: list[int] = []
        self._read, self._write = os.pipe()
        os.set_blocking(self._write, False)

    def request(self, signum: int) -> None:
        """The signal handler's whole work: a forked child that has not yet replaced it does nothing."""
        if os.getpid() != self.pid:
            return
        self.signals.append(signum)
        try:
            os.write(self._write, b"s")
        except OSError:  # the pipe is full: a stop is already requested
            pass

    def start(self, sentinel_pid: Callable[[], int | None], stop_cluster: Callable[[], object],
              on_stopped: Callable[[], None]) -> threading.Thread:
        thread = threading.Thread(target=self._run, args=(sentinel_pid, stop_cluster, on_stopped),
                                  name="harbormaster-stopper", daemon=True)
        thread.start()
        # qcluster's main thread ends right after the start, and the interpreter's exit joins
        # the sentinel: once that returns the process would end before this thread has marked
        # the cluster stopped. Registered after multiprocessing's exit handler, this runs first.
        atexit.register(self._hold, thread, sentinel_pid)
        return thread

    def _hold(self, thread: threading.Thread, sentinel_pid: Callable[[], int | None]) -> None:
        """Keep the process until the stopper ends it, unless the cluster ended without a signal
        (`qcluster --run-once`, a sentinel that died)."""
        while thread.is_alive():
            if not self.signals and not _alive(sentinel_pid()):
                return
            thread.join(0.2)

    def _run(self, sentinel_pid: Callable[[], int | None], stop_cluster: Callable[[], object],
             on_stopped: Callable[[], None]) -> None:
        os.read(self._read, 1)
        if _stopping is not None:
            _stopping.value = 1
        grace = stop_grace()
        name = signal.Signals(self.signals[0]).name if self.signals else "a signal"
        _logger.warning("stopping the cluster on %s: running tasks are handed back (up to %g s)", name, grace)
        _signal_workers(sentinel_pid(), STOP_SIGNAL)
        stopping = threading.Thread(target=stop_cluster, name="harbormaster-stop", daemon=True)
        stopping.start()
        code = 0
        if not self._wait(stopping, grace, interrupt=True):
            _logger.error("the cluster did not stop within %g s; stopping its workers' rollbacks", grace)
            _signal_workers(sentinel_pid(), STOP_NOW_SIGNAL)
            if not self._wait(stopping, KILL_AFTER, interrupt=False):
                _logger.error("the cluster did not stop %g s later either; killing its processes", KILL_AFTER)
                code = 1
        try:
            on_stopped()
        finally:
            end_process(code)

    def _wait(self, thread: threading.Thread, seconds: float, *, interrupt: bool) -> bool:
        """Whether THREAD ended within SECONDS; with INTERRUPT, a second signal ends the wait."""
        first = len(self.signals)
        give_up = time.monotonic() + seconds
        while thread.is_alive() and time.monotonic() < give_up:
            if interrupt and len(self.signals) > first:
                return False
            thread.join(0.05)
        return not thread.is_alive()
