"""Bulk verify of a platform's sites through a real qcluster (issue 8: 1,000 sites with 2
workers on a 2-core machine in under 60 s).

    .venv/bin/python bench/bulk_verify.py [--database sqlite|postgresql|URL] [--sites 1000]
        [--workers 2] [--clients 10] [--rounds 3] [--baseline-sites 200]

A throw-away instance (control database and data directory in a temporary directory), a demo
platform with SITES real sites (SQLite site databases, settings.php, files directories, the
stand-in drush), a real `manage.py qcluster` with WORKERS workers, then per round
`manage.py verify --all --sites --wait` as an operator runs it: wall time from the command's
start until it reports every task final, and per task its duration, queue wait and the gap its
worker left before its next task.

Baselines in the same run, on BASELINE_SITES sites:
- drush: the verify's one program (`drush status --field=bootstrap`), WORKERS at a time;
- steps: the six verify steps called in this process, one site after another, without the
  engine (no task row, claim, step rows, log rows, heartbeat or broker);
- engine: the whole task through the engine in this process (`worker.execute`), no broker.
The cluster's ratio is its wall time against the drush baseline's, scaled to SITES."""
from __future__ import annotations

import argparse
import io
import re
import statistics
import time
from concurrent.futures import ThreadPoolExecutor
from typing import Any

from fleet import (
    build,
    cluster_cpu,
    cluster_env,
    describe,
    instance,
    load,
    manage,
    own_cpu,
    spread,
    step_medians,
    task_figures,
    wait_final,
)


class Measured:
    """Wall time and CPU (this process's own, and its reaped children's: the programs) of a block."""

    def __enter__(self) -> Measured:
        self.started, (self.cpu0, self.kids0) = time.perf_counter(), own_cpu()
        return self

    def __exit__(self, *_exc: object) -> None:
        cpu, kids = own_cpu()
        self.wall, self.cpu, self.programs = time.perf_counter() - self.started, cpu - self.cpu0, kids - self.kids0

    def per(self, n: int) -> str:
        return (f"{self.wall:.2f} s: {self.wall / n * 1000:.1f} ms a site; CPU a site "
                f"{self.cpu / n * 1000:.1f} ms in Python here, {self.programs / n * 1000:.1f} ms in programs")


class BareContext:
    """The Context a step receives (hosting.engine.steps.Context), without the engine: the log
    goes to a list, state stays in memory."""

    def __init__(self, task: Any, runner: Any) -> None:
        self.task, self.runner, self.state, self.lines = task, runner, {}, []

    def log(self, level: str, line: str) -> None:
        self.lines.append((level, line))

    def info(self, line: str) -> None:
        self.log("info", line)

    def warning(self, line: str) -> None:
        self.log("warning", line)

    def error(self, line: str) -> None:
        self.log("error", line)

    def check_stop(self) -> None:
        self.runner.check_stop()

    def check_owned(self) -> None:
        pass

    def save_state(self) -> None:
        pass

    def recording(self) -> Any:
        from django.db import transaction

        return transaction.atomic()

    def set_flag(self, key: str, value: Any) -> None:
        pass


def drush_baseline(platform, sites, workers: int) -> None:
    """Wall time of the verify's drush call for every site of SITES, WORKERS at a time."""
    from hosting.operations import resources
    from provision import drush
    from provision.runner import Runner

    root, docroot = resources.platform_root(platform), resources.docroot(platform)

    def one(site) -> None:
        out = io.BytesIO()
        runner = Runner(lambda _level, _line: None)
        argv = [drush.find_drush(root), f"--root={docroot}", f"--uri={site.domain}", "--yes", "status",
                "--field=bootstrap"]
        runner.run(argv, cwd=docroot, stdout=out, quiet=True)
        assert out.getvalue().strip() == b"Successful", out.getvalue()

    with ThreadPoolExecutor(workers) as pool:
        list(pool.map(one, sites))


def steps_baseline(sites) -> None:
    """Wall time of the six verify steps for every site of SITES, serially, without the engine."""
    from hosting.models import Task
    from hosting.operations.site_verify import verify_plan
    from provision.runner import Runner

    for site in sites:
        task = Task(target_type="site", kind="verify", site=site, platform=site.platform, args={})
        ctx = BareContext(task, Runner(lambda _level, _line: None))
        for step in verify_plan(task).steps:
            step.run(ctx)
        assert not any(level == "warning" for level, _ in ctx.lines), ctx.lines


def engine_baseline(sites) -> None:
    """Wall time of the whole verify task through the engine in this process, serially."""
    from django_q.models import OrmQ

    from hosting.actions import queue_task
    from hosting.engine.worker import execute
    from hosting.models import Task

    for site in sites:
        task = queue_task(site, "verify")
        assert execute(task.pk) == Task.SUCCEEDED, task.pk
    OrmQ.objects.all().delete()  # their messages: nobody is to deliver them again


