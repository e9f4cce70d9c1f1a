"""The engine's own CPU per task (issue 20: at most 15 ms), profiled in this process.

    .venv/bin/python bench/engine_cpu.py [--database sqlite|postgresql|URL] [--tasks 50] [--top 25]

A fresh database, TASKS one-step tasks (`sh: true`, as bench/engine_latency.py) queued on distinct
sites and run one after the other by `hosting.engine.worker.execute` in this process, as a worker
runs them (claim, heartbeat thread, step, log, state lines, ending). Prints the median CPU time of
this process per task (the `true` child's own CPU is not counted: it is the step's, not the
engine's), then cProfile's functions by cumulative time over all TASKS."""
from __future__ import annotations

import cProfile
import io
import pstats
import statistics
import time

from engine_common import arguments, nodes, setup, vendor


def main() -> None:
    parser = arguments(__doc__.splitlines()[0])
    parser.add_argument("--tasks", type=int, default=50)
    parser.add_argument("--top", type=int, default=25)
    opts = parser.parse_args()
    setup(opts.database, opts.heartbeat)
    from hosting.actions import queue_task
    from hosting.engine.worker import execute
    from hosting.models import Task

    _server, sites = nodes(opts.tasks + 3)
    args = {"steps": [{"name": "noop", "sh": "true"}]}
    for site in sites[:3]:  # warm-up: imports, connections, caches
        execute(queue_task(site, "verify", args=args).pk)
    ids = [queue_task(site, "verify", args=args).pk for site in sites[3:]]
    cpus, walls = [], []
    profile = cProfile.Profile()
    for task_id in ids:
        cpu, wall = time.process_time(), time.perf_counter()
        profile.enable()
        outcome = execute(task_id)
        profile.disable()
        cpus.append(time.process_time() - cpu)
        walls.append(time.perf_counter() - wall)
        assert outcome == Task.SUCCEEDED, outcome
    print(f"[{vendor()}] {len(ids)} tasks: engine CPU per task median {statistics.median(cpus) * 1e3:.1f} ms "
          f"(min {min(cpus) * 1e3:.1f}, max {max(cpus) * 1e3:.1f}); "
          f"wall median {statistics.median(walls) * 1e3:.1f} ms "
          "(CPU with the profiler on: compare runs of this script only)")
    out = io.StringIO()
    pstats.Stats(profile, stream=out).sort_stats("cumulative").print_stats(opts.top)
    print(out.getvalue())


if __name__ == "__main__":
    main()
