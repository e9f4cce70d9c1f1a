"""The long chaos drill: 500 mixed tasks (verify, backup, clone, migrate, disable, enable,
delete) on 50 sites run by real qcluster processes while a random busy worker is SIGKILLed every
2-5 s and the whole cluster twice; then every promise is checked (tests/reliability/chaos.py).

    .venv/bin/python bench/chaos.py [--tasks 500] [--sites 50] [--seed 9] [--database sqlite|URL]

Prints one JSON line of figures; exits 1 if any promise was broken (the problems are listed).
Everything lives in a fresh scratch directory (and database); nothing outside it is touched."""
from __future__ import annotations

import json
import os
import random
import shutil
import signal
import sys
import tempfile
import time
from pathlib import Path

from engine_common import DEFAULT_PG, _recreate_postgres, arguments


def main() -> int:
    parser = arguments(__doc__.splitlines()[0])
    parser.add_argument("--tasks", type=int, default=500)
    parser.add_argument("--sites", type=int, default=50)
    parser.add_argument("--seed", type=int, default=9)
    parser.add_argument("--spread", type=float, default=150.0, help="seconds over which tasks are queued")
    parser.add_argument("--drush-seconds", type=float, default=0.3)
    parser.add_argument("--keep", action="store_true", help="keep the scratch directory")
    opts = parser.parse_args()
    # A TERM (timeout, Ctrl-C's cousin) must still run the finally below: the clusters live in
    # sessions of their own and would outlive this script.
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))
    scratch = Path(tempfile.mkdtemp(prefix="hm-chaos-"))
    if opts.database == "sqlite":
        url = f"sqlite:///{scratch / 'chaos.sqlite3'}"
    else:
        url = DEFAULT_PG if opts.database in ("postgresql", "pg") else opts.database
        _recreate_postgres(url)
    data = scratch / "data"
    (data / "backups").mkdir(parents=True)
    os.environ.update({"DATABASE_URL": url, "HARBORMASTER_HEARTBEAT": "0.5",
                       "DJANGO_SETTINGS_MODULE": "hosting.settings", "HARBORMASTER_DATA_DIR": str(data),
                       "HARBORMASTER_ROOTS": str(scratch), "HARBORMASTER_BACKUP_DIR": str(data / "backups"),
                       "HARBORMASTER_SECRET_KEY": "chaos-" + "x" * 40, "HARBORMASTER_LOG_LEVEL": "WARNING"})
    import django
    from django.core.management import call_command

    django.setup()
    call_command("migrate", verbosity=0)
    from tests.engine.clusters import ClusterFactory
    from tests.reliability import chaos

    factory = ClusterFactory(scratch)
    # The clusters must log their workers' pids (INFO) for the killer to find them.
    env = {"HARBORMASTER_LOG_LEVEL": "INFO", "DJANGO_SETTINGS_MODULE": "hosting.settings"}
    rng = random.Random(opts.seed)
    began = time.monotonic()
    try:
        world = chaos.build_world(data, opts.sites, drush_seconds=opts.drush_seconds)
        built = time.monotonic()
        sampler = chaos.Sampler(interval=0.1)
        sampler.start()
        killer = chaos.Killer(lambda: factory.start("local", workers=4, env=env), rng,
                              cluster_kills=(opts.spread * 0.25, opts.spread * 0.6))
        killer.start()
        ids = chaos.queue_mix(world, opts.tasks, rng, spread=opts.spread)
        settled = chaos.wait_settled(ids, 600)
        killer.stop.set()
        killer.join(timeout=30)
        sampler.stop.set()
        sampler.join(timeout=5)
        report = chaos.check_engine(ids, sampler)
        if not settled:
            report.problems.append("tasks still queued or running after 600 s")
        problems, live = chaos.verify_live_sites(300)
        report.problems += problems + chaos.check_sites_on_disk()
        problems, backups = chaos.check_backups()
        report.problems += problems
        report.figures.update({"sites": opts.sites, "worker_kills": killer.worker_kills,
                               "cluster_kills": killer.whole_kills, "live_sites_verified": live,
                               "backups_verified": backups, "partial_archives_left": chaos.leftovers(data),
                               "build_seconds": round(built - began, 1),
                               "chaos_seconds": round(time.monotonic() - built, 1), "database": opts.database})
    finally:
        factory.kill_all()
        if not opts.keep:
            shutil.rmtree(scratch, ignore_errors=True)
    print(json.dumps(report.figures, sort_keys=True))
    for problem in report.problems:
        print("PROBLEM", problem, file=sys.stderr)
    return 1 if report.problems else 0


if __name__ == "__main__":
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
    sys.exit(main())
