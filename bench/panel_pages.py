"""Server time and query count of every panel page and API list at issue 8's scale: 10,000
sites, 200,000 tasks, 2,000,000 log lines (bench/scale_data.py).

Generates the data into a scratch SQLite database (WAL, the production settings), then renders
each page in-process with Django's test client (middleware, view, queries, template: all a
gunicorn worker does, without the socket) and prints the median, the spread (min-max) and the
90th percentile of --runs renders, and the queries one render makes, for an admin and for a
client's manager. API lists are asked with a bearer token, as a client program would.
The target is a median under 50 ms and a query count that does not grow with the data.

    .venv/bin/python bench/panel_pages.py [--sites 10000] [--tasks 200000] [--lines 2000000]
        [--runs 15] [--keep DIR] [--only WORD]

--keep DIR reuses (or creates) the database in DIR instead of a temporary directory.
--database-url postgresql://.../NAME runs on that PostgreSQL database instead (filled if it has no tasks).
"""
from __future__ import annotations

import argparse
import shutil
import statistics
import sys
import tempfile
import time
import warnings
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

import scale_data  # noqa: E402


def pages() -> list[tuple[str, str, str]]:
    """(label, who, url) for every page and API list, with real ids from the generated data."""
    from django.urls import reverse

    from hosting import keyset
    from hosting.models import AuditEvent, Client, Lock, Platform, Server, Site, Task, TaskLog

    def last(qs) -> str:
        """?cursor= of the last page of QS (50 rows): the cursor after the 51st row from the end."""
        keys = keyset.ordering(qs)
        backwards = [("" if d else "-") + f.attname for f, d in keys]
        row = qs.order_by(*backwards)[50]
        return "cursor=" + keyset.encode(keyset.FORWARD, [getattr(row, f.attname) for f, _d in keys])

    deep_tasks = last(Task.objects.order_by("-created_at", "-id"))
    deep_sites = last(Site.objects.order_by("domain", "id"))
    deep_audit = last(AuditEvent.objects.order_by("-at", "-id"))

    acme = Client.objects.get(name="client000")
    site = Site.objects.filter(client=acme).order_by("pk").first()
    running = Lock.objects.order_by("pk").first().task_id
    # The member's task with the longest log: a finished task of theirs, opened at its end.
    old = Task.objects.filter(client=acme, state="succeeded").order_by("pk").first().pk
    longest = TaskLog.objects.filter(task_id=running).count()
    platform, server = Platform.objects.order_by("pk").first().pk, Server.objects.order_by("pk").first().pk
    rows = []
    for who in ("admin", "member"):
        task = running if who == "admin" else old
        lines = f"{longest:,}" if who == "admin" else "few"
        rows += [
            ("dashboard", who, reverse("dashboard")),
            ("dashboard health poll", who, reverse("dashboard") + "?part=health"),
            ("sites", who, reverse("site-list")),
            ("sites ?q=site0001", who, reverse("site-list") + "?q=site0001"),
            ("sites page 20 (OFFSET, now the first)", who, reverse("site-list") + "?page=20"),
            ("sites last page (cursor)", who, reverse("site-list") + "?" + deep_sites),
            ("site detail", who, reverse("site-detail", args=[site.pk])),
            ("platforms", who, reverse("platform-list")),
            ("platform detail", who,
             reverse("platform-detail", args=[site.platform_id if who == "member" else platform])),
            ("servers", who, reverse("server-list")),
            ("server detail", who, reverse("server-detail", args=[server])),
            ("tasks", who, reverse("task-list")),
            ("tasks ?state=failed", who, reverse("task-list") + "?state=failed"),
            ("tasks ?kind=backup&target=site0001", who, reverse("task-list") + "?kind=backup&target=site0001"),
            ("tasks last page (cursor)", who, reverse("task-list") + "?" + deep_tasks),
            (f"task detail ({lines} log lines)", who, reverse("task-detail", args=[task])),
            ("task log poll ?after=1990", who, reverse("task-log", args=[task]) + "?after=1990"),
            ("task control page (retry)", who, reverse("task-control", args=[old, "retry"])),
            ("locks", who, reverse("lock-list")),
            ("clients", who, reverse("client-list")),
            ("client detail", who, reverse("client-detail", args=[acme.pk])),
            ("audit", who, reverse("audit-list")),
            ("audit last page (cursor)", who, reverse("audit-list") + "?" + deep_audit),
            ("API tokens", who, reverse("token-list")),
            ("notification settings", who, reverse("notification-preferences")),
        ]
        api = "/api/v1"
        rows += [
            ("API sites", who, f"{api}/sites"),
            ("API sites ?page=20 (OFFSET)", who, f"{api}/sites?page=20"),
            ("API sites last page (cursor)", who, f"{api}/sites?{deep_sites}"),
            ("API platforms", who, f"{api}/platforms"),
            ("API servers", who, f"{api}/servers"),
            ("API clients", who, f"{api}/clients"),
            ("API tasks", who, f"{api}/tasks"),
            ("API tasks ?state=failed", who, f"{api}/tasks?state=failed"),
            (f"API tasks ?site={site.pk}", who, f"{api}/tasks?site={site.pk}"),
            ("API tasks ?page=100 (OFFSET)", who, f"{api}/tasks?page=100"),
            ("API tasks last page (cursor)", who, f"{api}/tasks?{deep_tasks}"),
            ("API task detail", who, f"{api}/tasks/{task}"),
            ("API task log", who, f"{api}/tasks/{task}/log"),
            ("API task log ?after=1500", who, f"{api}/tasks/{task}/log?after=1500"),
            ("API backups", who, f"{api}/backups"),
            (f"API backups ?site={site.pk}", who, f"{api}/backups?site={site.pk}"),
            ("API locks", who, f"{api}/locks"),
            ("API audit", who, f"{api}/audit"),
            ("API audit last page (cursor)", who, f"{api}/audit?{deep_audit}"),
        ]
    rows.append(("status (uncached checks)", "admin", reverse("status")))
    return rows


