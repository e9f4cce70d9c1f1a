"""Shared by bench/bulk_verify.py and bench/worker_memory.py: a throw-away instance with a
Drupal-shaped demo platform of many real sites (SQLite site databases, settings.php, files
directories, the stand-in drush), real `manage.py qcluster` processes on it, and figures of the
tasks they ran. Not a test: scripts that print figures."""
from __future__ import annotations

import os
import statistics
import subprocess
import sys
import tempfile
import time
from itertools import pairwise
from pathlib import Path

BASE = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(BASE))
sys.path.insert(0, str(BASE / "bench"))

from engine_common import _recreate_postgres, percentile  # noqa: E402

# Not engine_common's hm_bench: other benchmarks may recreate that one while this one runs.
DEFAULT_PG = "postgresql://postgres@127.0.0.1:5432/hm_bench_fleet"


def instance(database: str, heartbeat: float, prefix: str) -> Path:
    """Point Django at a fresh control database (a SQLite file in a temporary directory, or a
    recreated PostgreSQL database) with its own data directory and roots; returns the directory."""
    scratch = Path(tempfile.mkdtemp(prefix=prefix))
    if database == "sqlite":
        url = f"sqlite:///{scratch / 'control.sqlite3'}"
    else:
        url = DEFAULT_PG if database in ("postgresql", "pg") else database
        _recreate_postgres(url)
    data = scratch / "data"
    data.mkdir()
    os.environ.update({
        "DATABASE_URL": url, "DJANGO_SETTINGS_MODULE": "hosting.settings",
        "HARBORMASTER_DATA_DIR": str(data), "HARBORMASTER_ROOTS": str(scratch),
        "HARBORMASTER_SECRET_KEY": "bench-" + "x" * 40, "HARBORMASTER_HEARTBEAT": str(heartbeat),
        "HARBORMASTER_LOG_LEVEL": "WARNING", "HARBORMASTER_Q_LOG_LEVEL": "WARNING",
    })
    import django
    from django.core.management import call_command

    django.setup()
    call_command("migrate", verbosity=0)
    return scratch


def build(scratch: Path, sites: int, clients: int):
    """The local server, a demo platform with SITES installed sites, and their records spread
    over CLIENTS clients (none when 0). Returns (platform, [site, ...])."""
    from django.utils import timezone

    from hosting.inventory import local_server
    from hosting.models import Client, Platform, Site
    from provision.demo import VERSIONS, make_platform
    from provision.paths import safe_name

    started = time.monotonic()
    root = make_platform(scratch / "platforms" / "fleet", sites=sites, db_dir=scratch / "data" / "databases")
    platform = Platform.objects.create(name="fleet", server=local_server(), path=str(root), docroot=str(root),
                                       drupal_version=VERSIONS[10], status=Platform.ENABLED,
                                       verified_at=timezone.now())
    owners = [Client.objects.create(name=f"client{i}") for i in range(clients)] or [None]
    Site.objects.bulk_create([
        Site(domain=f"site{n}.example.test", platform=platform, client=owners[n % len(owners)],
             db_name=safe_name(f"site{n}.example.test", 48),  # the database make_platform made for it
             status=Site.ENABLED) for n in range(1, sites + 1)])
    records = list(Site.objects.filter(platform=platform).select_related("platform__server").order_by("pk"))
    _vhosts(records)
    print(f"built a platform with {sites} sites for {clients} clients in {time.monotonic() - started:.1f} s")
    return platform, records


def _vhosts(sites) -> None:
    """Each site's vhost, as its install left it: every round then measures the verify of a
    site that has been live for a while, not the first repair of a missing vhost."""
    from hosting.operations import resources
    from provision.runner import Runner

    if not sites:
        return
    web = resources.web_server(sites[0].platform.server, Runner(lambda _level, _line: None))
    for site in sites:
        web.write_vhost(resources.vhost_spec(site.domain, site.aliases, site.platform))


def cluster_env(workers: int, extra: dict[str, str] | None = None) -> dict[str, str]:
    """What a cluster gets on top of this process's environment: the production poll and
    settings (ClusterFactory's defaults are the tests' faster ones)."""
    return {"DJANGO_SETTINGS_MODULE": "hosting.settings", "HARBORMASTER_BROKER_POLL": "0.1",
            "HARBORMASTER_WORKERS": str(workers), **(extra or {})}


