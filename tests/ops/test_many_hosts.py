"""Many hosts (README "Many hosts", DESIGN §4.11): two qcluster processes play two server hosts,
each with its own queue and its own root, sharing one PostgreSQL control database. Each server's
tasks run on its own cluster; SIGKILLing one whole cluster holds up only that server's tasks,
which wait (health says which queue nobody serves) and run once it is back."""
from __future__ import annotations

import signal
import time
from pathlib import Path

import pytest
from django.conf import settings
from django.db import connection

from hosting import health
from hosting.actions import queue_task
from hosting.models import Platform, Server, Site, Task
from tests.engine.clusters import ClusterFactory
from tests.engine.helpers import steps, wait_for
from tests.services import need_service

pytestmark = [pytest.mark.slow, pytest.mark.django_db(transaction=True)]


@pytest.fixture(autouse=True)
def engine_settings(settings):
    settings.HARBORMASTER_EXTRA_OPERATIONS = ["tests.engine.ops"]
    settings.HARBORMASTER_HEARTBEAT = 0.5
    return settings


@pytest.fixture
def clusters(transactional_db, tmp_path: Path):
    if connection.vendor != "postgresql":
        pytest.skip("many hosts share a PostgreSQL control database; this run's control database is "
                    f"{connection.vendor} (set DATABASE_URL to a PostgreSQL one)")
    need_service("postgresql")
    factory = ClusterFactory(tmp_path)
    try:
        yield factory
    finally:
        factory.kill_all()


class Host:
    """One server host: its Server row and queue, its root and data directory, a platform."""

    def __init__(self, name: str, tmp_path: Path) -> None:
        self.name = name
        self.root = tmp_path / f"{name}-root"
        (self.root / "data" / "backups").mkdir(parents=True)
        (self.root / "platform").mkdir()
        self.server = Server.objects.create(name=name, queue=name, hostname="localhost")
        self.platform = Platform.objects.create(name=f"{name}-p", server=self.server,
                                                path=str(self.root / "platform"), status="enabled")
        self.count = 0

    def env(self) -> dict[str, str]:
        # Every host has the same secret key (it signs broker messages), its own directories.
        return {"HARBORMASTER_SECRET_KEY": settings.SECRET_KEY, "HARBORMASTER_ROOTS": str(self.root),
                "HARBORMASTER_DATA_DIR": str(self.root / "data"),
                "HARBORMASTER_BACKUP_DIR": str(self.root / "data" / "backups")}

    def task(self, record: Path, seconds: float = 0.0, *, first_run_only: bool = False) -> Task:
        """A verify of a new site of this host that notes the root its worker was given, then
        sleeps SECONDS (on its first run only, if FIRST_RUN_ONLY)."""
        self.count += 1
        site = Site.objects.create(domain=f"s{self.count}.{self.name}.test", platform=self.platform,
                                   status="enabled")
        sleep = f'if [ "$HM_ATTEMPT" = 1 ]; then sleep {seconds}; fi' if first_run_only else f"sleep {seconds}"
        # The program sees none of the worker's settings, but its HOME is in the worker's data dir.
        script = f'echo "$HM_TASK $HOME" >> {record}; {sleep}'
        return queue_task(site, "verify", args=steps({"name": "v", "sh": script}))


def _state(task: Task) -> str:
    return Task.objects.get(pk=task.pk).state


def _all(tasks: list[Task], state: str) -> bool:
    return Task.objects.filter(pk__in=[t.pk for t in tasks], state=state).count() == len(tasks)


def _roots(record: Path) -> dict[int, str]:
    return {int(task): root for task, root in (line.split() for line in record.read_text().splitlines())}


def test_it_runs_each_servers_tasks_on_its_own_host_and_survives_one_host_dying(clusters, tmp_path, monkeypatch):
    record = tmp_path / "record.txt"
    alpha, beta = Host("alpha", tmp_path), Host("beta", tmp_path)
    a = clusters.start("alpha", workers=2, env=alpha.env())
    b = clusters.start("beta", workers=2, env=beta.env())

    # 1. Routing: each server's tasks run in its own cluster's processes, with its own root.
    first = {alpha: [alpha.task(record) for _ in range(3)], beta: [beta.task(record) for _ in range(3)]}
    wait_for(lambda: _all(first[alpha] + first[beta], Task.SUCCEEDED), timeout=30, what="the first tasks")
    for host, cluster in ((alpha, a), (beta, b)):
        pids = {p.pid for p in cluster.processes()}
        for task in first[host]:
            assert Task.objects.get(pk=task.pk).owner_pid in pids, f"{host.name}'s task ran elsewhere"
            assert _roots(record)[task.pk] == str(host.root / "data" / "home")

    # 2. One host dies (SIGKILL to its whole cluster) while each host runs a task.
    a_long, b_long = alpha.task(record, 2.0), beta.task(record, 30.0, first_run_only=True)
    wait_for(lambda: _state(a_long) == Task.RUNNING and _state(b_long) == Task.RUNNING, what="both long tasks")
    b.kill(signal.SIGKILL)
    b.proc.wait(timeout=10)
    a_more = [alpha.task(record, 0.2) for _ in range(4)]
    b_more = [beta.task(record) for _ in range(3)]

    # The other host goes on: its running task ends, its new tasks run.
    wait_for(lambda: _all([a_long, *a_more], Task.SUCCEEDED), timeout=30, what="alpha's tasks")
    a_pids = {p.pid for p in a.processes()}
    assert all(Task.objects.get(pk=t.pk).owner_pid in a_pids for t in a_more)
    # The dead host's tasks wait, and the status page says which queue nobody serves. Its lost
    # (idempotent) task was re-queued by a reaper, to its own server's queue.
    wait_for(lambda: _state(b_long) == Task.QUEUED, timeout=20, what="beta's lost task to be re-queued")
    assert "re-queued" in Task.objects.get(pk=b_long.pk).waiting_reason
    check = wait_for(lambda: (c := health.worker_cluster(beta.server)) and not c.ok and c, timeout=10,
                     what="health to report beta's queue")
    assert "no worker cluster serves queue beta: the last one" in check.detail and "stopped beating" in check.detail
    assert health.worker_cluster(alpha.server).ok
    time.sleep(1.0)
    assert _all(b_more, Task.QUEUED)

    # 3. The host comes back: its waiting tasks run there, the lost one for a second time.
    restarted_at = time.time()
    b2 = clusters.start("beta", workers=2, env=beta.env())
    wait_for(lambda: _all([b_long, *b_more], Task.SUCCEEDED), timeout=60, what="beta's tasks after its restart")
    b2_pids = {p.pid for p in b2.processes()}
    for task in [b_long, *b_more]:
        done = Task.objects.get(pk=task.pk)
        assert done.owner_pid in b2_pids and done.started_at.timestamp() >= restarted_at - 1
        assert _roots(record)[task.pk] == str(beta.root / "data" / "home")
    assert Task.objects.get(pk=b_long.pk).attempt == 2
    assert health.worker_cluster(beta.server).ok
    for cluster in (a, b, b2):  # every message was read by its cluster, none refused
        assert "Failed to push" not in cluster.log.read_text()
