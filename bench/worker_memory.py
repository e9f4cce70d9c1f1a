"""A worker's memory over many real tasks (issue 8: flat over 10,000 tasks, no slow leak of the
kind that made Aegir's queue daemon restart itself every hour).

    .venv/bin/python bench/worker_memory.py [--database sqlite|postgresql|URL] [--tasks 10000]
        [--every 250] [--sites 200] [--workers 2] [--recycle configured|off|both]

A real qcluster on a throw-away instance runs TASKS site verifies of SITES real sites (the
stand-in drush, SQLite site databases): the task type that goes through every part of the engine
(claim, locks, step rows, state, log batches, heartbeat thread, the Runner's process group, pipes
and reader threads, the end and the wake-up) and of a real operation (settings.php, the site
database, the vhost files). Cheaper types (platform lock/unlock) never start a program and would
miss the Runner. Every EVERY finished tasks the RSS of each live worker and of the cluster's main
process (the housekeeping thread) is sampled with psutil; printed are the series and the slope of
the workers' mean RSS (least squares, KiB per 1,000 tasks) over everything after the first tenth.

Twice: with recycling as configured (Q_CLUSTER recycle=500: a worker is replaced after 500 tasks,
which resets its memory) and with recycling off (bench/settings_norecycle.py), so the second slope
is our own code's, not hidden by restarts. The baseline in the same run is the first sample of
each worker after its warm-up: a flat line has the slope near 0 and the last sample near it."""
from __future__ import annotations

import argparse
import itertools
import shutil
import statistics
import time

from fleet import build, cluster_env, instance, load

PROFILES = {"configured": {}, "off": {"DJANGO_SETTINGS_MODULE": "bench.settings_norecycle"}}


def rss_kib(proc) -> float | None:
    import psutil

    try:
        return proc.memory_info().rss / 1024
    except psutil.Error:
        return None


def slope(points: list[tuple[int, float]]) -> float:
    """KiB per 1,000 tasks, least squares over POINTS (tasks done, KiB)."""
    if len(points) < 2:
        return float("nan")
    xs, ys = [p[0] for p in points], [p[1] for p in points]
    mx, my = statistics.fmean(xs), statistics.fmean(ys)
    var = sum((x - mx) ** 2 for x in xs)
    return sum((x - mx) * (y - my) for x, y in zip(xs, ys, strict=True)) / var * 1000 if var else float("nan")


def median_slope(points: list[tuple[int, float]]) -> float:
    """KiB per 1,000 tasks, the median of the slopes between every two points (Theil-Sen): the
    allocator gives and takes back a megabyte or two at a time, which tilts least squares."""
    pairs = [(b[1] - a[1]) / (b[0] - a[0]) for a, b in itertools.combinations(points, 2) if b[0] != a[0]]
    return statistics.median(pairs) * 1000 if pairs else float("nan")


class Feeder:
    """Keeps one verify queued or running per site until TOTAL have been queued (a site is
    verified again once its last verify ended: no lock waits muddle the figures)."""

    def __init__(self, sites, total: int) -> None:
        self.sites, self.total, self.queued, self.active = sites, total, 0, {}

    def top_up(self) -> None:
        from hosting.actions import queue_task
        from hosting.models import Task

        ended = set(Task.objects.filter(pk__in=list(self.active.values()), state__in=Task.FINAL)
                    .values_list("pk", flat=True))
        self.active = {site: pk for site, pk in self.active.items() if pk not in ended}
        for site in self.sites:
            if self.queued >= self.total:
                return
            if site.pk not in self.active:
                self.active[site.pk] = queue_task(site, "verify").pk
                self.queued += 1


