"""Fencing: before anyone on this host rolls back, re-queues or ends a running task in place of
its owner (a reaper, force-stop), the owner's tree is killed and confirmed gone.

Why: a worker that is stopped rather than dead (SIGSTOP, a frozen VM, a process swapped out for
minutes) looks lost after 3 silent beats. If its task was rolled back while it lived, it went on
where it stopped once it was continued: it replaced the database over the rollback, wrote log
lines after the task's final line, and held the backup store's lock against the re-queued
backup. SIGKILL also ends a stopped process (SIGTERM would wait until it runs again, and then
run its handler, which settles the task), so the owner gets SIGKILL, then its programs.

The owner's tree is the owner process, its descendants, and the task's programs that left it
(recorded process groups, marked environment: hosting.engine.processes). The owner process
itself is spared, and the fence says why (the caller then pauses the task instead of settling
it), when it is:
- this process or one of its ancestors (a reaper never kills itself or what runs it);
- a process whose children are not all this task's programs: a cluster's main process, which
  owns the tasks its reaper rolls back, and whose children are the cluster's sentinel and the
  workers of other tasks; killing it would kill them (and every task they run) too;
- busy with another running task that still beats: it has moved on (it abandoned this task,
  say after the control database stayed away too long), so it no longer acts on this one, and
  the fence counts it as gone (only this task's programs are killed).
Only this host's processes can be seen; another host's owner is left to its own reaper (see
hosting.engine.reaper), and writes nothing once its task is taken (TaskContext, TaskLogWriter)."""
from __future__ import annotations

import logging
import os
import signal
from dataclasses import dataclass, field

import psutil

from hosting.engine import clock
from hosting.engine.heartbeat import lost_before
from hosting.engine.owner import Owner, hostname, live_process
from hosting.engine.processes import MARK, kill_task_processes, mark_env
from hosting.models import Task
from provision.processes import running, wait_dead

# Seconds to wait for the owner's tree to be gone after SIGKILL (a process in uninterruptible
# sleep, on a hung NFS mount say, dies only when the kernel lets it).
CONFIRM_WITHIN = 10.0
# _spared()'s answer for an owner busy with another task that beats: not killed, and gone for
# this task all the same.
MOVED_ON = "moved on"
_logger = logging.getLogger("hosting.engine")


@dataclass
class Fenced:
    gone: bool                        # nothing of the owner's run is left to act on the task
    killed: list[int] = field(default_factory=list)
    why: str = ""                     # when not gone: why, for the task's summary


def fence(task_id: int, owner: Owner, **seen: object) -> Fenced | None:
    """Kill OWNER's tree for TASK_ID (on this host) and wait until it is gone. Returns None, and
    kills nothing, when the task is not running under OWNER any more (nor with the column values
    in SEEN, e.g. heartbeat_at=... as a reaper saw it): someone else settled it meanwhile."""
    if owner.host != hostname():
        raise ValueError(f"{owner.host} is not this host: its processes cannot be killed from here")
    row = Task.objects.filter(pk=task_id, state=Task.RUNNING, **owner.fields(), **seen).values("processes").first()
    if row is None:
        return None
    groups = row["processes"] or []
    proc = live_process(owner.pid, owner.started)
    killed: list[int] = []
    tree: list[psutil.Process] = []
    why = ""
    # This process itself: the run in it that owned the task is over (a reaper's settling
    # thread that died; the reaper keeps the ids it is still settling and skips those).
    if proc is not None and proc.pid != os.getpid():
        why = _spared(task_id, owner, proc, {int(g.get("pid", 0)) for g in groups})
        if not why:
            tree = _kill_owner(proc)
            killed += [p.pid for p in tree]
    # Programs that left the tree (own sessions re-parented to init, daemons) are the task's too.
    killed += kill_task_processes(task_id, groups)
    killed = sorted(set(killed))
    if tree and wait_dead(tree, CONFIRM_WITHIN):
        alive = [p.pid for p in tree if running(p)]
        return Fenced(False, killed, f"its worker (pid {owner.pid}) and its processes {alive} were still there "
                                     f"{CONFIRM_WITHIN:g} s after SIGKILL")
    if why and why != MOVED_ON:
        return Fenced(False, killed, why)
    return Fenced(True, killed)


def _spared(task_id: int, owner: Owner, proc: psutil.Process, recorded: set[int]) -> str:
    """Why the owner process must not be killed, or "" (RECORDED: the pids of the process
    groups the task's heartbeat recorded, for programs that cleared their environment)."""
    try:
        if proc.pid in {p.pid for p in psutil.Process().parents()}:
            return f"its owner (pid {owner.pid}) is an ancestor of this process"
    except psutil.Error:
        pass
    fresh = lost_before(clock.db_now())
    if Task.objects.filter(state=Task.RUNNING, heartbeat_at__gte=fresh, **owner.fields()).exclude(pk=task_id).exists():
        return MOVED_ON
    wanted = mark_env(task_id, owner)[MARK]
    try:
        children = proc.children()
    except psutil.Error:
        children = []
    for child in children:
        try:
            if child.pid in recorded or child.status() == psutil.STATUS_ZOMBIE or child.environ().get(MARK) == wanted:
                continue
        except psutil.Error:
            continue
        return (f"its owner (pid {owner.pid}) also runs processes that are not this task's (pid {child.pid}: "
                "a cluster's main process?), so it was not killed")
    return ""


def _kill_owner(proc: psutil.Process) -> list[psutil.Process]:
    """SIGKILL PROC, then its descendants (listed first: once it is dead they are re-parented
    and can no longer be found through it). Returns every process signalled."""
    try:
        tree = [proc, *proc.children(recursive=True)]
    except psutil.Error:
        tree = [proc]
    for member in tree:
        try:
            member.send_signal(signal.SIGKILL)
        except psutil.NoSuchProcess:
            continue
        except psutil.Error as exc:
            _logger.warning("could not kill process %s: %s", member.pid, exc)
    return tree


