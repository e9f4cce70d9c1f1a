"""Import of an Aegir installation (issue 21): 3 platforms and 500 sites, then a verify of all.

    .venv/bin/python bench/aegir_import.py [--database sqlite|postgresql|URL] [--sites 500]
        [--platforms 3] [--workers 2]

A throw-away instance, an Aegir 3 installation generated as Aegir writes it (tests/aegir_install:
context files in ~/.drush, Drupal 7-shaped platforms, installed sites on SQLite databases of the
server's SQLite directory, settings.php and drushrc.php, clients, aliases), a real qcluster with
WORKERS workers, then `manage.py import_aegir DIR --dry-run` and `manage.py import_aegir DIR` as an
operator runs them: the wall time of each, and the time from the import's start until every
platform and site verify it queued has ended (and how many recorded their site's database)."""
from __future__ import annotations

import argparse
import json
import shutil
import time

from fleet import cluster_env, describe, instance, load, manage, task_figures, wait_final


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--database", default="sqlite", help="sqlite, postgresql or a PostgreSQL URL.")
    parser.add_argument("--sites", type=int, default=500, help="Sites in the Aegir installation.")
    parser.add_argument("--platforms", type=int, default=3, help="Platforms they are spread over.")
    parser.add_argument("--workers", type=int, default=2, help="Workers of the cluster.")
    opts = parser.parse_args()

    scratch = instance(opts.database, 5.0, "hm-bench-aegir-")
    from django.db import connection

    from hosting.inventory import local_server
    from hosting.models import Site, Task
    from tests.aegir_install import make_aegir
    from tests.engine.clusters import ClusterFactory

    server = local_server()
    started = time.monotonic()
    aegir = make_aegir(scratch, scratch / "data" / "databases")
    aegir.server()
    names = [f"platform_d7_{n}" for n in range(1, opts.platforms + 1)]
    for name in names:
        aegir.platform(name)
    for n in range(opts.sites):
        aegir.site(f"s{n}.example.test", names[n % len(names)], client=f"client{n % 10}",
                   aliases=(f"www.s{n}.example.test",), enabled=n % 25 != 0, https=n % 3)
    print(f"[{connection.vendor}] Aegir installation of {opts.platforms} platforms and {opts.sites} sites built in "
          f"{time.monotonic() - started:.1f} s on server {server.name} ({load()})")

    factory = ClusterFactory(scratch)
    try:
        factory.start("local", workers=opts.workers, heartbeat=5.0, env=cluster_env(opts.workers))
        t0 = time.monotonic()
        dry = manage("import_aegir", str(aegir.drush), "--dry-run", "--json")
        dry_wall = time.monotonic() - t0
        if dry.returncode:
            raise SystemExit(dry.stderr)
        print(f"import_aegir --dry-run: {dry_wall:.2f} s (counts {json.loads(dry.stdout)['counts']})")

        t0 = time.monotonic()
        done = manage("import_aegir", str(aegir.drush), "--json")
        import_wall = time.monotonic() - t0
        if done.returncode:
            raise SystemExit(done.stderr)
        result = json.loads(done.stdout)
        ids = result["tasks"]
        print(f"import_aegir: {import_wall:.2f} s, {result['counts']['platforms']} platforms, "
              f"{result['counts']['sites']} sites, {len(ids)} verifies queued")
        finished = wait_final(ids, timeout=3600)
        all_wall = finished - t0
        states = dict.fromkeys(Task.FINAL, 0)
        for state in Task.objects.filter(pk__in=ids).values_list("state", flat=True):
            states[state] += 1
        with_db = Site.objects.exclude(db_name="", db_file="").count()
        figures = task_figures(ids)
        print(f"every verify ended {all_wall:.2f} s after the import started ({opts.workers} workers, {load()}): "
              f"{', '.join(f'{k} {v}' for k, v in states.items() if v)}; {with_db} of "
              f"{Site.objects.count()} sites have their database recorded")
        print(f"  task duration: {describe(figures['duration'], 'ms', 1000)}")
        print(f"  queue wait:    {describe(figures['wait'])}")

        t0 = time.monotonic()
        again = manage("import_aegir", str(aegir.drush), "--json")
        print(f"a second import_aegir: {time.monotonic() - t0:.2f} s, counts {json.loads(again.stdout)['counts']}")
    finally:
        factory.kill_all()
        shutil.rmtree(scratch, ignore_errors=True)


if __name__ == "__main__":
    main()
