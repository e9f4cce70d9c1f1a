"""The engine in real `manage.py qcluster` processes: SIGKILLed workers and clusters, cancel,
deadlines, locks, fairness, routing and stale deliveries, with real process trees."""
from __future__ import annotations

import os
import signal
import time
from collections import defaultdict
from itertools import pairwise

import psutil
import pytest

from hosting import controls
from hosting.actions import queue_task
from hosting.engine.dispatch import dispatch
from hosting.engine.processes import marked_processes
from hosting.models import Lock, Platform, Server, Task, TaskStep
from tests.engine.helpers import alive, steps, wait_for

pytestmark = [pytest.mark.slow, pytest.mark.django_db(transaction=True)]

# A step that runs long on its first attempt only, notes a TERM, and leaves a grandchild that
# escaped its parent (re-parented to init, same process group, same mark).
LONG_ONCE = ('trap "rec term; exit 143" TERM; rec start; (sleep 300 &); '
             'if [ "$HM_ATTEMPT" = 1 ]; then sleep 300 & wait; fi; rec end')


def _records(record) -> list[tuple[str, int, str, int, float]]:
    if not record.exists():
        return []
    out = []
    for line in record.read_text().splitlines():
        word, task, step, pid, at = line.split()
        out.append((word, int(task), step, int(pid), float(at)))
    return out


def _tree(task_id: int) -> list[int]:
    return [proc.pid for proc, marked, _owner in marked_processes() if marked == task_id]


def _state(task: Task) -> str:
    return Task.objects.get(pk=task.pk).state


def test_it_handles_a_sigkilled_worker_within_20_s_and_kills_its_orphans(cluster, site, record):
    """Semaphore's orphan bug: a killed worker must not leave its program running and its
    resource locked forever."""
    task = queue_task(site, "install", args={"record": str(record), **steps(
        {"name": "db", "sh": "rec db", "undo": "rec undo"},
        {"name": "files", "sh": LONG_ONCE, "undo": "rec undo"})})
    wait_for(lambda: any(r[0] == "start" for r in _records(record)), what="the long step to start")
    # sh, its sleep, and the escaped grandchild
    tree = wait_for(lambda: len(_tree(task.pk)) >= 3 and _tree(task.pk), what="the whole tree")
    os.kill(Task.objects.get(pk=task.pk).owner_pid, signal.SIGKILL)
    killed_at = time.monotonic()
    wait_for(lambda: _state(task) in Task.FINAL, timeout=20, what="the lost task to be handled")
    assert time.monotonic() - killed_at < 20
    task.refresh_from_db()
    assert task.state == Task.FAILED and task.summary == "Worker lost during step Files; rolled back."
    assert not Lock.objects.exists()
    wait_for(lambda: not any(alive(pid) for pid in tree), timeout=5, what="the orphans to die")
    assert [r[0] for r in _records(record)][-2:] == ["undo", "undo"]
    # The site is free: a new task on it runs.
    after = queue_task(site, "verify", args=steps({"name": "check", "sh": "true"}))
    wait_for(lambda: _state(after) == Task.SUCCEEDED, timeout=10, what="the next task on the site")