def run(profile: str, opts, sites, scratch) -> dict:
    from hosting.models import Task
    from tests.engine.clusters import ClusterFactory

    factory = ClusterFactory(scratch)
    started_ids = set(Task.objects.values_list("pk", flat=True))
    samples: list[dict] = []
    try:
        extra = dict(PROFILES[profile])
        if opts.malloc_arenas:
            extra["MALLOC_ARENA_MAX"] = str(opts.malloc_arenas)
        cluster = factory.start("local", workers=opts.workers, heartbeat=opts.heartbeat,
                                env=cluster_env(opts.workers, extra))
        feeder = Feeder(sites, opts.tasks)
        began, next_mark = time.monotonic(), opts.every
        print(f"\n[{profile}] {opts.tasks} site verifies, {opts.workers} workers ({load()})")
        print("   tasks  workers' RSS KiB (pid)                         main KiB   elapsed")
        while True:
            feeder.top_up()
            done = Task.objects.filter(state__in=Task.FINAL).exclude(pk__in=started_ids).count()
            if done >= next_mark or done >= opts.tasks:
                workers = {p.pid: rss_kib(p) for p in cluster.workers()}
                workers = {pid: kib for pid, kib in workers.items() if kib is not None}
                main = rss_kib(cluster.processes()[0]) if cluster.processes() else None
                samples.append({"done": done, "workers": workers, "main": main})
                shown = "  ".join(f"{kib:8.0f} ({pid})" for pid, kib in sorted(workers.items()))
                print(f"  {done:6d}  {shown:<46} {main or 0:8.0f}  {time.monotonic() - began:7.0f} s", flush=True)
                next_mark += opts.every
            if done >= opts.tasks:
                break
            time.sleep(0.5)
        bad = Task.objects.exclude(pk__in=started_ids).exclude(state=Task.SUCCEEDED).count()
        assert bad == 0, f"{bad} verifies did not succeed"
    finally:
        factory.kill_all()
    return summarise(profile, opts, samples)


def summarise(profile: str, opts, samples: list[dict]) -> dict:
    tail = [s for s in samples if s["done"] > opts.tasks // 10]
    points = [(s["done"], statistics.fmean(s["workers"].values())) for s in tail if s["workers"]]
    mains = [(s["done"], s["main"]) for s in tail if s["main"]]
    pids = {pid for s in samples for pid in s["workers"]}
    first, last = points[0][1], points[-1][1]
    result = {"profile": profile, "slope": slope(points), "median_slope": median_slope(points),
              "main_slope": slope(mains), "first": first, "last": last, "workers_seen": len(pids),
              "peak": max(kib for s in samples for kib in s["workers"].values())}
    print(f"[{profile}] workers' mean RSS over tasks {tail[0]['done']}-{tail[-1]['done']}: "
          f"{first:.0f} -> {last:.0f} KiB (peak of a worker {result['peak']:.0f}); slope "
          f"{result['slope']:+.1f} KiB per 1,000 tasks (Theil-Sen {result['median_slope']:+.1f}); "
          f"main process {result['main_slope']:+.1f}; {len(pids)} worker processes over the run ({load()})")
    return result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--database", default="sqlite", help="sqlite, postgresql, or a PostgreSQL URL (recreated!)")
    parser.add_argument("--tasks", type=int, default=10000)
    parser.add_argument("--every", type=int, default=250, help="sample every this many finished tasks")
    parser.add_argument("--sites", type=int, default=200)
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--heartbeat", type=float, default=5.0)
    parser.add_argument("--recycle", choices=("configured", "off", "both"), default="both")
    parser.add_argument("--malloc-arenas", type=int, default=0,
                        help="MALLOC_ARENA_MAX for the cluster (glibc), to tell allocator growth from a leak")
    opts = parser.parse_args()

    import logging

    scratch = instance(opts.database, opts.heartbeat, "hm-bench-memory-")
    logging.getLogger("harbormaster.tasks").setLevel(logging.WARNING)
    try:
        _platform, sites = build(scratch, opts.sites, clients=4)
        profiles = ["configured", "off"] if opts.recycle == "both" else [opts.recycle]
        results = [run(profile, opts, sites, scratch) for profile in profiles]
        print()
        for r in results:
            print(f"{r['profile']:>10}: slope {r['slope']:+.1f} KiB per 1,000 tasks (Theil-Sen "
                  f"{r['median_slope']:+.1f}; {r['first']:.0f} -> {r['last']:.0f} KiB, peak {r['peak']:.0f}, "
                  f"{r['workers_seen']} worker processes)")
    finally:
        shutil.rmtree(scratch, ignore_errors=True)


if __name__ == "__main__":
    main()
