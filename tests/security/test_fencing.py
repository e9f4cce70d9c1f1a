"""Fencing a stalled worker (issue 13, item 2), with real processes standing in for workers: a
task whose owner runs on this host is handed on (re-queued, rolled back, force-stopped) only
after the owner's tree is SIGKILLed and confirmed gone; an owner that must not be killed (this
process's ancestor, a cluster's main process) leaves its task paused, with the reason; and a
worker that lost its task writes nothing more (steps, state, log) and stops."""
from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading
from datetime import UTC, datetime, timedelta
from pathlib import Path

import psutil
import pytest

from hosting import controls
from hosting.actions import queue_task
from hosting.engine import ending, runsteps
from hosting.engine.claim import claim
from hosting.engine.context import Lost, TaskContext
from hosting.engine.owner import Owner, hostname
from hosting.engine.processes import mark_env
from hosting.engine.reaper import Reaper
from hosting.engine.tasklog import TaskLogWriter
from hosting.models import Lock, Platform, Site, Task, TaskLog, TaskStep
from hosting.operations import plan_for
from provision.runner import Runner
from tests.engine.helpers import alive, steps, wait_for

ELSEWHERE = Owner("another-host", 777, 5.0)


@pytest.fixture(autouse=True)
def _engine(transactional_db, hm_dirs, settings):
    settings.HARBORMASTER_EXTRA_OPERATIONS = ["tests.engine.ops"]
    settings.HARBORMASTER_HEARTBEAT = 0.5
    settings.HARBORMASTER_MAX_ATTEMPTS = 3


@pytest.fixture
def site(server, acme, tmp_path: Path) -> Site:
    root = tmp_path / "platform"
    root.mkdir()
    platform = Platform.objects.create(name="p1", server=server, path=str(root), status="enabled")
    return Site.objects.create(domain="www.acme.test", platform=platform, client=acme, status="enabled")


class Clock:
    def __init__(self) -> None:
        self.now = datetime(2030, 1, 1, 12, 0, 0, tzinfo=UTC)

    def advance(self, seconds: float) -> None:
        self.now += timedelta(seconds=seconds)


@pytest.fixture
def clock(monkeypatch) -> Clock:
    from django.db.models import DateTimeField, Value

    from hosting.engine import clock as engine_clock

    fixed = Clock()
    monkeypatch.setattr(engine_clock, "db_now", lambda: fixed.now)
    monkeypatch.setattr(engine_clock, "now_expr", lambda: Value(fixed.now, output_field=DateTimeField()))
    return fixed


@pytest.fixture
def processes():
    """Start processes standing in for workers; every one is killed (and continued) at the end."""
    started: list[subprocess.Popen] = []

    def start(argv: list[str] | None = None, *, stopped: bool = False, **kwargs) -> subprocess.Popen:
        proc = subprocess.Popen(argv or [sys.executable, "-c", "import time; time.sleep(120)"],
                                start_new_session=True, **kwargs)
        started.append(proc)
        if stopped:
            os.kill(proc.pid, signal.SIGSTOP)
        return proc

    yield start
    for proc in started:
        for sig in (signal.SIGCONT, signal.SIGKILL):
            try:
                os.killpg(proc.pid, sig)
            except (ProcessLookupError, PermissionError):
                pass
        proc.wait(timeout=10)


def owner_of(pid: int) -> Owner:
    return Owner(hostname(), pid, psutil.Process(pid).create_time())


def running(site, kind: str, owner: Owner, args: dict | None = None, *, at_step: int = 0) -> Task:
    """A task claimed by OWNER, its steps before AT_STEP done and AT_STEP running."""
    task = queue_task(site, kind, args=args or steps({"name": "a", "sh": "true"}, {"name": "b", "sh": "true"}))
    task = claim(task.pk, owner)
    assert task is not None
    rows = runsteps.prepare(task, plan_for(task), resume=False)
    for row in rows[:at_step]:
        TaskStep.objects.filter(pk=row.pk).update(state=TaskStep.DONE)
    TaskStep.objects.filter(pk=rows[at_step].pk).update(state=TaskStep.RUNNING)
    Task.objects.filter(pk=task.pk).update(current_step=rows[at_step].name)
    return task


