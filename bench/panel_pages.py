"""Server time of every panel page with 10,000 sites and 200,000 tasks.

Generates the data into a scratch SQLite database (WAL, the production settings), then renders
each page in-process with Django's test client (middleware, view, queries, template: all a
gunicorn worker does, without the socket) and prints the median and the 90th percentile of
--runs renders, for an admin and for a client member. The target is a median under 50 ms.

    .venv/bin/python bench/panel_pages.py [--sites 10000] [--tasks 200000] [--runs 15] [--keep DIR]

--keep DIR reuses (or creates) the database in DIR instead of a temporary directory.
"""
from __future__ import annotations

import argparse
import os
import random
import shutil
import statistics
import sys
import tempfile
import time
from datetime import timedelta
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

STATES = ["succeeded"] * 90 + ["warning"] * 3 + ["failed"] * 5 + ["cancelled"] * 2
KINDS = ["verify"] * 6 + ["backup"] * 3 + ["install", "restore", "clone", "migrate", "disable", "enable", "login-reset"]


def setup_django(directory: Path) -> None:
    os.environ["HARBORMASTER_DATA_DIR"] = str(directory)
    os.environ.pop("DATABASE_URL", None)
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "hosting.settings")
    os.environ.setdefault("HARBORMASTER_ALLOWED_HOSTS", "testserver")
    import django

    django.setup()
    from django.core.management import call_command

    call_command("migrate", verbosity=0)


def generate(n_sites: int, n_tasks: int) -> None:
    from django.contrib.auth import get_user_model
    from django.db import transaction
    from django.utils import timezone

    from hosting.models import Backup, Client, Lock, Membership, Platform, Server, Site, Task, TaskLog, TaskStep

    rng = random.Random(7)
    now = timezone.now()
    users = get_user_model()
    # Timestamps are part of the data: let created_at take the values given.
    for model in (Task, Backup, Site):
        model._meta.get_field("created_at").auto_now_add = False
    with transaction.atomic():
        admin = users.objects.create_superuser("admin", "a@example.test", "bench-pass-1")
        member = users.objects.create_user("member", "m@example.test", "bench-pass-1")
        clients = Client.objects.bulk_create([Client(name=f"client{i:03d}") for i in range(200)])
        Membership.objects.create(client=clients[0], user=member, role=Membership.MANAGER)
        servers = Server.objects.bulk_create([Server(name=f"web{i}", queue=f"web{i}", hostname=f"web{i}.example.test")
                                              for i in range(3)])
        platforms = Platform.objects.bulk_create([
            Platform(name=f"d{10 + i % 2}-{i:02d}", server=servers[i % 3], path=f"/srv/platforms/p{i:02d}",
                     drupal_version="10.3.1", status="locked" if i % 13 == 5 else "enabled", verified_at=now)
            for i in range(40)])
        sites = Site.objects.bulk_create([
            Site(domain=f"site{i:05d}.example.test", platform=platforms[i % 40], client=clients[i % 200],
                 status="disabled" if i % 50 == 7 else "enabled", db_name=f"site{i:05d}",
                 disk_files_bytes=rng.randint(1, 900) << 20, disk_db_bytes=rng.randint(1, 300) << 20,
                 created_at=now - timedelta(days=rng.randint(1, 400)), verified_at=now)
            for i in range(n_sites)], batch_size=2000)
        span = 90 * 86400
        batch: list[Task] = []
        for i in range(n_tasks):
            site = sites[rng.randrange(len(sites))]
            created = now - timedelta(seconds=span * (1 - i / n_tasks) + rng.random() * 60)
            took = timedelta(seconds=rng.uniform(0.5, 120))
            batch.append(Task(
                kind=rng.choice(KINDS), target_type="site", site=site, platform_id=site.platform_id,
                server_id=servers[(site.platform_id - 1) % 3].pk, client_id=site.client_id,
                target_label=site.domain, created_by=member if site.client_id == clients[0].pk else admin,
                state=rng.choice(STATES), created_at=created, started_at=created + timedelta(seconds=1),
                finished_at=created + timedelta(seconds=1) + took, attempt=1, summary="Done."))
            if len(batch) == 5000:
                Task.objects.bulk_create(batch)
                batch = []
        Task.objects.bulk_create(batch)
        # The live end of the queue: running (with locks), queued behind them, paused.
        live = []
        for i in range(20):
            site = sites[i * 37]
            live.append(Task(kind="backup", target_type="site", site=site, platform_id=site.platform_id,
                             server_id=servers[0].pk, client_id=site.client_id, target_label=site.domain,
                             created_by=admin, state="running", created_at=now - timedelta(minutes=3),
                             started_at=now - timedelta(minutes=2), heartbeat_at=now, owner_host="web0",
                             owner_pid=1000 + i, attempt=1))
        for i in range(60):
            site = sites[i * 37 % len(sites)]
            live.append(Task(kind="verify", target_type="site", site=site, platform_id=site.platform_id,
                             server_id=servers[0].pk, client_id=site.client_id, target_label=site.domain,
                             created_by=admin, state="queued" if i % 12 else "paused",
                             created_at=now - timedelta(minutes=1), waiting_reason="waiting for a worker"))
        live = Task.objects.bulk_create(live)
        Lock.objects.bulk_create([Lock(key=f"site:{t.site_id}", task=t) for t in live if t.state == "running"])
        detail = live[0]
        TaskStep.objects.bulk_create([TaskStep(task=detail, position=i, name=f"step{i}", state="done",
                                               started_at=now, finished_at=now) for i in range(8)])
        TaskLog.objects.bulk_create([TaskLog(task=detail, position=i, at=now, line=f"rsync: file {i} of 2000")
                                     for i in range(2000)], batch_size=2000)
        Backup.objects.bulk_create([
            Backup(site=sites[i % len(sites)], domain=sites[i % len(sites)].domain, client_id=sites[i % len(sites)].client_id,
                   path=f"/srv/backups/{i}.tar.zst", size=rng.randint(1, 500) << 20,
                   created_at=now - timedelta(hours=i)) for i in range(20000)], batch_size=2000)
    from django.db import connection

    with connection.cursor() as cursor:
        cursor.execute("ANALYZE")


