"""Finding and killing the processes of a task, even after its worker was SIGKILLed
(Semaphore's orphan bug: a dead worker's child kept running and blocked its resource forever).

Two marks, because either alone can miss:
- every program a task runs gets HARBORMASTER_TASK=<instance>:<task>:<owner pid> in its
  environment, inherited by its whole tree, double-forked daemons included;
- the heartbeat records the process groups the task's Runner started (pid, pgid, start time)
  on the Task row, for programs that clear their environment (sudo, env -i).
Only this host's processes can be seen or killed; a reaper kills leftovers of tasks whose
owner ran here, and each host sweeps its own leftovers of tasks that are over."""
from __future__ import annotations

import logging
import os
import time
from collections.abc import Callable

import psutil
from django.conf import settings

from hosting.engine.instance import instance_key
from hosting.engine.owner import Owner
from provision.runner import LogFn, Runner, kill_tree

MARK = "HARBORMASTER_TASK"
_logger = logging.getLogger("hosting.engine")


def mark_env(task_id: int, owner: Owner) -> dict[str, str]:
    # The instance key sets this instance's task ids apart from another instance's (a test run,
    # a second panel) on the same host, as it does their Redis keys: task ids alone repeat.
    return {MARK: f"{instance_key()}:{task_id}:{owner.pid}"}


def task_runner(log: LogFn, task_id: int, owner: Owner, *, should_stop: Callable[[], str | None],
                seconds: float) -> Runner:
    """The Runner of one run of a task: its programs carry the task's mark, have SECONDS to
    finish, and get HOME in the data directory (never the worker's: provision.runner)."""
    return Runner(log, should_stop=should_stop, deadline=time.monotonic() + seconds,
                  env=mark_env(task_id, owner), home=str(settings.HARBORMASTER_DATA_DIR / "home"))


def parse_mark(value: str) -> tuple[str, int, int] | None:
    try:
        instance, task, pid = value.split(":")
        return instance, int(task), int(pid)
    except ValueError:
        return None


def marked_processes() -> list[tuple[psutil.Process, int, int]]:
    """(process, task id, owner pid) of this instance's task processes on this host."""
    me = instance_key()
    own = os.getpid()
    found = []
    for proc in psutil.process_iter():
        if proc.pid == own:
            continue
        try:
            value = proc.environ().get(MARK)
        except (psutil.Error, OSError):
            continue
        parsed = parse_mark(value) if value else None
        if parsed and parsed[0] == me:
            found.append((proc, parsed[1], parsed[2]))
    return found


def own_groups(task_id: int, owner: Owner) -> list[dict[str, float | int]]:
    """The process groups this worker started for TASK_ID: its children carrying the mark."""
    wanted = mark_env(task_id, owner)[MARK]
    groups = []
    try:
        children = psutil.Process(owner.pid).children()
    except psutil.Error:
        return []
    for child in children:
        try:
            if child.environ().get(MARK) != wanted:
                continue
            groups.append({"pid": child.pid, "pgid": os.getpgid(child.pid), "started": child.create_time()})
        except (psutil.Error, OSError):
            continue
    return groups


def kill_recorded(groups: list[dict]) -> list[int]:
    """Kill the recorded process groups that still exist. A leader that is gone leaves its
    group id unusable for new processes while members remain (Linux does not reuse a pid in
    use as a group id), so its group is still ours; a pid now held by a process with another
    start time is someone else's and is left alone."""
    killed: list[int] = []
    for group in groups or []:
        pid, pgid, started = int(group.get("pid", 0)), int(group.get("pgid", 0)), group.get("started")
        try:
            proc = psutil.Process(pid)
            if abs(proc.create_time() - float(started or 0)) >= 0.01:
                continue
            killed += kill_tree(pid)
        except psutil.NoSuchProcess:
            if pgid > 1:
                killed += kill_tree(pgid)
        except psutil.Error:
            continue
    return killed


def kill_task_processes(task_id: int, groups: list[dict] | None = None, *, spare_pid: int | None = None) -> list[int]:
    """Kill every process of TASK_ID on this host (except those of SPARE_PID, a live owner
    that goes on with the task). Returns the pids signalled."""
    killed = kill_recorded(groups or [])
    for proc, marked_task, owner_pid in marked_processes():
        if marked_task == task_id and owner_pid != spare_pid:
            killed += kill_tree(proc.pid)
    if killed:
        _logger.warning("killed leftover processes of task %s: %s", task_id, sorted(set(killed)))
    return sorted(set(killed))
