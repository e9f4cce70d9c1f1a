"""What cron for every site costs the scheduler, the control database and the panel (hosting.cron),
without drush: an instance of N sites (bench/scale_data.py: 200 clients, 3 servers, 40
platforms, 98% of the sites enabled, a task history), all on hourly cron, one simulated hour of
minute ticks. Each tick folds the runs of the minute before (marked finished here, as a worker
would end them) and queues the due sites through hosting.starting. Prints the spread (runs queued
per minute), the time of a tick and per run, the rows written per run by table (INSERT, UPDATE,
DELETE statements the scheduler's side issues), the rows added per day; then fills the compact
history to its steady state (HARBORMASTER_CRON_HISTORY runs a site) and renders the panel's site
list, site page (with its cron history), task list and dashboard: median of --runs renders and
the queries of one.

    .venv/bin/python bench/cron_scheduling.py [--sites 10000] [--fail-every 0]
        [--database-url postgresql://postgres@127.0.0.1:5432/hm_bench_cron]

The worker's side (claim, heartbeat, drush, finish) is bench/cron_workers.py."""
from __future__ import annotations

import argparse
import re
import shutil
import statistics
import sys
import tempfile
import time
from collections import Counter
from datetime import timedelta
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
import scale_data  # noqa: E402


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sites", type=int, default=10_000)
    parser.add_argument("--tasks", type=int, default=20_000, help="task history of the instance")
    parser.add_argument("--fail-every", type=int, default=0, help="Every Nth run fails (0: none).")
    parser.add_argument("--runs", type=int, default=15, help="renders of each panel page")
    parser.add_argument("--database-url", help="a scratch PostgreSQL database (recreated!) instead of SQLite")
    args = parser.parse_args()
    directory = Path(tempfile.mkdtemp(prefix="hm-cron-bench-"))
    try:
        if args.database_url:
            sys.path.insert(0, str(Path(__file__).resolve().parent))
            from engine_common import _recreate_postgres

            _recreate_postgres(args.database_url)
        scale_data.setup_django(directory, args.database_url)
        import logging

        logging.getLogger("harbormaster.tasks").setLevel(logging.WARNING)  # one line per state change
        scale_data.generate(args.sites, args.tasks, args.tasks * 10)
        hour(args.fail_every)
        scans()
        panel(args.runs)
    finally:
        shutil.rmtree(directory, ignore_errors=True)


class Writes:
    """Counts the INSERT, UPDATE and DELETE statements this process sends, by table."""

    PATTERN = re.compile(r'^\s*(INSERT INTO|UPDATE|DELETE FROM)\s+"?(\w+)"?', re.I)

    def __init__(self) -> None:
        self.counts: Counter[str] = Counter()

    def __call__(self, execute, sql, params, many, context):
        match = self.PATTERN.match(sql)
        if match:
            verb = match.group(1).split()[0].upper()
            self.counts[f"{verb} {match.group(2)}"] += len(params) if many and params else 1
        return execute(sql, params, many, context)

    def per(self, runs: int) -> str:
        return ", ".join(f"{key} {value / max(1, runs):.2f}" for key, value in sorted(self.counts.items()))


def hour(fail_every: int) -> None:
    from django.db import connection
    from django.utils import timezone
    from django_q.models import OrmQ

    from hosting import cron
    from hosting.models import AuditEvent, CronRun, Site, Task

    base = timezone.now().replace(second=0, microsecond=0)
    tasks_before, audit_before = Task.objects.count(), AuditEvent.objects.count()
    per_minute, tick_seconds, writes = [], [], Writes()
    started = time.perf_counter()
    with connection.execute_wrapper(writes):
        for minute in range(61):
            now = base + timedelta(minutes=minute, seconds=30)
            t0 = time.perf_counter()
            result = cron.tick(now)
            tick_seconds.append(time.perf_counter() - t0)
            per_minute.append(len(result.queued))
            # The worker's part, without drush: each queued run ends within its minute.
            for i, pk in enumerate(result.queued):
                failed = fail_every and i % fail_every == 0
                Task.objects.filter(pk=pk).update(state=Task.FAILED if failed else Task.SUCCEEDED,
                                                  started_at=now, finished_at=now + timedelta(seconds=2),
                                                  summary="Done: 1 step.")
            OrmQ.objects.all().delete()  # the broker's messages: no cluster reads them here
    total = time.perf_counter() - started
    queued = sum(per_minute[:60])
    enabled = Site.objects.filter(status=Site.ENABLED).count()
    print(f"sites: {Site.objects.count()} ({enabled} enabled), database: {connection.vendor}")
    print(f"runs queued in the hour: {queued} ({queued / enabled:.1%} of the enabled sites: the first tick also "
          "takes the slots of the 2 minutes before it, and a site busy with a task waits)")
    print(f"runs queued per minute: mean {statistics.mean(per_minute[:60]):.1f}, max {max(per_minute[:60])}, "
          f"min {min(per_minute[:60])}")
    print(f"tick: median {statistics.median(tick_seconds) * 1000:.0f} ms, max {max(tick_seconds) * 1000:.0f} ms "
          f"(fold + due scan + queueing); whole hour {total:.1f} s")
    print(f"scheduler time per run: {sum(tick_seconds) / max(1, queued) * 1000:.2f} ms")
    print(f"statements per run (scheduler's side, the bench's finishing UPDATE included): {writes.per(queued)}")
    added_tasks = Task.objects.count() - tasks_before
    added_audit = AuditEvent.objects.count() - audit_before
    print(f"rows after the hour: tasks +{added_tasks} (the last minute's, not yet folded), "
          f"compact runs {CronRun.objects.count()}, audit events +{added_audit} "
          f"({AuditEvent.objects.filter(action='task.queued', after__kind='cron').count()} task.queued of cron)")
    print(f"per day at this rate: {queued * 24} task rows written and deleted again, {added_audit * 24} audit "
          f"events, {queued * 24} compact runs written (capped at HARBORMASTER_CRON_HISTORY per site)")