def test_it_loses_nothing_when_every_cluster_process_is_sigkilled(clusters, server, make_site, record):
    cluster = clusters.start("local", workers=4)
    long_backup = queue_task(make_site("long1.test"), "backup", args={"record": str(record), **steps(
        {"name": "copy", "sh": LONG_ONCE})})
    long_install = queue_task(make_site("long2.test"), "install", args={"record": str(record), **steps(
        {"name": "a", "sh": "true", "undo": "rec undo"}, {"name": "b", "sh": LONG_ONCE, "undo": "rec undo"})})
    wait_for(lambda: sum(r[0] == "start" for r in _records(record)) == 2, what="both long tasks to run")
    sites = [make_site(f"s{i}.test") for i in range(10)]
    short = 'trap "rec term; exit 143" TERM; rec start; sleep 0.05 & wait; rec end'
    shorts = [queue_task(sites[i % 10], "verify", args={"record": str(record), **steps({"name": "v", "sh": short})})
              for i in range(50)]
    time.sleep(0.3)
    cluster.kill(signal.SIGKILL)
    cluster.proc.wait(timeout=10)
    assert Task.objects.filter(state=Task.QUEUED).count() > 10
    clusters.start("local", workers=4)
    wait_for(lambda: not Task.objects.filter(state__in=Task.ACTIVE).exists(), timeout=90,
             what="every task to finish after the restart")
    assert {t.state for t in Task.objects.filter(pk__in=[s.pk for s in shorts])} == {Task.SUCCEEDED}
    long_backup.refresh_from_db()
    long_install.refresh_from_db()
    assert long_backup.state == Task.SUCCEEDED and long_backup.attempt == 2  # idempotent: ran again
    assert long_install.state == Task.FAILED and long_install.summary == "Worker lost during step B; rolled back."
    # No task ever ran twice at once: each run (one sh pid) ended before the next began.
    runs: dict[int, dict[int, list[float]]] = defaultdict(lambda: defaultdict(list))
    for word, task_id, _step, pid, at in _records(record):
        if word in ("start", "end", "term"):
            runs[task_id][pid].append(at)
    for task_id, by_pid in runs.items():
        spans = sorted((min(times), max(times)) for times in by_pid.values())
        for (_, end), (start, _) in pairwise(spans):
            assert start >= end, f"task {task_id} ran twice at once"
    assert not marked_processes()


def test_it_kills_the_whole_tree_of_a_cancelled_task_that_ignores_sigterm(cluster, site, admin_user, record):
    task = queue_task(site, "backup", args={"record": str(record), **steps({"name": "stubborn", "sh": (
        'trap "" TERM; rec start; (trap "" TERM; sleep 300) & sleep 300 & wait')})})
    wait_for(lambda: _records(record), what="the step to start")
    tree = wait_for(lambda: len(_tree(task.pk)) >= 3 and _tree(task.pk), what="the whole tree")
    controls.cancel(Task.objects.get(pk=task.pk), by=admin_user)
    wait_for(lambda: _state(task) == Task.CANCELLED, timeout=20, what="the task to be cancelled")
    assert not any(alive(pid) for pid in tree)
    task.refresh_from_db()
    assert task.summary == "Cancelled by admin during step Stubborn; nothing to roll back."


def test_it_kills_a_program_that_outlives_its_deadline(clusters, server, site, record):
    clusters.start("local", env={"HARBORMASTER_DEADLINES": "site.backup=2"})
    task = queue_task(site, "backup", args={"record": str(record), **steps({"name": "copy", "sh": (
        "rec start; (sleep 300 &); sleep 300")})})
    wait_for(lambda: _records(record), what="the step to start")
    tree = wait_for(lambda: len(_tree(task.pk)) >= 2 and _tree(task.pk), what="the whole tree")
    wait_for(lambda: _state(task) == Task.FAILED, timeout=15, what="the deadline")
    task.refresh_from_db()
    assert "ran past its deadline of 2 s" in task.summary
    assert tree and not any(alive(pid) for pid in tree)


def test_it_starts_a_waiting_task_when_the_lock_holder_ends(cluster, site, record):
    first = queue_task(site, "backup", args={"record": str(record), **steps({"name": "a", "sh": "sleep 1.5"})})
    wait_for(lambda: _state(first) == Task.RUNNING, what="the first task")
    second = queue_task(site, "verify", args=steps({"name": "b", "sh": "true"}))
    wait_for(lambda: Task.objects.get(pk=second.pk).waiting_reason, what="the second task to wait")
    assert Task.objects.get(pk=second.pk).waiting_reason == f"waiting for task #{first.pk} holding site:{site.pk}"
    wait_for(lambda: _state(second) == Task.SUCCEEDED, timeout=15, what="the second task")
    first.refresh_from_db()
    second.refresh_from_db()
    assert second.started_at >= first.finished_at


