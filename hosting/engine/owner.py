"""Who runs a task: host, pid and the process's start time (pids are reused)."""
from __future__ import annotations

import os
import socket
from dataclasses import dataclass

import psutil

# Start times come from /proc in ticks; the float we store back from the database compares
# equal within this tolerance (a reused pid starting within 10 ms of the old one is not a risk).
_SAME_START = 0.01
# The start time of this process (one entry: the pid of whoever asked last).
_started: dict[int, float] = {}


@dataclass(frozen=True)
class Owner:
    host: str
    pid: int
    started: float | None  # as the task row has it, which may be NULL (fence checks it only when set)

    @classmethod
    def current(cls) -> Owner:
        # Keyed by pid: django-q2 forks workers, and each one is its own owner. A process's
        # start time never changes, so /proc is read once per process, not once per task.
        pid = os.getpid()
        if _started.get(pid) is None:
            _started.clear()
            _started[pid] = psutil.Process(pid).create_time()
        return cls(hostname(), pid, _started[pid])

    def fields(self) -> dict[str, object]:
        return {"owner_host": self.host, "owner_pid": self.pid, "owner_started": self.started}

    def is_here(self) -> bool:
        return self.host == hostname()


def hostname() -> str:
    return socket.gethostname()


def live_process(pid: int | None, started: float | None) -> psutil.Process | None:
    """PID on this host, if it runs (not a zombie) and is the process that started at STARTED
    (None: gone, or another process now holds the pid)."""
    if not pid:
        return None
    try:
        proc = psutil.Process(pid)
        if proc.status() == psutil.STATUS_ZOMBIE:
            return None
        if started is not None and abs(proc.create_time() - started) >= _SAME_START:
            return None
        return proc
    except psutil.Error:
        return None


def process_alive(pid: int | None, started: float | None) -> bool:
    """True when PID runs on this host and is the process that started at STARTED."""
    return live_process(pid, started) is not None
