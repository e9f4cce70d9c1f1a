"""The control database restarts while tasks run (PostgreSQL).

A private PostgreSQL server (tests/reliability/pgserver.py: never the machine's shared one) is
the control database of the test and of a real `qcluster`. Site verifies and backups run on a
demo platform with SQLite site databases; the stand-in drush sleeps in `status`, so the restart
lands in the middle of verify steps. The server is restarted with `pg_ctl restart -m fast`, or
its postmaster is SIGKILLed and started again after some seconds down. Then, from the outside:
every task ends final (the interrupted ones re-run), no task is left running, no lock is held
by a final task, no task ran in two workers at once, archives verify, and the cluster recovered
by itself: new tasks run, heartbeats beat, and its reaper settles a worker SIGKILLed afterwards."""
from __future__ import annotations

import json
import os
import re
import signal
import time
from collections import Counter
from collections.abc import Iterator
from pathlib import Path

import pytest
from django.core.management import call_command
from django.db import connection

from hosting.actions import queue_task
from hosting.models import Lock, Site, Task
from tests.engine.clusters import ClusterFactory
from tests.engine.helpers import wait_for
from tests.reliability import chaos
from tests.reliability.pgserver import PrivatePostgres, django_on, private_postgres

# django_on overrides settings.DATABASES on purpose (see its docstring).
pytestmark = [pytest.mark.slow, pytest.mark.filterwarnings("ignore:Overriding setting DATABASES")]

DRUSH_SECONDS = 2.0
DOWN_SECONDS = 3.0


@pytest.fixture
def control_db(transactional_db, settings) -> Iterator[PrivatePostgres]:
    with private_postgres() as server:
        server.create_database("hm_restart")
        with django_on(server, "hm_restart", settings):
            call_command("migrate", verbosity=0, interactive=False)
            yield server


@pytest.fixture
def restart_clusters(control_db, tmp_path: Path) -> Iterator[ClusterFactory]:
    # After control_db, so torn down before it: the clusters die while their database is up.
    factory = ClusterFactory(tmp_path)
    try:
        yield factory
    finally:
        factory.kill_all()


def _restart(server: PrivatePostgres, how: str) -> None:
    if how == "pg_ctl restart -m fast":
        server.restart_fast()
    else:
        server.kill_and_start(DOWN_SECONDS)
    # The test's own session was ended with the others: the next query opens a new one.
    connection.close()


def _log_problems(task: Task) -> list[str]:
    """Every step's line once and in order, the summary last: no line lost while the database
    was away, none written twice."""
    lines = list(task.log.order_by("position").values_list("line", flat=True))
    numbers = [(int(m.group(1)), int(m.group(2))) for line in lines if (m := re.match(r"Step (\d+)/(\d+): ", line))]
    total = numbers[0][1] if numbers else 0
    problems = []
    if not total or [n for n, _ in numbers] != list(range(1, total + 1)):
        problems.append(f"task #{task.pk}: step lines {numbers}")
    if not lines or lines[-1] != task.summary:
        problems.append(f"task #{task.pk}: last log line {lines[-1:]} is not its summary {task.summary!r}")
    return problems


def _running_in_drush(ids: list[int]) -> int:
    return Task.objects.filter(pk__in=ids, state=Task.RUNNING, current_step="drush").count()


