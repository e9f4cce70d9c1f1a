"""Cron runs through a real qcluster: does a server with 2 workers keep 10,000 hourly sites' cron
within their interval, and what does a run cost the engine?

    .venv/bin/python bench/cron_workers.py [--database sqlite|postgresql|URL] [--represents 10000]
        [--interval 3] [--minutes 6] [--workers 2] [--drush-sleep 0]

Compressed, at the same rate: 10,000 hourly sites start 10,000 / 60 = 167 runs a minute; here
REPRESENTS * INTERVAL / 60 real sites (500 for a 3-minute interval: a demo platform with real
SQLite site databases, settings.php and the stand-in drush, bench/fleet.py) run cron every
INTERVAL minutes, so the workers see the same runs a minute as the full fleet on one server, for
MINUTES minutes of ticks. The scheduler's tick runs in this process once a real minute (as
django-q2's schedule would; its own cost at 10,000 sites is bench/cron_scheduling.py's), the runs
in a real `manage.py qcluster` with WORKERS workers and HARBORMASTER_CRON_CONCURRENCY 2. Each site
waits for its slot (its last run is recorded as the slot before), so no first-tick burst.

Prints: the stand-in drush's core:cron alone (baseline); the cluster's CPU per run, with its idle
CPU measured first and taken out; run duration, queue wait, and for every run how long after its
slot began it finished (within the interval or not); slots never queued; on PostgreSQL the rows
inserted, updated and deleted per run by table (pg_stat_user_tables: every process, the workers'
heartbeats, log lines and broker included). --drush-sleep adds seconds to each drush core:cron
(the stand-in's sleep-core:cron file), to find the drush time the workers still keep up with."""
from __future__ import annotations

import argparse
import os
import shutil
import statistics
import time
from datetime import timedelta

from fleet import build, cluster_cpu, cluster_env, describe, instance, load, own_cpu


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--database", default="sqlite", help="sqlite, postgresql or a PostgreSQL URL (recreated!)")
    parser.add_argument("--represents", type=int, default=10_000, help="hourly sites whose run rate is played")
    parser.add_argument("--interval", type=int, default=3, help="minutes between a site's runs here")
    parser.add_argument("--minutes", type=int, default=6, help="ticks (real minutes) of the measurement")
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--drush-sleep", type=float, default=0.0, help="seconds added to each drush core:cron")
    parser.add_argument("--idle", type=float, default=20.0, help="seconds of idle cluster CPU measured first")
    opts = parser.parse_args()
    sites_n = opts.represents * opts.interval // 60
    os.environ.update({"HARBORMASTER_CRON_MIN_INTERVAL": "1", "HARBORMASTER_CRON_INTERVAL": str(opts.interval),
                       "HARBORMASTER_CRON_CONCURRENCY": "2"})
    database = "postgresql://postgres@127.0.0.1:5432/hm_cron" if opts.database in ("pg", "postgresql") \
        else opts.database
    scratch = instance(database, 5.0, "hm-bench-cronw-")
    import logging

    logging.getLogger("harbormaster.tasks").setLevel(logging.WARNING)
    from tests.engine.clusters import ClusterFactory

    factory = ClusterFactory(scratch)
    try:
        platform, sites = build(scratch, sites_n, 10)
        if opts.drush_sleep:
            (scratch / "platforms" / "fleet" / ".standin").mkdir(exist_ok=True)
            (scratch / "platforms" / "fleet" / ".standin" / "sleep-core:cron").write_text(str(opts.drush_sleep))
        drush_baseline(platform, sites[:40])
        measure(factory, opts, sites)
    finally:
        factory.kill_all()
        shutil.rmtree(scratch, ignore_errors=True)


def drush_baseline(platform, sites) -> None:
    """The stand-in's `drush core:cron` alone, one site after another: its wall time and CPU."""
    import io

    from hosting.operations import resources
    from provision import drush
    from provision.runner import Runner

    root, docroot = resources.platform_root(platform), resources.docroot(platform)
    walls, kids0 = [], own_cpu()[1]
    for site in sites:
        runner = Runner(lambda _level, _line: None)
        started = time.perf_counter()
        runner.run([drush.find_drush(root), f"--root={docroot}", f"--uri={site.domain}", "--yes", "core:cron"],
                   cwd=docroot, stdout=io.BytesIO(), quiet=True)
        walls.append(time.perf_counter() - started)
    cpu = (own_cpu()[1] - kids0) / len(sites)
    print(f"baseline: stand-in drush core:cron alone: {describe(walls, 'ms', 1000)}; CPU {cpu * 1000:.1f} ms a call")


def pg_rows() -> dict[str, tuple[int, int, int]]:
    from django.db import connection

    if connection.vendor != "postgresql":
        return {}
    with connection.cursor() as cursor:
        cursor.execute("SELECT pg_stat_force_next_flush()")
        time.sleep(1.5)
        cursor.execute("SELECT relname, n_tup_ins, n_tup_upd, n_tup_del FROM pg_stat_user_tables")
        return {name: (i, u, d) for name, i, u, d in cursor.fetchall()}