def state_of(task: Task) -> Task:
    return Task.objects.get(pk=task.pk)


# -- the reaper ---------------------------------------------------------------------------------

def test_it_kills_a_stopped_worker_and_its_programs_before_requeueing_its_task(site, clock, processes):
    worker = processes(stopped=True)
    owner = owner_of(worker.pid)
    task = running(site, "backup", owner)
    program = processes(["sleep", "120"], env={**mark_env(task.pk, owner), "PATH": os.environ["PATH"]})
    clock.advance(2)  # 4 silent beats
    reports: list[str] = []
    assert Reaper("local", report=reports.append).reap_one()
    assert worker.wait(timeout=5) == -signal.SIGKILL  # a stopped process dies of SIGKILL at once
    assert program.wait(timeout=5) < 0
    assert state_of(task).state == Task.QUEUED
    assert any("killed its worker's processes" in line and str(worker.pid) in line for line in reports), reports


def test_it_kills_a_stopped_worker_before_rolling_back_its_task(site, clock, processes, tmp_path):
    record = tmp_path / "record.txt"
    worker = processes(stopped=True)
    task = running(site, "install", owner_of(worker.pid), {"record": str(record), **steps(
        {"name": "db", "sh": "true", "undo": "rec undo"}, {"name": "files", "sh": "true", "undo": "rec undo"})},
        at_step=1)
    clock.advance(2)
    assert Reaper("local").reap_one()
    assert worker.poll() == -signal.SIGKILL
    task = state_of(task)
    assert task.state == Task.FAILED and task.summary == "Worker lost during step Files; rolled back."


def test_it_pauses_a_task_whose_owner_is_its_own_ancestor_and_kills_nothing(site, clock):
    parent = os.getppid()
    task = running(site, "install", owner_of(parent), steps({"name": "a", "sh": "true", "undo": "true"}))
    clock.advance(2)
    assert Reaper("local").reap_one()
    task = state_of(task)
    assert task.state == Task.PAUSED, task.summary
    assert "is an ancestor of this process" in task.summary and "paused for a human" in task.summary
    assert alive(parent) and Lock.objects.filter(task=task).exists()


def test_it_pauses_a_task_owned_by_a_process_that_runs_others_and_leaves_it_alive(site, clock, processes):
    # A cluster's main process owns the tasks its reaper rolls back; its children are the
    # cluster's sentinel and workers, not this task's programs.
    main = processes(["sh", "-c", "sleep 120 & wait"])
    wait_for(lambda: psutil.Process(main.pid).children(), what="the main process's child")
    task = running(site, "backup", owner_of(main.pid))
    clock.advance(2)
    assert Reaper("local").reap_one()
    task = state_of(task)
    assert task.state == Task.PAUSED and "not this task's" in task.summary
    assert alive(main.pid)


def test_it_settles_without_killing_an_owner_that_moved_on_to_a_task_that_beats(site, clock, processes):
    worker = processes()
    owner = owner_of(worker.pid)
    abandoned = running(site, "backup", owner)
    clock.advance(2)
    other_site = Site.objects.create(domain="other.acme.test", platform=site.platform, client=site.client,
                                     status="enabled")
    current = running(other_site, "backup", owner)  # claimed now: its heartbeat is fresh
    assert Reaper("local").reap_one()
    assert state_of(abandoned).state == Task.QUEUED
    assert alive(worker.pid) and state_of(current).state == Task.RUNNING


# -- force-stop ---------------------------------------------------------------------------------

def test_force_stop_kills_a_stopped_worker_on_this_host_before_ending_its_task(site, processes, admin_user):
    worker = processes(stopped=True)
    task = running(site, "backup", owner_of(worker.pid))
    task = controls.force_stop(task, by=admin_user)
    assert worker.poll() == -signal.SIGKILL
    assert task.state == Task.CANCELLED and not Lock.objects.exists()
    lines = list(TaskLog.objects.filter(task=task).order_by("position").values_list("line", flat=True))
    assert lines[-1] == "Force-stopped by admin."  # nothing after the line that ends it
    assert f"were killed: [{worker.pid}]" in lines[-2]


