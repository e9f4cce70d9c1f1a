"""What the engine spends per task (issue 8): statements it skips when they cannot change
anything, work done once per process instead of once per task, and counts that must not walk a
client's whole history. Each test also checks the behaviour the saving must keep."""
from __future__ import annotations

import multiprocessing
import os

import psutil
import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from hosting.actions import queue_task
from hosting.engine import fairness
from hosting.engine.context import TaskContext
from hosting.engine.owner import Owner, process_alive
from hosting.engine.tasklog import TaskLogWriter
from hosting.models import Task
from provision.runner import Runner

pytestmark = pytest.mark.django_db


def _owner_in_child(pipe) -> None:
    me = Owner.current()
    pipe.send((me.pid, me.started, os.getpid(), psutil.Process().create_time()))
    pipe.close()


def test_it_knows_each_forked_worker_as_its_own_owner():
    me = Owner.current()
    assert me == Owner.current() and process_alive(me.pid, me.started)
    # django-q2 forks its workers from a process that may have asked already: each child must
    # see its own pid and start time, or reapers would take a live worker for a dead one.
    parent, child = multiprocessing.get_context("fork").Pipe()
    proc = multiprocessing.get_context("fork").Process(target=_owner_in_child, args=(child,))
    proc.start()
    pid, started, real_pid, real_started = parent.recv()
    proc.join(10)
    assert (pid, started) == (real_pid, real_started)
    assert pid != me.pid and started != me.started
    assert Owner.current() == me


def test_it_counts_a_clients_running_tasks_without_walking_its_history(site, acme, clock):
    for state in (Task.SUCCEEDED, Task.FAILED, Task.RUNNING):
        Task.objects.filter(pk=queue_task(site, "verify").pk).update(state=state)
    assert fairness.running_of_client(acme.pk) == 1
    with CaptureQueriesContext(connection) as queries:
        fairness.running_of_client(acme.pk)
    if connection.vendor == "sqlite":
        # Without statistics SQLite would pick the client's history index (task_client_started)
        # and read every task the client ever had, inside each claim's write transaction.
        with connection.cursor() as cursor:
            cursor.execute("EXPLAIN QUERY PLAN " + queries[0]["sql"])
            plan = " ".join(str(row[-1]) for row in cursor.fetchall())
        assert "task_state_created" in plan and "task_client" not in plan, plan


def test_it_looks_once_for_waiters_when_nobody_waits(site, clock):
    task = queue_task(site, "verify")
    Task.objects.filter(pk=task.pk).update(state=Task.SUCCEEDED)
    with CaptureQueriesContext(connection) as queries:
        assert fairness.wake_after(task.pk) == 0
    assert len(queries) == 2, [q["sql"] for q in queries]  # the task's server and client, the waiters


def test_it_saves_the_state_only_when_it_changed(site):
    task = queue_task(site, "verify")
    ctx = TaskContext(task, Runner(lambda _level, _line: None), TaskLogWriter(task.pk))
    with CaptureQueriesContext(connection) as queries:
        ctx.save_state()  # nothing yet: the row already says so
        ctx.state["made"] = ["db"]
        ctx.save_state()
        ctx.save_state()
        ctx.state["made"].append("user")  # changed in place: still a change
        ctx.save_state()
    assert len(queries) == 2
    task.refresh_from_db()
    assert task.result["state"] == {"made": ["db", "user"]}


def test_it_checks_a_writers_ownership_in_the_statements_a_flush_sends_anyway(site):
    # Issue 13: the ownership check of a log flush is folded into the read of the next position.
    from hosting.engine.claim import claim

    task = queue_task(site, "verify")
    owner = Owner.current()
    claim(task.pk, owner)
    log = TaskLogWriter(task.pk, owner)
    for _flush in range(2):  # the first flush also reads the log's size, in the same statement
        log.write("info", "one")
        log.write("info", "two")
        with CaptureQueriesContext(connection) as captured:
            log.flush()
        # (The savepoint is the test's own transaction; a worker's flush is BEGIN ... COMMIT.)
        queries = [q["sql"] for q in captured if not q["sql"].startswith(("SAVEPOINT", "RELEASE"))]
        assert [q.split()[0] for q in queries] == ["SELECT", "INSERT"], queries
        assert "owner_pid" in queries[0]
