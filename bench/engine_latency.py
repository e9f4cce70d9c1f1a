"""Enqueue-to-running latency of the task engine (goal: p50 < 0.3 s, p99 < 1 s).

    .venv/bin/python bench/engine_latency.py [--database sqlite|postgresql|URL] [--tasks 200]

Starts a real qcluster on a fresh database, queues TASKS one-step tasks (`true`) at RATE per
second on distinct sites, and prints started_at - created_at percentiles; then the same for a
burst of all of them at once (where queueing behind busy workers adds to the figure)."""
from __future__ import annotations

import os
import time

from engine_common import arguments, nodes, setup, summary, vendor


def run(tasks: int, rate: float, workers: int, scratch) -> None:
    from hosting.actions import queue_task
    from hosting.models import Task
    from tests.engine.clusters import ClusterFactory

    _server, sites = nodes(tasks * 2)
    factory = ClusterFactory(scratch)
    args = {"steps": [{"name": "noop", "sh": "true"}]}
    try:
        factory.start("local", workers=workers, heartbeat=float(os.environ["HARBORMASTER_HEARTBEAT"]))
        for site in sites[:3]:  # warm-up: imports, connections
            queue_task(site, "verify", args=args)
        _wait_all(Task, 60)
        Task.objects.all().delete()

        paced = []
        for site in sites[:tasks]:
            paced.append(queue_task(site, "verify", args=args).pk)
            time.sleep(1 / rate)
        _wait_all(Task, 120)
        print(f"[{vendor()}] paced {rate:g}/s, {workers} workers: {_latencies(Task, paced)}")

        burst = [queue_task(site, "verify", args=args).pk for site in sites[tasks:]]
        _wait_all(Task, 300)
        print(f"[{vendor()}] burst of {tasks}, {workers} workers: {_latencies(Task, burst)}")
    finally:
        factory.kill_all()


def _wait_all(Task, timeout: float) -> None:
    give_up = time.monotonic() + timeout
    while Task.objects.filter(state__in=Task.ACTIVE).exists():
        if time.monotonic() > give_up:
            raise SystemExit("tasks did not finish in time")
        time.sleep(0.2)


def _latencies(Task, ids: list[int]) -> str:
    rows = Task.objects.filter(pk__in=ids).values_list("created_at", "started_at", "state")
    bad = [state for _c, _s, state in rows if state != Task.SUCCEEDED]
    values = [(s - c).total_seconds() for c, s, _state in rows]
    return summary(values) + (f" ({len(bad)} not succeeded!)" if bad else "")


if __name__ == "__main__":
    parser = arguments(__doc__.splitlines()[0])
    parser.add_argument("--tasks", type=int, default=200)
    parser.add_argument("--rate", type=float, default=10.0, help="tasks queued per second (paced run)")
    opts = parser.parse_args()
    scratch = setup(opts.database, opts.heartbeat)
    run(opts.tasks, opts.rate, opts.workers, scratch)
