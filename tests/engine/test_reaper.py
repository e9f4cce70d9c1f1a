"""reap_one() settles lost tasks: re-queue (idempotent, bounded), roll back or pause
(destructive), kill leftovers on this host, exactly once with many reapers."""
from __future__ import annotations

import subprocess
import time

import psutil
import pytest

from hosting.actions import queue_task
from hosting.engine import runsteps
from hosting.engine.claim import claim
from hosting.engine.owner import Owner, hostname
from hosting.engine.processes import mark_env
from hosting.engine.reaper import Reaper
from hosting.models import Lock, Task, TaskStep
from hosting.operations import plan_for
from tests.engine.helpers import alive, steps

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture
def dead_owner() -> Owner:
    """A worker process on this host that has exited."""
    proc = subprocess.Popen(["sleep", "0.01"])
    started = psutil.Process(proc.pid).create_time()
    proc.wait()
    return Owner(hostname(), proc.pid, started)


ELSEWHERE = Owner("another-host", 777, 5.0)


def _running(site, kind: str, owner: Owner, args: dict | None = None, *, at_step: int | None = None) -> Task:
    """A task claimed by OWNER, its steps before AT_STEP done and AT_STEP running."""
    task = queue_task(site, kind, args=args or steps({"name": "a", "sh": "true"}))
    task = claim(task.pk, owner)
    assert task is not None
    if at_step is not None:
        rows = runsteps.prepare(task, plan_for(task), resume=False)
        for row in rows[:at_step]:
            TaskStep.objects.filter(pk=row.pk).update(state=TaskStep.DONE)
        TaskStep.objects.filter(pk=rows[at_step].pk).update(state=TaskStep.RUNNING)
        Task.objects.filter(pk=task.pk).update(current_step=rows[at_step].name)
    return task


def test_it_requeues_a_lost_idempotent_task_and_releases_its_lock(site, dead_owner, monkeypatch):
    sent: list[int] = []
    monkeypatch.setattr("hosting.engine.dispatch.dispatch", lambda task_id, queue: sent.append(task_id) or True)
    task = _running(site, "backup", dead_owner, at_step=0)
    assert Reaper("local").reap_one()
    task.refresh_from_db()
    assert task.state == Task.QUEUED and task.attempt == 1
    assert task.waiting_reason == "Worker lost during step A; re-queued (attempt 2 of 3 next)."
    assert not Lock.objects.exists() and task.pk in sent
    assert not Reaper("local").reap_one()


def test_it_fails_an_idempotent_task_lost_too_many_times(site, dead_owner, settings):
    settings.HARBORMASTER_MAX_ATTEMPTS = 2
    task = _running(site, "verify", dead_owner, at_step=0)
    Task.objects.filter(pk=task.pk).update(attempt=2)
    assert Reaper("local").reap_one()
    task.refresh_from_db()
    assert task.state == Task.FAILED
    assert task.summary == "Worker lost during step A; worker lost 2 times, not trying again."
    assert not Lock.objects.exists()


def test_it_leaves_a_task_with_a_fresh_heartbeat_alone(site, clock):
    _running(site, "backup", ELSEWHERE)
    clock.advance(1.4)  # under 3 beats of 0.5 s
    assert not Reaper("local").reap_one()


def test_it_leaves_another_hosts_silent_task_to_that_hosts_reaper_for_long(site, clock):
    # Only the owner's host can kill a stopped owner before its task is handed over again.
    task = _running(site, "backup", ELSEWHERE, at_step=0)
    clock.advance(1.6)
    assert not Reaper("local").reap_one()
    clock.advance(4)
    assert Reaper("local").reap_one()
    assert Task.objects.get(pk=task.pk).state == Task.QUEUED


def test_it_pauses_instead_of_rolling_back_a_task_whose_worker_ran_on_another_host(site, clock, record):
    task = _running(site, "install", ELSEWHERE, {"record": str(record), **steps(
        {"name": "db", "sh": "true", "undo": "rec undo"})}, at_step=0)
    clock.advance(6)
    assert Reaper("local").reap_one()
    task.refresh_from_db()
    assert task.state == Task.PAUSED and "its worker ran on another-host" in task.summary
    assert not record.exists()  # nothing was undone while that worker may still run