def scans(rounds: int = 7) -> None:
    """Baseline in the same run: the due scan as it was (every site read whole with its platform,
    server and client, every SiteCron whole) against hosting.cron._due_sites (ids first)."""
    from django.utils import timezone

    from hosting import cron
    from hosting.models import SiteCron

    def whole() -> None:
        crons = {c.site_id: c for c in SiteCron.objects.all()}
        now = timezone.now()
        sites = cron.candidates().select_related("platform__server", "client")
        [s for s in sites if cron.is_due(s.pk, crons.get(s.pk), now)]

    times: dict[str, list[float]] = {"whole": [], "ids": []}
    for _ in range(rounds):
        for name, fn in (("whole", whole), ("ids", lambda: cron._due_sites(timezone.now()))):
            t0 = time.perf_counter()
            fn()
            times[name].append(time.perf_counter() - t0)
    old, new = statistics.median(times["whole"]), statistics.median(times["ids"])
    print(f"due scan of every site, median of {rounds}: ids first {new * 1000:.0f} ms; reading every site whole "
          f"(before) {old * 1000:.0f} ms; ratio {old / new:.1f}x")


def panel(runs: int) -> None:
    """Fill the compact history to its steady state, then render the pages an operator opens."""
    from django.conf import settings
    from django.contrib.auth import get_user_model
    from django.db import connection
    from django.test import Client as HttpClient
    from django.test.utils import CaptureQueriesContext
    from django.urls import reverse
    from django.utils import timezone

    from hosting.models import Client, CronRun, Site, SiteCron

    keep = settings.HARBORMASTER_CRON_HISTORY
    now = timezone.now()
    have = set(CronRun.objects.values_list("site_id", flat=True))
    rows = [CronRun(site_id=pk, started_at=now - timedelta(hours=h + 1), duration=1.5 + h % 3,
                    outcome=SiteCron.FAILED if h % 17 == 16 else SiteCron.OK, summary="Done: 1 step.",
                    log="PHP Warning: a failed run's tail\n" * 20 if h % 17 == 16 else "")
            for pk in Site.objects.values_list("pk", flat=True) for h in range(keep - (pk in have))]
    CronRun.objects.bulk_create(rows, batch_size=5000)
    with connection.cursor() as cursor:
        cursor.execute("ANALYZE")
    print(f"\ncompact history at steady state: {CronRun.objects.count():,} runs ({keep} a site)")
    acme = Client.objects.get(name="client000")
    site = Site.objects.filter(client=acme).order_by("pk").first()
    pages = [("sites", reverse("site-list")), ("site page (cron history)", reverse("site-detail", args=[site.pk])),
             ("tasks", reverse("task-list")), ("tasks ?kind=cron", reverse("task-list") + "?kind=cron"),
             ("dashboard", reverse("dashboard"))]
    users = get_user_model()
    print(f"{'page':28} {'as':7} {'median ms':>10} {'min-max ms':>14} {'queries':>8}")
    for who in ("admin", "member"):
        browser = HttpClient()
        browser.force_login(users.objects.get(username=who))
        for label, url in pages:
            times, queries = [], 0
            for i in range(runs + 2):
                connection.queries_log.clear()
                with CaptureQueriesContext(connection) as captured:
                    t0 = time.perf_counter()
                    response = browser.get(url)
                    elapsed = (time.perf_counter() - t0) * 1000
                if response.status_code != 200:
                    raise SystemExit(f"{url} as {who}: HTTP {response.status_code}")
                if i >= 2:
                    times.append(elapsed)
                queries = len(captured)
            print(f"{label:28} {who:7} {statistics.median(times):10.1f} {min(times):6.1f}-{max(times):<7.1f} "
                  f"{queries:8d}")


if __name__ == "__main__":
    main()
