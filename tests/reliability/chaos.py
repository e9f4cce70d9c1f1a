"""The chaos drill shared by tests/reliability/test_chaos.py (short) and bench/chaos.py (long):
real task types on Drupal-shaped demo platforms, run by real `qcluster` processes while a killer
SIGKILLs a random worker every few seconds and the whole cluster twice; then the promises are
checked from the outside (database rows, processes, files on disk, archives)."""
from __future__ import annotations

import random
import threading
import time
from collections import Counter, defaultdict
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from django.db import close_old_connections
from django.utils import timezone

KINDS = ["verify", "backup", "clone", "migrate", "disable", "enable", "delete"]
# Deletes are rarer: a deleted site takes every later task on it down with it (they fail).
WEIGHTS = [4, 4, 2, 2, 2, 2, 0.6]


def build_world(data: Path, n_sites: int, *, platforms: int = 2, drush_seconds: float = 1.0) -> dict[str, Any]:
    """A server with SQLite site databases, PLATFORMS demo platforms, N_SITES installed sites
    (installed in this process through the engine, before any chaos). Afterwards the stand-in
    drush sleeps DRUSH_SECONDS in each command, so that kills land in the middle of steps."""
    from hosting.engine.worker import execute
    from hosting.inventory import add_site
    from hosting.models import Platform, Server, Task
    from provision.demo import VERSIONS, make_platform
    from provision.platform import find_docroot

    for name in ("databases", "vhosts", "platforms", "backups"):
        (data / name).mkdir(parents=True, exist_ok=True)
    server = Server.objects.create(name="local", queue="local", hostname="localhost", http="none",
                                   web_conf_dir=str(data / "vhosts"), db_engine="sqlite",
                                   sqlite_dir=str(data / "databases"))
    made = []
    for index in range(platforms):
        root = make_platform(data / "platforms" / f"p{index}", drupal=10)
        made.append(Platform.objects.create(name=f"p{index}", server=server, path=str(root), status="enabled",
                                            docroot=str(find_docroot(root)), drupal_version=VERSIONS[10],
                                            verified_at=timezone.now()))
    sites = []
    for index in range(n_sites):
        site, task = add_site(f"chaos{index}.example.test", made[index % platforms])
        execute(task.pk)
        assert Task.objects.get(pk=task.pk).state == Task.SUCCEEDED, Task.objects.get(pk=task.pk).summary
        site.refresh_from_db()
        sites.append(site)
    for platform in made:
        standin = Path(platform.path) / ".standin"
        standin.mkdir(exist_ok=True)
        for command in ("status", "updatedb", "cache:rebuild"):
            (standin / f"sleep-{command}").write_text(str(drush_seconds))
    return {"server": server, "platforms": made, "sites": sites}


def queue_mix(world: dict[str, Any], n_tasks: int, rng: random.Random, spread: float = 0.0) -> list[int]:
    """N_TASKS tasks of mixed kinds on random sites of WORLD, queued evenly over SPREAD seconds
    (so that the killer finds work to interrupt all along); returns their ids."""
    from hosting.actions import queue_task
    from hosting.models import Site

    ids = []
    for index in range(n_tasks):
        site = Site.objects.get(pk=rng.choice(world["sites"]).pk)
        kind = rng.choices(KINDS, WEIGHTS)[0]
        args: dict[str, Any] = {}
        if kind == "clone":
            args = {"domain": f"clone{index}.chaos.example.test"}
        elif kind == "migrate":
            others = [p for p in world["platforms"] if p.pk != site.platform_id]
            args = {"platform": rng.choice(others).pk}
        ids.append(queue_task(site, kind, args=args).pk)
        time.sleep(spread / n_tasks)
    return ids