def test_it_rolls_back_a_lost_destructive_task(site, dead_owner, record):
    task = _running(site, "install", dead_owner, {"record": str(record), **steps(
        {"name": "db", "sh": "true", "undo": "rec undo"},
        {"name": "files", "sh": "true", "undo": "rec undo"},
        {"name": "vhost", "sh": "true", "undo": "rec undo"})}, at_step=1)
    assert Reaper("local").reap_one()
    task.refresh_from_db()
    assert task.state == Task.FAILED
    assert task.summary == "Worker lost during step Files; rolled back."
    # The interrupted step may have done part of its work: it is undone too, then the one before.
    assert [" ".join(line.split()[:3]) for line in record.read_text().splitlines()] == [
        f"undo {task.pk} files:undo", f"undo {task.pk} db:undo"]
    assert list(TaskStep.objects.filter(task=task).order_by("position").values_list("state", flat=True)) == [
        "undone", "undone", "pending"]
    assert not Lock.objects.exists()


def test_it_pauses_a_lost_destructive_task_it_cannot_undo(site, dead_owner):
    task = _running(site, "delete", dead_owner, steps(
        {"name": "backup", "sh": "true"}, {"name": "drop", "sh": "true", "reversible": False},
        {"name": "files", "sh": "true"}), at_step=1)
    assert Reaper("local").reap_one()
    task.refresh_from_db()
    assert task.state == Task.PAUSED
    assert task.summary == "Worker lost during step Drop; step Drop cannot be undone: paused for a human."
    assert Lock.objects.filter(task=task).exists()


def test_it_requeues_a_destructive_task_lost_before_its_first_step(site, dead_owner):
    task = _running(site, "install", dead_owner)
    assert Reaper("local").reap_one()
    task.refresh_from_db()
    assert task.state == Task.QUEUED and "before its first step" in task.waiting_reason


def test_it_pauses_another_servers_destructive_task_only_after_long_silence(site, clock):
    from hosting.models import Server

    Server.objects.filter(pk=site.platform.server_id).update(queue="far-away")
    task = _running(site, "install", ELSEWHERE, at_step=0)
    clock.advance(2)
    assert not Reaper("local").reap_one()  # its own server's reaper rolls it back
    clock.advance(4)
    assert Reaper("local").reap_one()
    assert Task.objects.get(pk=task.pk).state == Task.PAUSED


def test_it_settles_a_loss_once_when_many_reapers_race(site, dead_owner):
    task = _running(site, "backup", dead_owner, at_step=0)
    first, second = Reaper("local"), Reaper("local")
    seen_by_both = first.find_lost()
    assert [s.pk for s in seen_by_both] == [task.pk] == [s.pk for s in second.find_lost()]
    assert first.settle(seen_by_both[0])
    assert not second.settle(seen_by_both[0])
    assert _lost_lines(task) == 1


def _lost_lines(task: Task) -> int:
    from hosting.models import TaskLog

    return TaskLog.objects.filter(task=task, line__startswith="Worker lost").count()


def test_it_kills_what_a_sigkilled_worker_left_running(site, dead_owner):
    task = _running(site, "backup", dead_owner, at_step=0)
    # The worker's program and a grandchild that left its process group: both must go.
    script = "(setsid sleep 120 &); sleep 120"
    child = subprocess.Popen(["sh", "-c", script], env={**mark_env(task.pk, dead_owner), "PATH": "/usr/bin:/bin"},
                             start_new_session=True)
    time.sleep(0.3)
    tree = [child.pid] + [p.pid for p in psutil.Process(child.pid).children(recursive=True)]
    escaped = [p.pid for p in psutil.process_iter(["environ"]) if p.pid not in tree and
               (p.info["environ"] or {}).get("HARBORMASTER_TASK", "").endswith(f":{task.pk}:{dead_owner.pid}")]
    Task.objects.filter(pk=task.pk).update(processes=[{"pid": child.pid, "pgid": child.pid,
                                                       "started": psutil.Process(child.pid).create_time()}])
    try:
        assert Reaper("local").reap_one()
        child.wait(timeout=10)
        assert not any(alive(pid) for pid in tree + escaped)
        assert escaped, "the setsid grandchild was found by its mark"
    finally:
        for pid in tree + escaped:
            if alive(pid):
                psutil.Process(pid).kill()


def test_it_says_when_a_lost_task_had_nothing_to_roll_back(site, dead_owner):
    # Worker and reaper settle with one policy (hosting.engine.settle), in the same words.
    task = _running(site, "install", dead_owner, steps(
        {"name": "check", "sh": "true", "reversible": True},
        {"name": "files", "sh": "true", "reversible": True}), at_step=1)
    assert Reaper("local").reap_one()
    task.refresh_from_db()
    assert task.state == Task.FAILED
    assert task.summary == "Worker lost during step Files; nothing to roll back."
    assert not Lock.objects.exists()