def measure(runs: int, only: str = "") -> list[tuple[str, str, list[float], int, int]]:
    from django.contrib.auth import get_user_model
    from django.db import connection
    from django.test import Client as HttpClient
    from django.test.utils import CaptureQueriesContext

    from hosting import health

    users = get_user_model()
    browsers, tokens = {}, {}
    for who in ("admin", "member"):
        browsers[who] = HttpClient()
        browsers[who].force_login(users.objects.get(username=who))
        tokens[who] = {"HTTP_AUTHORIZATION": f"Bearer {scale_data.token_for(who)}"}
    results = []
    for label, who, url in pages():
        if only and only not in label:
            continue
        api = url.startswith("/api/")
        # Polls are what htmx sends: only their partial is rendered.
        headers = tokens[who] if api else {"HTTP_HX_REQUEST": "true"} if "part=" in url or "/log/" in url else {}
        client = HttpClient() if api else browsers[who]
        times, queries = [], 0
        for i in range(runs + 2):
            health.clear_cache()
            connection.queries_log.clear()  # a full log (9,000 entries) would count 0
            with CaptureQueriesContext(connection) as captured:
                started = time.perf_counter()
                response = client.get(url, **headers)
                elapsed = (time.perf_counter() - started) * 1000
            if response.status_code != 200:
                raise SystemExit(f"{url} as {who}: HTTP {response.status_code} {response.content[:200]!r}")
            if i >= 2:  # two warm-up renders: template compilation, connection set-up
                times.append(elapsed)
            queries = len(captured)
        results.append((label, who, sorted(times), queries, len(response.content)))
    return results


def report(results: list[tuple[str, str, list[float], int, int]], runs: int) -> float:
    print(f"median, spread (min-max) and p90 of {runs} renders; queries of one render\n")
    print(f"{'page':40} {'as':7} {'median ms':>10} {'spread ms':>13} {'p90 ms':>7} {'queries':>8} {'KiB':>6}")
    worst = 0.0
    for label, who, times, queries, size in results:
        median = statistics.median(times)
        worst = max(worst, median)
        p90 = times[max(0, int(len(times) * 0.9) - 1)]
        spread = f"{times[0]:.1f}-{times[-1]:.1f}"
        flag = "  <-- over 50 ms" if median >= 50 else ""
        print(f"{label:40} {who:7} {median:10.1f} {spread:>13} {p90:7.1f} {queries:8d} {size / 1024:6.0f}{flag}")
    print(f"\nslowest median: {worst:.1f} ms (target: under 50 ms)")
    return worst


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--sites", type=int, default=10_000)
    parser.add_argument("--tasks", type=int, default=200_000)
    parser.add_argument("--lines", type=int, default=2_000_000, help="log lines in all")
    parser.add_argument("--runs", type=int, default=15)
    parser.add_argument("--keep", type=Path, help="reuse or create the database in this directory")
    parser.add_argument("--database-url", help="a scratch PostgreSQL database instead of SQLite")
    parser.add_argument("--only", default="", help="only the pages whose label contains this")
    options = parser.parse_args()
    warnings.filterwarnings("ignore", message="No directory at")  # static files are not collected here
    directory = options.keep or Path(tempfile.mkdtemp(prefix="hm-bench-"))
    directory.mkdir(parents=True, exist_ok=True)
    try:
        scale_data.setup_django(directory, options.database_url)
        if scale_data.is_empty():
            scale_data.fill(options.sites, options.tasks, options.lines)
        from hosting.models import Site, Task, TaskLog

        print(f"{Site.objects.count():,} sites, {Task.objects.count():,} tasks, {TaskLog.objects.count():,} log lines")
        report(measure(options.runs, options.only), options.runs)
    finally:
        if not options.keep:
            shutil.rmtree(directory, ignore_errors=True)


if __name__ == "__main__":
    main()