def measure(factory, opts, sites) -> None:
    from django.db import connection
    from django.utils import timezone
    from django_q.models import Schedule

    from hosting import cron
    from hosting.models import CronRun, SiteCron, Task

    # This process ticks once a minute; the cluster must not tick too.
    Schedule.objects.filter(func="hosting.cron.tick").delete()
    w = opts.workers
    cluster = factory.start("local", workers=w, heartbeat=5.0, env=cluster_env(w))
    time.sleep(3)
    idle0, t_idle = cluster_cpu(cluster), time.monotonic()
    time.sleep(opts.idle)
    idle_rate = (sum(cluster_cpu(cluster).values()) - sum(idle0.values())) / (time.monotonic() - t_idle)
    print(f"[{connection.vendor}] {len(sites)} sites every {opts.interval} min = "
          f"{len(sites) / opts.interval:.0f} runs a minute ({opts.represents} hourly sites' rate), {w} workers, "
          f"drush sleep {opts.drush_sleep} s; idle cluster CPU {idle_rate * 1000:.1f} ms/s ({load()})")

    # As if the scheduler had run until a minute ago: the first tick takes one minute's slots.
    seeded = timezone.now() - timedelta(minutes=1)
    SiteCron.objects.bulk_create([SiteCron(site=s, queued_at=cron.slot_start(s.pk, opts.interval, seeded))
                                  for s in sites])
    rows0, cpu0, t0 = pg_rows(), cluster_cpu(cluster), time.monotonic()
    due: dict[int, tuple[int, object, int]] = {}  # task id -> (site id, the slot it was queued for)
    ticks, queued_per_tick = [], []
    first = seeded
    for minute in range(opts.minutes):
        now = timezone.now()
        started = time.perf_counter()
        result = cron.tick(now)
        ticks.append(time.perf_counter() - started)
        queued_per_tick.append(len(result.queued))
        by_site = dict(Task.objects.filter(pk__in=result.queued).values_list("pk", "site_id"))
        for pk, site_id in by_site.items():
            due[pk] = (site_id, cron.slot_start(site_id, opts.interval, now), minute)
        last = now
        time.sleep(max(0.0, t0 + 60 * (minute + 1) - time.monotonic()))
    while cron.scheduled_runs().filter(state__in=Task.ACTIVE).exists():
        time.sleep(0.5)
    wall = time.monotonic() - t0
    cpu = {k: v - cpu0[k] for k, v in cluster_cpu(cluster).items()}
    cron.fold(limit=100_000)
    rows = pg_rows()
    report(opts, due, ticks, queued_per_tick, cpu, idle_rate, wall, first, last, sites, rows0, rows)
    runs = CronRun.objects.filter(task_id_was__in=list(due))
    assert runs.count() == len(due), (runs.count(), len(due))


def report(opts, due, ticks, queued_per_tick, cpu, idle_rate, wall, first, last, sites, rows0, rows) -> None:
    from hosting import cron
    from hosting.models import CronRun, SiteCron

    n = len(due)
    runs = list(CronRun.objects.filter(task_id_was__in=list(due)).values_list(
        "task_id_was", "started_at", "duration", "outcome"))
    after_slot = [(started + timedelta(seconds=duration) - due[pk][1]).total_seconds()
                  for pk, started, duration, _o in runs]
    waits = [(started - due[pk][1]).total_seconds() for pk, started, _d, _o in runs]
    failed = sum(o != SiteCron.OK for *_r, o in runs)
    limit = opts.interval * 60
    late = sum(a > limit for a in after_slot)
    # Every slot that began between the seeding and the last tick must have been queued.
    expected = 0
    for site in sites:
        slot = cron.slot_start(site.pk, opts.interval, last)
        while slot > first:  # FIRST: the seeding; LAST: the last tick
            expected += 1
            slot -= timedelta(minutes=opts.interval)
    total_cpu = sum(cpu.values()) - idle_rate * wall
    begun = min(started for _p, started, _d, _o in runs)
    ended = max(started + timedelta(seconds=d) for _p, started, d, _o in runs)
    by_tick: dict[int, float] = {}
    for (pk, *_rest), lag in zip(runs, after_slot, strict=True):
        by_tick[due[pk][2]] = max(by_tick.get(due[pk][2], 0.0), lag)
    print(f"runs: {n} queued over {opts.minutes} ticks (per tick {queued_per_tick}), {failed} failed; "
          f"tick here median {statistics.median(ticks) * 1000:.0f} ms")
    print(f"slots begun between the seeding and the last tick: {expected}; runs queued for them: {n}")
    print(f"run duration (task started -> finished): {describe([d for _p, _s, d, _o in runs], 'ms', 1000)}")
    print(f"slot start -> run started: {describe(waits)}")
    print(f"slot start -> run finished: {describe(after_slot)}; later than the {opts.interval}-minute interval: "
          f"{late} of {n}")
    print(f"throughput: {n / (ended - begun).total_seconds():.2f} runs/s from the first start to the last end "
          f"(offered: {len(sites) / opts.interval / 60:.2f} runs/s); latest finish after its slot, by tick: "
          + ", ".join(f"{by_tick[k]:.0f} s" for k in sorted(by_tick)))
    print(f"cluster CPU a run: {total_cpu / n * 1000:.1f} ms with the idle CPU taken out (workers "
          f"{cpu['workers'] / n * 1000:.1f}, their programs (drush) {cpu['programs'] / n * 1000:.1f}, rest "
          f"{cpu['rest'] / n * 1000:.1f} ms before that); wall {wall:.0f} s ({load()})")
    if rows:
        per = {}
        for name, (i, u, d) in rows.items():
            i0, u0, d0 = rows0.get(name, (0, 0, 0))
            if (i - i0, u - u0, d - d0) != (0, 0, 0):
                per[name] = ((i - i0) / n, (u - u0) / n, (d - d0) / n)
        print("rows a run (inserted/updated/deleted, every process): " + ", ".join(
            f"{k} {a:.2f}/{b:.2f}/{c:.2f}" for k, (a, b, c) in sorted(per.items())))


if __name__ == "__main__":
    main()