@pytest.mark.parametrize("how", ["pg_ctl restart -m fast", "SIGKILL the postmaster, start it again"])
def test_it_loses_nothing_when_the_control_database_restarts(control_db, restart_clusters, worker_env, settings,
                                                             capsys, how) -> None:
    began = time.monotonic()
    world = chaos.build_world(Path(settings.HARBORMASTER_DATA_DIR), 4, platforms=1, drush_seconds=DRUSH_SECONDS)
    sampler = chaos.Sampler()
    sampler.start()
    cluster = restart_clusters.start("local", workers=3, env=worker_env)
    sites = world["sites"]
    ids = [queue_task(Site.objects.get(pk=sites[i % 4].pk), "verify" if i % 2 == 0 else "backup").pk
           for i in range(12)]
    wait_for(lambda: _running_in_drush(ids) >= 2, 30, "two verifies in their drush step")
    in_flight = list(Task.objects.filter(pk__in=ids, state=Task.RUNNING).values_list("pk", "current_step"))
    restart_at = time.monotonic()
    _restart(control_db, how)
    back_at = time.monotonic()
    settled = chaos.wait_settled(ids, 60)
    settled_at = time.monotonic()
    log = cluster.log.read_text()
    assert settled, (f"tasks still active 60 s after the restart: "
                     f"{list(chaos.unsettled(ids).values_list('pk', 'state', 'waiting_reason'))}\n{log[-4000:]}")

    # The cluster recovered by itself: same process, new work runs, heartbeats beat.
    assert cluster.proc.poll() is None, f"the cluster exited ({cluster.proc.returncode}):\n{log[-4000:]}"
    after = queue_task(Site.objects.get(pk=sites[0].pk), "verify")
    wait_for(lambda: Task.objects.get(pk=after.pk).state == Task.RUNNING, 20, "a verify queued after the restart")
    first_beat = Task.objects.get(pk=after.pk).heartbeat_at
    wait_for(lambda: Task.objects.get(pk=after.pk).heartbeat_at > first_beat, 5, "its heartbeat")
    # ...and so did its reaper: a worker SIGKILLed now is noticed, its verify re-queued and run.
    worker = Task.objects.get(pk=after.pk).owner_pid
    killed_at = time.monotonic()
    os.kill(worker, signal.SIGKILL)
    wait_for(lambda: Task.objects.get(pk=after.pk).attempt == 2, 20, "the reaper to re-queue the lost verify")
    reaped_in = time.monotonic() - killed_at
    wait_for(lambda: Task.objects.get(pk=after.pk).state == Task.SUCCEEDED, 30, "the re-queued verify to run")
    sampler.stop.set()
    sampler.join(timeout=5)

    report = chaos.check_engine(ids + [after.pk], sampler)
    tasks = list(Task.objects.filter(pk__in=ids))
    # A task whose program was running while the database restarted goes on once it is back:
    # it is not failed, nor taken for lost and run again.
    for task in Task.objects.filter(pk__in=[pk for pk, step in in_flight if step == "drush"]):
        if task.state != Task.SUCCEEDED or task.attempt != 1:
            report.problems.append(f"task #{task.pk} {task.kind}, in its drush step at the restart, ended "
                                   f"{task.state} after {task.attempt} attempts: {task.summary}")
        report.problems += _log_problems(task)
    # The workers waited for the database; django-q2's pusher and monitor did not die of it.
    for sign in ("the engine failed", "Failed to pull task from broker", "reincarnated pusher",
                 "reincarnated monitor", "worker queue wedged"):
        if sign in log:
            report.problems.append(f"the cluster's log says {sign!r}")
    for task in tasks:
        if task.state != Task.SUCCEEDED:
            errors = [line.line for line in task.log.filter(level="error")]
            if task.state not in Task.FINAL or not errors:
                report.problems.append(f"task #{task.pk} {task.kind} ended {task.state} without an error line: "
                                       f"{task.summary}")
    assert not Task.objects.filter(state=Task.RUNNING).exists()
    assert not Lock.objects.filter(task__state__in=Task.FINAL).exists()
    backup_problems, backups = chaos.check_backups()
    report.problems += backup_problems
    report.figures.update({
        "how": how, "in_flight_at_restart": len(in_flight),
        "in_drush_at_restart": sum(step == "drush" for _, step in in_flight),
        "restart_seconds": round(back_at - restart_at, 2),
        "settled_after_restart_seconds": round(settled_at - back_at, 1),
        "re_run": sum(t.attempt > 1 for t in tasks), "states": dict(Counter(t.state for t in tasks)),
        "reaped_after_restart_seconds": round(reaped_in, 1), "backups_verified": backups,
        "total_seconds": round(time.monotonic() - began, 1),
    })
    with capsys.disabled():
        print("\ndatabase restart figures:", json.dumps(report.figures, sort_keys=True))
    assert not report.problems, "\n".join(report.problems) + "\n" + log[-4000:]