def test_it_shares_a_busy_server_fairly_between_clients(clusters, server, make_site, acme, globex):
    Server.objects.filter(pk=server.pk).update(max_running_tasks=1)
    clusters.start("local", workers=2, env={"HARBORMASTER_CLIENT_CONCURRENCY": "20"})
    bulk = [queue_task(make_site(f"b{i}.acme.test", acme), "verify", args=steps({"name": "v", "sh": "sleep 0.2"}))
            for i in range(10)]
    wait_for(lambda: Task.objects.filter(state=Task.SUCCEEDED).exists(), what="the bulk job to start")
    single = queue_task(make_site("www.globex.test", globex), "backup", args=steps({"name": "b", "sh": "true"}))
    wait_for(lambda: _state(single) == Task.SUCCEEDED, timeout=30, what="globex's backup")
    single.refresh_from_db()
    # It waited for at most the slot's current holder and one more, not for the whole bulk job.
    before = Task.objects.filter(pk__in=[t.pk for t in bulk], started_at__lt=single.started_at).count()
    assert before <= 3, f"{before} of acme's tasks started before globex's single backup"
    wait_for(lambda: not Task.objects.filter(state__in=Task.ACTIVE).exists(), timeout=30, what="the bulk job")


def test_it_routes_each_task_to_its_servers_cluster(clusters, tmp_path):
    alpha = Server.objects.create(name="alpha", queue="alpha")
    beta = Server.objects.create(name="beta", queue="beta")
    on_alpha = queue_task(alpha, "verify", args=steps({"name": "v", "sh": "true"}))
    on_beta = queue_task(beta, "verify", args=steps({"name": "v", "sh": "true"}))
    a = clusters.start("alpha")
    wait_for(lambda: _state(on_alpha) == Task.SUCCEEDED, what="alpha's task")
    time.sleep(1.0)
    assert _state(on_beta) == Task.QUEUED  # nobody serves beta yet
    b = clusters.start("beta")
    wait_for(lambda: _state(on_beta) == Task.SUCCEEDED, what="beta's task")
    a_pids = {p.pid for p in a.processes()}
    b_pids = {p.pid for p in b.processes()}
    assert Task.objects.get(pk=on_alpha.pk).owner_pid in a_pids
    assert Task.objects.get(pk=on_beta.pk).owner_pid in b_pids


def test_it_ignores_stale_and_duplicate_deliveries(cluster, site, record):
    task = queue_task(site, "backup", args={"record": str(record), **steps({"name": "a", "sh": "rec run; sleep 0.3"})})
    dispatch(task.pk, "local")  # delivered twice while queued
    wait_for(lambda: _state(task) == Task.SUCCEEDED, what="the task")
    finished = Task.objects.get(pk=task.pk)
    dispatch(task.pk, "local")  # a stale delivery of a finished task
    time.sleep(1.0)
    again = Task.objects.get(pk=task.pk)
    assert (again.state, again.finished_at, again.attempt) == (Task.SUCCEEDED, finished.finished_at, 1)
    assert [r[0] for r in _records(record)] == ["run"]
    assert TaskStep.objects.filter(task=task).count() == 1


def test_it_requeues_an_idempotent_task_when_its_worker_gets_sigterm(cluster, site, record):
    task = queue_task(site, "backup", args={"record": str(record), **steps({"name": "copy", "sh": LONG_ONCE})})
    wait_for(lambda: _records(record), what="the step to start")
    tree = wait_for(lambda: len(_tree(task.pk)) >= 3 and _tree(task.pk), what="the whole tree")
    worker = psutil.Process(Task.objects.get(pk=task.pk).owner_pid)
    worker.send_signal(signal.SIGTERM)
    wait_for(lambda: _state(task) == Task.SUCCEEDED, timeout=20, what="the re-run")
    task.refresh_from_db()
    assert task.attempt == 2 and not any(alive(pid) for pid in tree)
    assert [r[0] for r in _records(record)][:2] == ["start", "term"]


def test_it_runs_the_platform_task_path_end_to_end(cluster, platform):
    task = queue_task(Platform.objects.get(pk=platform.pk), "verify", args=steps({"name": "v", "sh": "echo ok"}))
    wait_for(lambda: _state(task) == Task.SUCCEEDED, what="the platform task")
