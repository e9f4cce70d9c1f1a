"""Batch migrate of every site of a platform (issue 18): wall time, the per-site migrate time, and
the engine's share of the wall time.

    .venv/bin/python bench/batch_migrate.py [--database sqlite|postgresql|URL] [--sites 500]
        [--workers 2] [--window 2]

A throw-away instance (SQLite file or a recreated PostgreSQL database), a demo platform with SITES
installed sites (SQLite site databases), a second demo platform on the same server, a real
qcluster with WORKERS workers; then `manage.py platform migrate-sites SOURCE TARGET` as an operator
runs it, timed from the command's start until the batch is done. Printed: the wall time; each
migrate's duration (claim to end) and its steps' total (the provisioning work: backup, move,
settings, drush updatedb, vhost, drush status); the gap between one child's end and the next one's
start (the batch's advance, start_task, the hand-over, the claim); and the engine's share: the
part of the wall time not spent inside a step."""
from __future__ import annotations

import argparse
import shutil
import time

from fleet import build, cluster_env, describe, instance, load, manage


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--database", default="sqlite", help="sqlite, postgresql or a PostgreSQL URL.")
    parser.add_argument("--sites", type=int, default=500)
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--window", type=int, default=2, help="HARBORMASTER_BATCH_WINDOW of the cluster.")
    opts = parser.parse_args()

    scratch = instance(opts.database, 5.0, "hm-bench-batch-")
    from django.db import connection
    from django.utils import timezone

    from hosting.models import MigrationBatch, Platform, Task, TaskStep
    from provision.demo import VERSIONS, make_platform
    from tests.engine.clusters import ClusterFactory

    source, _sites = build(scratch, opts.sites, 0)
    root = make_platform(scratch / "platforms" / "target")
    target = Platform.objects.create(name="target", server=source.server, path=str(root), docroot=str(root),
                                     drupal_version=VERSIONS[10], status=Platform.ENABLED, verified_at=timezone.now())
    factory = ClusterFactory(scratch)
    try:
        factory.start("local", workers=opts.workers, heartbeat=5.0,
                      env=cluster_env(opts.workers, {"HARBORMASTER_BATCH_WINDOW": str(opts.window)}))
        t0 = time.monotonic()
        done = manage("platform", "migrate-sites", source.name, target.name, "--json")
        if done.returncode:
            raise SystemExit(done.stderr)
        batch = None
        while batch is None or batch.state not in MigrationBatch.FINAL:
            time.sleep(0.2)
            batch = MigrationBatch.objects.filter(source=source).first()
            if batch is not None:
                batch.refresh_from_db()
            if time.monotonic() - t0 > 7200:
                raise SystemExit("the batch did not finish in 2 hours")
        wall = time.monotonic() - t0
        ids = list(batch.items.values_list("task_id", flat=True))
        rows = list(Task.objects.filter(pk__in=ids).order_by("started_at").values_list("started_at", "finished_at"))
        durations = [(f - s).total_seconds() for s, f in rows]
        gaps = [max(0.0, (b[0] - a[1]).total_seconds()) for a, b in zip(rows, rows[1:], strict=False)]
        steps = [(f - s).total_seconds() for s, f in TaskStep.objects.filter(task_id__in=ids)
                 .values_list("started_at", "finished_at") if s and f]
        work = sum(steps)
        print(f"[{connection.vendor}] {opts.sites} sites, {opts.workers} workers, window {opts.window} ({load()})")
        print(f"  batch: {batch.summary} wall {wall:.1f} s = {wall / opts.sites * 1000:.0f} ms a site")
        print(f"  migrate task: {describe(durations, 'ms', 1000)}; sum {sum(durations):.1f} s")
        span = (rows[-1][1] - rows[0][0]).total_seconds()
        print(f"  inside steps: sum {work:.1f} s = {work / len(ids) * 1000:.0f} ms a site; first child's start to "
              f"last child's end {span:.1f} s")
        print(f"  gap child end -> next start: {describe(gaps, 'ms', 1000)}")
        print(f"  engine share of the wall time (not inside a step): {(wall - work) / wall * 100:.1f}% "
              f"({wall - work:.1f} s); outside a migrate task: {(wall - sum(durations)) / wall * 100:.1f}%")
    finally:
        factory.kill_all()
        shutil.rmtree(scratch, ignore_errors=True)


if __name__ == "__main__":
    main()