def pages() -> list[tuple[str, str, str]]:
    """(label, who, url) for every page, with real ids from the generated data."""
    from django.urls import reverse

    from hosting.models import Client, Lock, Platform, Server, Site, Task

    acme = Client.objects.get(name="client000")
    site = Site.objects.filter(client=acme).order_by("pk").first()
    running = Lock.objects.order_by("pk").first().task_id
    old = Task.objects.filter(client=acme).order_by("pk").first().pk
    platform, server = Platform.objects.order_by("pk").first().pk, Server.objects.order_by("pk").first().pk
    rows = []
    for who in ("admin", "member"):
        own_site = site.pk
        rows += [
            ("dashboard", who, reverse("dashboard")),
            ("dashboard health poll", who, reverse("dashboard") + "?part=health"),
            ("sites", who, reverse("site-list")),
            ("sites ?q=site0001", who, reverse("site-list") + "?q=site0001"),
            ("sites page 20", who, reverse("site-list") + "?page=20"),
            ("site detail", who, reverse("site-detail", args=[own_site])),
            ("platforms", who, reverse("platform-list")),
            ("platform detail", who, reverse("platform-detail", args=[site.platform_id if who == "member" else platform])),
            ("servers", who, reverse("server-list")),
            ("server detail", who, reverse("server-detail", args=[server])),
            ("tasks", who, reverse("task-list")),
            ("tasks ?state=failed", who, reverse("task-list") + "?state=failed"),
            ("tasks ?kind=backup&target=site0001", who, reverse("task-list") + "?kind=backup&target=site0001"),
            ("tasks page 100", who, reverse("task-list") + "?page=100"),
            ("task detail (2,000 log lines)", who, reverse("task-detail", args=[running if who == "admin" else old])),
            ("task log poll ?after=1990", who, reverse("task-log", args=[running if who == "admin" else old]) + "?after=1990"),
            ("locks", who, reverse("lock-list")),
        ]
    rows.append(("status (uncached checks)", "admin", reverse("status")))
    return rows


def measure(runs: int) -> list[tuple[str, str, float, float, int]]:
    from django.contrib.auth import get_user_model
    from django.test import Client as HttpClient

    from hosting import health

    users = get_user_model()
    clients = {}
    for who in ("admin", "member"):
        clients[who] = HttpClient()
        clients[who].force_login(users.objects.get(username=who))
    results = []
    for label, who, url in pages():
        times = []
        for i in range(runs + 2):
            health.clear_cache()
            started = time.perf_counter()
            # Polls are what htmx sends: only their partial is rendered.
            poll = "part=" in url or "/log/" in url
            response = clients[who].get(url, **({"HTTP_HX_REQUEST": "true"} if poll else {}))
            elapsed = (time.perf_counter() - started) * 1000
            if response.status_code != 200:
                raise SystemExit(f"{url} as {who}: HTTP {response.status_code}")
            if i >= 2:  # two warm-up renders: template compilation, connection set-up
                times.append(elapsed)
        times.sort()
        results.append((label, who, statistics.median(times), times[int(len(times) * 0.9) - 1], len(response.content)))
    return results


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--sites", type=int, default=10_000)
    parser.add_argument("--tasks", type=int, default=200_000)
    parser.add_argument("--runs", type=int, default=15)
    parser.add_argument("--keep", type=Path, help="reuse or create the database in this directory")
    options = parser.parse_args()
    directory = options.keep or Path(tempfile.mkdtemp(prefix="hm-bench-"))
    directory.mkdir(parents=True, exist_ok=True)
    fresh = not (directory / "harbormaster.sqlite3").exists()
    try:
        setup_django(directory)
        if fresh:
            started = time.monotonic()
            generate(options.sites, options.tasks)
            print(f"generated {options.sites:,} sites and {options.tasks:,} tasks in {time.monotonic() - started:.0f} s "
                  f"({directory / 'harbormaster.sqlite3'})")
        from hosting.models import Site, Task

        print(f"{Site.objects.count():,} sites, {Task.objects.count():,} tasks; median and p90 of {options.runs} renders\n")
        print(f"{'page':40} {'as':7} {'median ms':>10} {'p90 ms':>8} {'KiB':>6}")
        worst = 0.0
        for label, who, median, p90, size in measure(options.runs):
            worst = max(worst, median)
            print(f"{label:40} {who:7} {median:10.1f} {p90:8.1f} {size / 1024:6.0f}")
        print(f"\nslowest median: {worst:.1f} ms (target: under 50 ms)")
    finally:
        if not options.keep:
            shutil.rmtree(directory, ignore_errors=True)


if __name__ == "__main__":
    main()
