"""Reconcile queued tasks with the broker, release a dead cluster's fetched messages, sweep
leftover processes, and the housekeeping loop that runs them in every qcluster."""
from __future__ import annotations

import subprocess
import threading
from datetime import timedelta

import pytest
from django.utils import timezone
from django_q.models import OrmQ

from hosting.actions import queue_task
from hosting.engine import daemon, reconcile
from hosting.engine.claim import claim
from hosting.engine.dispatch import dispatch
from hosting.engine.owner import Owner
from hosting.engine.processes import mark_env
from hosting.models import Task
from tests.engine.helpers import alive, wait_for

pytestmark = pytest.mark.django_db(transaction=True)


def _age(task: Task, seconds: float) -> None:
    then = timezone.now() - timedelta(seconds=seconds)
    Task.objects.filter(pk=task.pk).update(created_at=then, dispatched_at=then)


def _messages(task: Task) -> int:
    return sum(1 for m in OrmQ.objects.all() if m.name() == f"hm-task-{task.pk}")


def test_it_hands_over_a_queued_task_whose_message_was_lost(site):
    task = queue_task(site, "backup")
    OrmQ.objects.all().delete()  # a broker that lost it
    _age(task, 30)
    assert reconcile.reconcile("local") == [task.pk]
    assert _messages(task) == 1


def test_it_leaves_a_task_whose_message_is_on_its_way(site):
    task = queue_task(site, "backup")
    _age(task, 30)
    assert _messages(task) == 1
    assert reconcile.reconcile("local") == []
    fresh = queue_task(site, "verify")
    OrmQ.objects.all().delete()
    assert fresh.pk not in reconcile.reconcile("local")  # within the grace period


def test_it_hands_over_a_waiting_task_whose_wake_up_was_missed(site):
    holder = queue_task(site, "backup")
    claim(holder.pk, Owner.current())
    waiter = queue_task(site, "verify")
    claim(waiter.pk, Owner.current())
    OrmQ.objects.all().delete()
    assert reconcile.reconcile("local") == []  # its lock is still held
    Task.objects.filter(pk=holder.pk).update(state=Task.SUCCEEDED)  # a holder that ended mid-wake
    assert reconcile.reconcile("local") == [waiter.pk]


def test_it_releases_messages_a_dead_cluster_had_fetched(site):
    task = queue_task(site, "backup")
    OrmQ.objects.update(lock=timezone.now() + timedelta(hours=2))
    assert reconcile.unstrand("local") == 1
    assert OrmQ.objects.get().lock <= timezone.now()
    assert reconcile.unstrand("elsewhere") == 0
    assert _messages(task) == 1


def test_it_sweeps_processes_of_tasks_that_are_over(site):
    done = queue_task(site, "backup")
    Task.objects.filter(pk=done.pk).update(state=Task.SUCCEEDED)
    running = queue_task(site, "verify")
    me = Owner.current()
    Task.objects.filter(pk=running.pk).update(state=Task.RUNNING, **me.fields())
    leftover = subprocess.Popen(["sleep", "60"], env=mark_env(done.pk, me), start_new_session=True)
    current = subprocess.Popen(["sleep", "60"], env=mark_env(running.pk, me), start_new_session=True)
    try:
        wait_for(lambda: len(daemon.marked_processes()) == 2, timeout=5, what="the marked processes")
        killed = daemon.sweep()
        leftover.wait(timeout=10)
        assert leftover.pid in killed and not alive(leftover.pid)
        assert alive(current.pid)
    finally:
        for proc in (leftover, current):
            proc.kill()
            proc.wait()


def test_it_runs_housekeeping_in_a_loop_until_stopped(site, monkeypatch):
    task = queue_task(site, "backup")
    OrmQ.objects.all().delete()
    _age(task, 30)
    stop = threading.Event()
    thread = threading.Thread(target=daemon.loop, args=(stop, "local"), daemon=True)
    thread.start()
    try:
        wait_for(lambda: _messages(task) == 1, timeout=10, what="the loop to reconcile")
    finally:
        stop.set()
        thread.join(timeout=10)
    assert not thread.is_alive()


def test_it_dispatches_with_the_task_name_the_reconciler_reads(site):
    task = queue_task(site, "backup")
    dispatch(task.pk, "local")
    assert _messages(task) == 2 and reconcile.messages_in_broker("local") == {task.pk}