class Sampler(threading.Thread):
    """Looks at the task processes on this host every INTERVAL: two owners (workers) with live
    programs of one task at the same moment would be two attempts running at once."""

    def __init__(self, interval: float = 0.05) -> None:
        super().__init__(daemon=True)
        self.interval = interval
        self.stop = threading.Event()
        self.samples = 0
        self.overlaps: list[tuple[int, set[int]]] = []

    def run(self) -> None:
        from hosting.engine.processes import marked_processes

        while not self.stop.is_set():
            owners: dict[int, set[int]] = defaultdict(set)
            for _proc, task, owner in marked_processes():
                owners[task].add(owner)
            self.overlaps.extend((task, pids) for task, pids in owners.items() if len(pids) > 1)
            self.samples += 1
            self.stop.wait(self.interval)


class Killer(threading.Thread):
    """SIGKILLs a random busy worker process every 2 to 5 s; at the times in CLUSTER_KILLS (seconds
    after start) SIGKILLs the whole cluster and starts a new one with START."""

    def __init__(self, start: Callable[[], Any], rng: random.Random, cluster_kills: tuple[float, ...] = (10, 25),
                 every: tuple[float, float] = (2.0, 5.0)) -> None:
        super().__init__(daemon=True)
        self.start_cluster = start
        self.rng = rng
        self.cluster_kills = list(cluster_kills)
        self.every = every
        self.stop = threading.Event()
        self.cluster = start()
        self.worker_kills = 0
        self.whole_kills = 0

    def run(self) -> None:
        import signal

        began = time.monotonic()
        try:
            while not self.stop.wait(self.rng.uniform(*self.every)):
                if self.cluster_kills and time.monotonic() - began >= self.cluster_kills[0]:
                    self.cluster_kills.pop(0)
                    self.cluster.kill(signal.SIGKILL)
                    self.cluster.proc.wait(timeout=10)
                    self.whole_kills += 1
                    self.cluster = self.start_cluster()
                    continue
                # A random worker among those running a task. Not an idle one: a worker killed
                # while it waits in django-q2's task_queue.get() takes the queue's lock with it,
                # and the watchdog then restarts the whole cluster (exit 75; covered by
                # test_it_survives_sigkilled_idle_workers), which this drill does not measure.
                workers = [w for w in self.cluster.workers() if w.pid in running_owners()]
                if workers:
                    try:
                        self.rng.choice(workers).kill()
                        self.worker_kills += 1
                    except Exception:  # noqa: BLE001 - it may have died by itself meanwhile
                        pass
        finally:
            close_old_connections()


def running_owners() -> set[int]:
    from hosting.models import Task

    return set(Task.objects.filter(state=Task.RUNNING).values_list("owner_pid", flat=True))


def unsettled(ids: list[int]):
    """Tasks still to move on: running, or queued other than behind a paused task (which holds
    its locks until a human resumes, skips or aborts it: they wait, saying for whom)."""
    from hosting.models import Task

    return (Task.objects.filter(pk__in=ids, state__in=(Task.QUEUED, Task.RUNNING))
            .exclude(state=Task.QUEUED, waiting_on__state=Task.PAUSED))


def wait_settled(ids: list[int], timeout: float) -> bool:
    give_up = time.monotonic() + timeout
    while time.monotonic() < give_up:
        if not unsettled(ids).exists():
            return True
        time.sleep(0.25)
    return False


def verify_live_sites(timeout: float) -> tuple[list[str], int]:
    """Queue a verify of every live site not held by a paused task; problems and how many."""
    from hosting.actions import queue_task
    from hosting.models import Lock, Site, Task

    held = set(Lock.objects.filter(task__state=Task.PAUSED).values_list("key", flat=True))
    live = [s for s in Site.objects.filter(status__in=("enabled", "disabled")) if f"site:{s.pk}" not in held]
    tasks = {site.domain: queue_task(site, "verify").pk for site in live}
    if not wait_settled(list(tasks.values()), timeout):
        return [f"final verifies still active after {timeout} s"], len(live)
    problems = []
    for domain, pk in tasks.items():
        task = Task.objects.get(pk=pk)
        if task.state not in (Task.SUCCEEDED, Task.WARNING):
            problems.append(f"verify of {domain}: {task.state} {task.summary}")
    return problems, len(live)