def test_force_stop_pauses_instead_when_the_worker_cannot_be_killed(site, admin_user):
    task = running(site, "backup", owner_of(os.getppid()))
    task = controls.force_stop(task, by=admin_user)
    assert task.state == Task.PAUSED and "ancestor" in task.summary
    assert Lock.objects.filter(task=task).exists()


# -- a worker that lost its task writes nothing ------------------------------------------------

def test_a_worker_whose_task_was_taken_mid_step_writes_nothing_more(site, settings, tmp_path):
    from hosting.engine.worker import execute

    settings.HARBORMASTER_HEARTBEAT = 30  # no beat meanwhile: the step boundary alone must notice
    record, go = tmp_path / "record.txt", tmp_path / "go"
    # Step a waits until the test has taken the task over (at most 20 s): its end, the step
    # boundary, must come after the takeover, however slow the machine.
    wait = f'rec a; for i in $(seq 400); do [ -e "{go}" ] && break; sleep 0.05; done'
    task = queue_task(site, "install", args={"record": str(record), **steps(
        {"name": "a", "sh": wait, "undo": "rec undo-a"},
        {"name": "b", "sh": "rec b", "undo": "rec undo-b"})})
    outcome: list[str] = []
    worker = threading.Thread(target=lambda: outcome.append(execute(task.pk)))
    worker.start()
    try:
        wait_for(lambda: record.exists() and "a " in record.read_text(), what="step a to start")
        # A reaper elsewhere takes the task over and pauses it.
        row = state_of(task)
        mine = Owner(row.owner_host, row.owner_pid, row.owner_started)
        assert Task.objects.filter(pk=task.pk, **mine.fields()).update(**ELSEWHERE.fields())
        assert ending.pause(task.pk, "Worker lost during step A: paused for a human.", owner=ELSEWHERE)
        before = _writes(task)
    finally:
        go.touch()
        worker.join(timeout=30)
    assert outcome == ["lost"]
    assert _writes(task) == before
    assert [line.split()[0] for line in record.read_text().splitlines()] == ["a"]  # no step b, no undo


def _writes(task: Task) -> tuple:
    row = state_of(task)
    return (row.state, row.summary, row.result, row.current_step,
            list(TaskStep.objects.filter(task=task).order_by("position").values_list("state", "error")),
            list(TaskLog.objects.filter(task=task).order_by("position").values_list("position", "line")))


def test_a_log_writer_drops_its_lines_once_the_task_is_not_its_owners(site):
    owner = Owner.current()
    task = running(site, "backup", owner)
    told: list[bool] = []
    log = TaskLogWriter(task.pk, owner, on_lost=lambda: told.append(True))
    log.write("info", "while it is ours")
    log.flush()
    Task.objects.filter(pk=task.pk).update(**ELSEWHERE.fields())
    log.write("info", "after it was taken")
    log.flush()
    log.write("info", "later still")
    log.flush()
    assert list(TaskLog.objects.filter(task=task).values_list("line", flat=True)) == ["while it is ours"]
    assert told == [True] and log.lost


def test_state_and_step_writes_of_a_run_that_lost_its_task_change_nothing(site):
    owner = Owner.current()
    task = running(site, "backup", owner)
    ctx = TaskContext(task, Runner(lambda _l, _t: None), TaskLogWriter(task.pk, owner), owner=owner)
    ctx.state["made"] = "db"
    ctx.save_state()
    Task.objects.filter(pk=task.pk).update(**ELSEWHERE.fields())
    ctx.state["made"] = "db and user"
    with pytest.raises(Lost):
        ctx.save_state()
    row = TaskStep.objects.filter(task=task, state=TaskStep.RUNNING).get()
    with pytest.raises(Lost):
        runsteps._mark(ctx, row, TaskStep.DONE)
    assert state_of(task).result["state"] == {"made": "db"}
    assert TaskStep.objects.get(pk=row.pk).state == TaskStep.RUNNING
    with pytest.raises(Lost):
        runsteps.prepare(task, plan_for(task), resume=False, ctx=ctx)
