"""What cron for every site costs the scheduler and the control database (hosting.cron), without
drush: N enabled sites on hourly cron, one simulated hour of minute ticks. Each tick folds the
runs of the minute before (they are marked finished here, as a worker would end them) and queues
the due sites through hosting.starting. Prints the spread (runs queued per minute), the time of a
tick, and the rows left behind: task rows (should stay about one minute's worth), compact runs.

    .venv/bin/python bench/cron_scheduling.py [--sites 10000] [--fail-every 0]

The drush time per run and the per-server cap decide whether the runs themselves keep up:
N / 60 runs a minute at HARBORMASTER_CRON_CONCURRENCY per server need drush under
60 * cap / (N / 60 / servers) seconds a run. Not measured here (see bench/load.py for the engine)."""
from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _setup import django_in  # noqa: E402


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sites", type=int, default=10_000)
    parser.add_argument("--fail-every", type=int, default=0, help="Every Nth run fails (0: none).")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="hm-cron-bench-") as tmp:
        django_in(Path(tmp))
        run(args.sites, args.fail_every, Path(tmp))


def run(n: int, fail_every: int, tmp: Path) -> None:
    import logging

    from django.db import connection
    from django_q.models import OrmQ

    logging.getLogger("harbormaster.tasks").setLevel(logging.WARNING)  # one line per state change

    from hosting import cron
    from hosting.models import AuditEvent, CronRun, Platform, Server, Site, Task

    server = Server.objects.create(name="web1", queue="local", hostname="localhost")
    platform = Platform.objects.create(name="p1", server=server, path=str(tmp / "p1"), status="enabled")
    Site.objects.bulk_create([Site(domain=f"s{i:05d}.example.test", platform=platform, status=Site.ENABLED)
                              for i in range(n)], batch_size=2000)
    base = datetime(2026, 12, 7, 12, 0, tzinfo=UTC)
    per_minute, tick_seconds, fold_counts = [], [], []
    started = time.perf_counter()
    for minute in range(61):
        now = base + timedelta(minutes=minute, seconds=30)
        t0 = time.perf_counter()
        result = cron.tick(now)
        tick_seconds.append(time.perf_counter() - t0)
        per_minute.append(len(result.queued))
        fold_counts.append(result.folded)
        # The worker's part, without drush: each queued run ends within its minute.
        for i, pk in enumerate(result.queued):
            failed = fail_every and i % fail_every == 0
            Task.objects.filter(pk=pk).update(state=Task.FAILED if failed else Task.SUCCEEDED,
                                              started_at=now, finished_at=now + timedelta(seconds=2),
                                              summary="Done: 1 step.")
        OrmQ.objects.all().delete()  # the broker's messages: no cluster reads them here
    total = time.perf_counter() - started
    queued = sum(per_minute[:60])
    print(f"sites: {n}, database: {connection.vendor}")
    print(f"runs queued in the hour: {queued} ({queued / n:.1%} of the sites: a site whose slot began in the "
          f"2 minutes before the first tick runs late once, then in its next slot)")
    print(f"runs queued per minute: mean {statistics.mean(per_minute[:60]):.1f}, max {max(per_minute[:60])}, "
          f"min {min(per_minute[:60])}")
    print(f"tick: median {statistics.median(tick_seconds) * 1000:.0f} ms, max {max(tick_seconds) * 1000:.0f} ms "
          f"(fold + due scan + queueing); whole hour {total:.1f} s")
    print(f"per queued run: {sum(tick_seconds) / max(1, queued) * 1000:.2f} ms of scheduler time")
    print(f"rows after the hour: tasks {Task.objects.count()} (the last minute's, not yet folded), "
          f"compact runs {CronRun.objects.count()}, audit events {AuditEvent.objects.count()}")
    print(f"per day at this rate: {queued * 24} task rows written and deleted, {queued * 24} audit events, "
          f"compact runs capped at HARBORMASTER_CRON_HISTORY per site")


if __name__ == "__main__":
    main()