def check_sites_on_disk() -> list[str]:
    """Every live site has its directory, a settings.php naming its own database, and rows."""
    from hosting.models import Lock, Site, Task
    from hosting.operations import resources
    from provision.settings_php import read_database_settings
    from tests.operations.conftest import query

    held = set(Lock.objects.filter(task__state=Task.PAUSED).values_list("key", flat=True))
    problems = []
    for site in Site.objects.filter(status__in=("enabled", "disabled")).select_related("platform"):
        if f"site:{site.pk}" in held:
            continue
        directory = resources.site_dir(site)
        settings_php = directory / "settings.php"
        if not settings_php.is_file():
            problems.append(f"{site.domain}: no {settings_php}")
            continue
        db = read_database_settings(settings_php)
        if site.db_name and Path(db.database).stem != site.db_name and db.database != site.db_name:
            problems.append(f"{site.domain}: settings.php names database {db.database}, record {site.db_name}")
        try:
            if not query(db, resources.docroot(site.platform), "SELECT * FROM users"):
                problems.append(f"{site.domain}: no users rows")
        except Exception as exc:  # noqa: BLE001 - reported as a broken promise
            problems.append(f"{site.domain}: database unreadable: {exc}")
    return problems


def check_backups() -> tuple[list[str], int]:
    from hosting.models import Backup
    from provision.backup.restore import verify_backup

    problems = []
    backups = list(Backup.objects.all())
    for backup in backups:
        try:
            verify_backup(backup.path)
        except Exception as exc:  # noqa: BLE001
            problems.append(f"backup {backup.path}: {exc}")
    return problems, len(backups)


@dataclass
class Report:
    figures: dict[str, Any] = field(default_factory=dict)
    problems: list[str] = field(default_factory=list)


def check_engine(ids: list[int], sampler: Sampler) -> Report:
    from hosting.models import Lock, Task

    report = Report()
    tasks = list(Task.objects.filter(pk__in=ids))
    states = Counter(t.state for t in tasks)
    report.figures.update({"tasks": len(tasks), "states": dict(states),
                           "attempts_max": max((t.attempt for t in tasks), default=0),
                           "requeued": sum(t.attempt > 1 for t in tasks),
                           "process_samples": sampler.samples,
                           "lost_and_handled": sum("lost" in t.summary.lower() or t.attempt > 1 for t in tasks),
                           "failures": dict(Counter(_reason(t.summary) for t in tasks if t.state == Task.FAILED))})
    behind_paused = {t.pk for t in tasks if t.state == Task.QUEUED and t.waiting_on_id
                     and t.waiting_reason and Task.objects.filter(pk=t.waiting_on_id, state=Task.PAUSED).exists()}
    report.figures["waiting_behind_paused"] = len(behind_paused)
    report.figures["paused"] = {f"#{t.pk} {t.kind}": t.summary for t in tasks if t.state == Task.PAUSED}
    for task in tasks:
        if task.pk in behind_paused:
            continue
        if task.state not in Task.FINAL and not (task.state == Task.PAUSED and task.summary):
            report.problems.append(f"task #{task.pk} {task.kind} is {task.state} without a reason")
    stale = Lock.objects.filter(task__state__in=Task.FINAL)
    report.problems += [f"lock {lock.key} held by final task #{lock.task_id}" for lock in stale]
    report.problems += [f"task #{task} ran in workers {sorted(pids)} at once" for task, pids in sampler.overlaps]
    return report


def _reason(summary: str) -> str:
    """A failure summary without the ids and names that make every one different."""
    import re

    return re.sub(r"[\w.-]*\d[\w.-]*", "N", summary)[:90]


def leftovers(data: Path) -> int:
    """Partial archives left in the backup directory (litter, not loss: counted, not failed)."""
    return sum(1 for _ in (data / "backups").rglob(".*.partial"))