def manage(*args: str) -> subprocess.CompletedProcess[str]:
    """Run a management command as an operator would, on this instance."""
    return subprocess.run([sys.executable, str(BASE / "manage.py"), *args], cwd=BASE, env=os.environ.copy(),
                          capture_output=True, text=True, check=False)


def wait_final(ids: list[int], timeout: float, every: float = 0.2) -> float:
    """Wait until every task of IDS has ended; returns the monotonic time it was seen."""
    from hosting.models import Task

    give_up = time.monotonic() + timeout
    while Task.objects.filter(pk__in=ids).exclude(state__in=Task.FINAL).exists():
        if time.monotonic() > give_up:
            raise SystemExit(f"tasks not final after {timeout:.0f} s")
        time.sleep(every)
    return time.monotonic()


def task_figures(ids: list[int]) -> dict[str, list[float]]:
    """Per task of IDS: duration (started -> finished), queue wait (created -> started), and the
    gap a worker left between finishing one task and starting its next (dispatch latency)."""
    from hosting.models import Task

    rows = list(Task.objects.filter(pk__in=ids).values_list("created_at", "started_at", "finished_at", "owner_pid"))
    figures: dict[str, list[float]] = {
        "duration": [(f - s).total_seconds() for _c, s, f, _p in rows if s and f],
        "wait": [(s - c).total_seconds() for c, s, _f, _p in rows if s],
        "gap": [],
    }
    by_worker: dict[int, list[tuple]] = {}
    for _c, s, f, pid in rows:
        if s and f and pid:
            by_worker.setdefault(pid, []).append((s, f))
    for runs in by_worker.values():
        runs.sort()
        figures["gap"] += [(b[0] - a[1]).total_seconds() for a, b in pairwise(runs)]
    return figures


def step_medians(ids: list[int]) -> dict[str, float]:
    from hosting.models import TaskStep

    times: dict[str, list[float]] = {}
    for name, s, f in TaskStep.objects.filter(task_id__in=ids).values_list("name", "started_at", "finished_at"):
        if s and f:
            times.setdefault(name, []).append((f - s).total_seconds())
    return {name: statistics.median(v) for name, v in times.items()}


def describe(values: list[float], unit: str = "s", scale: float = 1.0) -> str:
    if not values:
        return "n=0"
    v = [x * scale for x in values]
    return (f"median {statistics.median(v):.3f} {unit} (p95 {percentile(v, 95):.3f}, "
            f"min {min(v):.3f}, max {max(v):.3f}, n={len(v)})")


def spread(values: list[float]) -> str:
    return f"{statistics.median(values):.2f} s ({min(values):.2f}-{max(values):.2f}, n={len(values)})"


def cluster_cpu(cluster) -> dict[str, float]:
    """CPU seconds used so far by a cluster's process tree (tests.engine.clusters.Cluster):
    `workers` (their own Python), `programs` (what workers ran and reaped: the drush calls),
    `rest` (main process, sentinel, pusher, monitor, and workers recycled meanwhile, whose
    totals land in the sentinel's children times: with recycling only the sum is exact). A
    reaped process counts in exactly one parent's children times and a live one in none, so
    no second is counted twice."""
    import psutil

    workers = {p.pid for p in cluster.workers()}
    totals = {"workers": 0.0, "programs": 0.0, "rest": 0.0}
    for proc in cluster.processes():
        try:
            times = proc.cpu_times()
        except psutil.Error:
            continue
        own, reaped = times.user + times.system, times.children_user + times.children_system
        if proc.pid in workers:
            totals["workers"] += own
            totals["programs"] += reaped
        else:
            totals["rest"] += own + reaped
    return totals


def own_cpu() -> tuple[float, float]:
    """CPU seconds of this process, and of its children it has reaped."""
    import resource

    me, kids = resource.getrusage(resource.RUSAGE_SELF), resource.getrusage(resource.RUSAGE_CHILDREN)
    return me.ru_utime + me.ru_stime, kids.ru_utime + kids.ru_stime


def load() -> str:
    one, five, _fifteen = os.getloadavg()
    return f"load average {one:.2f}/{five:.2f}"