def cluster_round(cluster, count: int) -> dict[str, Any]:
    """One `manage.py verify --all --sites --wait` with the cluster running."""
    from hosting.models import Task

    before = Task.objects.order_by("-pk").values_list("pk", flat=True).first() or 0
    cpu0, kids0, tree0 = *own_cpu(), cluster_cpu(cluster)
    started = time.monotonic()
    done = manage("verify", "--all", "--sites", "--wait")
    wall = time.monotonic() - started
    if done.returncode != 0:
        raise SystemExit(f"verify failed ({done.returncode}):\n{done.stdout[-2000:]}\n{done.stderr[-2000:]}")
    tree = cluster_cpu(cluster)
    ids = list(Task.objects.filter(pk__gt=before, kind="verify").values_list("pk", flat=True))
    queued = re.search(r"Queued (\d+)", done.stdout)
    assert queued and int(queued.group(1)) == count == len(ids), (done.stdout, len(ids))
    wait_final(ids, 60)
    bad = Task.objects.filter(pk__in=ids).exclude(state=Task.SUCCEEDED).count()
    assert bad == 0, f"{bad} verifies did not succeed"
    cpu = {k: tree[k] - tree0[k] for k in tree}
    cpu["command"] = own_cpu()[1] - kids0  # the verify command, reaped by subprocess.run
    assert own_cpu()[0] - cpu0 < wall  # (this process only polled)
    return {"wall": wall, "ids": ids, "cpu": cpu}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--database", default="sqlite", help="sqlite, postgresql, or a PostgreSQL URL (recreated!)")
    parser.add_argument("--sites", type=int, default=1000)
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--clients", type=int, default=10, help="sites are spread over this many clients")
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--baseline-sites", type=int, default=200)
    parser.add_argument("--heartbeat", type=float, default=5.0)
    parser.add_argument("--keep", action="store_true", help="keep the temporary directory")
    opts = parser.parse_args()

    import logging
    import shutil

    scratch = instance(opts.database, opts.heartbeat, "hm-bench-verify-")
    # The in-process baseline runs the engine here: its state lines are not figures.
    logging.getLogger("harbormaster.tasks").setLevel(logging.WARNING)
    from django.db import connection

    from hosting.models import Task
    from tests.engine.clusters import ClusterFactory

    factory = ClusterFactory(scratch)
    try:
        platform, sites = build(scratch, opts.sites, opts.clients)
        sample = sites[:opts.baseline_sites]
        n, w = len(sample), opts.workers
        print(f"[{connection.vendor}] baselines on {n} sites ({load()})")
        with Measured() as drush_only:
            drush_baseline(platform, sample, w)
        print(f"  drush status alone, {w} at a time: {drush_only.per(n)}")
        with Measured() as steps:
            steps_baseline(sample)
        print(f"  verify steps, serial, no engine:   {steps.per(n)}")
        with Measured() as engine:
            engine_baseline(sample)
        Task.objects.all().delete()
        print(f"  verify tasks, serial, engine in this process: {engine.per(n)}")

        cluster = factory.start("local", workers=w, heartbeat=opts.heartbeat, env=cluster_env(w))
        walls: list[float] = []
        per_task: list[dict[str, float]] = []
        for number in range(1, opts.rounds + 1):
            at_start = load()
            got = cluster_round(cluster, len(sites))
            walls.append(got["wall"])
            figures = task_figures(got["ids"])
            cpu = {"cluster": sum(v for k, v in got["cpu"].items() if k != "command") / len(sites) * 1000,
                   "command": got["cpu"]["command"] / len(sites) * 1000}
            per_task.append(cpu)
            print(f"round {number}: {len(sites)} verifies in {got['wall']:.2f} s with {w} workers "
                  f"({at_start} before, {load()} after)")
            print(f"  task duration: {describe(figures['duration'], 'ms', 1000)}")
            print(f"  queue wait:    {describe(figures['wait'])}")
            print(f"  worker gap between tasks: {describe(figures['gap'], 'ms', 1000)}")
            print("  step medians: " + ", ".join(f"{k} {v * 1000:.1f} ms" for k, v in step_medians(got["ids"]).items()))
            print("  CPU a task: " + ", ".join(f"{k} {v:.1f} ms" for k, v in cpu.items())
                  + f"; total {sum(cpu.values()):.1f} ms, of {w * got['wall'] / len(sites) * 1000:.1f} ms of "
                  f"{w} cores' wall time a task")
            # The tasks stay (deleting them under the running cluster would race its watcher of
            # task changes): each round sees the history of the ones before, as a panel would.

        middle = statistics.median(walls)
        drush_scaled = drush_only.wall / n * len(sites)
        steps_scaled = steps.wall / n * len(sites) / w
        cpu = {k: statistics.median(c[k] for c in per_task) for k in per_task[0]}
        print(f"\n[{connection.vendor}] {len(sites)} verifies, {w} workers: {spread(walls)}; goal < 60 s")
        print(f"baseline: the verify's drush call alone, {w} at a time, scaled to {len(sites)} sites: "
              f"{drush_scaled:.2f} s; ratio {middle / drush_scaled:.2f}x")
        print(f"baseline: the verify steps without the engine, serial, scaled and shared by {w}: "
              f"{steps_scaled:.2f} s; ratio {middle / steps_scaled:.2f}x")
        drush_cpu = drush_only.programs / n * 1000
        total = sum(cpu.values())
        print(f"CPU a task (median of rounds): {total:.1f} ms (cluster {cpu['cluster']:.1f}, verify command "
              f"{cpu['command']:.1f}); the stand-in drush alone takes {drush_cpu:.1f} ms a call: "
              f"{drush_cpu / total:.0%} of it, and the rest, {total - drush_cpu:.1f} ms, is the engine, django-q2 "
              "and the steps' own work")
    finally:
        factory.kill_all()
        if not opts.keep:
            shutil.rmtree(scratch, ignore_errors=True)


if __name__ == "__main__":
    main()
