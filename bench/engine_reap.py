"""SIGKILL-to-handled time of the task engine (goal: < 20 s with the default 5 s heartbeat).

    .venv/bin/python bench/engine_reap.py [--database sqlite|postgresql|URL] [--trials 5]

Runs a long task (with a grandchild that escapes its process group) in a real qcluster, then:
- kill: SIGKILLs the worker process running it (the reaper sees on this host that its owner is
  gone);
- hang: SIGSTOPs the worker instead (alive but silent, as a worker on a dead host looks: the
  reaper must wait for 3 missed beats);
and measures until the task is settled (re-queued) with its lock released and its programs
dead. Each trial's task is idempotent and quick on its second attempt."""
from __future__ import annotations

import signal
import time

import psutil
from engine_common import arguments, nodes, setup, summary, vendor

STEP = ('(sleep 300 &); if [ "$HM_ATTEMPT" = 1 ]; then sleep 300; fi')


def trial(site, how: str) -> float:
    from hosting.actions import queue_task
    from hosting.engine.processes import marked_processes
    from hosting.models import Lock, Task

    task = queue_task(site, "backup", args={"steps": [{"name": "copy", "sh": STEP}]})
    _until(lambda: Task.objects.filter(pk=task.pk, state=Task.RUNNING).exists() and
           len([p for p, t, _ in marked_processes() if t == task.pk]) >= 2, 30)
    tree = [p.pid for p, t, _ in marked_processes() if t == task.pk]
    worker = psutil.Process(Task.objects.get(pk=task.pk).owner_pid)
    worker.send_signal(signal.SIGKILL if how == "kill" else signal.SIGSTOP)
    start = time.monotonic()

    def handled() -> bool:
        row = Task.objects.filter(pk=task.pk).values("state", "attempt").first()
        requeued = row["state"] != Task.RUNNING or row["attempt"] > 1
        return requeued and not Lock.objects.filter(task_id=task.pk, task__attempt=1).exists() and \
            not any(_alive(pid) for pid in tree)
    _until(handled, 60)
    elapsed = time.monotonic() - start
    if how == "hang":
        worker.send_signal(signal.SIGKILL)
    _until(lambda: Task.objects.get(pk=task.pk).state == Task.SUCCEEDED, 60)
    return elapsed


def _alive(pid: int) -> bool:
    try:
        return psutil.Process(pid).status() != psutil.STATUS_ZOMBIE
    except psutil.Error:
        return False


def _until(predicate, timeout: float) -> None:
    give_up = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() > give_up:
            raise SystemExit("timed out")
        time.sleep(0.05)


if __name__ == "__main__":
    parser = arguments(__doc__.splitlines()[0])
    parser.add_argument("--trials", type=int, default=5)
    opts = parser.parse_args()
    scratch = setup(opts.database, opts.heartbeat)
    from tests.engine.clusters import ClusterFactory

    _server, sites = nodes(2 * opts.trials)
    factory = ClusterFactory(scratch)
    try:
        factory.start("local", workers=opts.workers, heartbeat=opts.heartbeat)
        for how, chunk in (("kill", sites[: opts.trials]), ("hang", sites[opts.trials:])):
            times = []
            for site in chunk:
                times.append(trial(site, how))
            stopped = "SIGKILLed" if how == "kill" else "SIGSTOPped"
            print(f"[{vendor()}] heartbeat {opts.heartbeat:g} s, worker {stopped}"
                  f" -> settled, lock freed, tree dead: {summary(times)}")
    finally:
        factory.kill_all()
