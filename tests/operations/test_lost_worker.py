"""A worker that dies in the middle of a destructive task: the reaper rolls the task back with
a fresh context, from nothing but what the steps saved in the task's state."""
from __future__ import annotations

import subprocess

import pytest

from hosting.engine.reaper import Reaper
from hosting.models import Task
from hosting.operations import common
from tests.operations.conftest import log_of, snapshot, write_rows

pytestmark = pytest.mark.parametrize("engine", ["sqlite"])


class WorkerDied(BaseException):
    """Stands for SIGKILL: nothing in the worker catches it, nothing is cleaned up."""


def die_before(monkeypatch, step_name: str) -> None:
    def fault(ctx, name: str) -> None:
        if name == step_name:
            raise WorkerDied(name)
    monkeypatch.setattr(common, "injected_fault", fault)


def run_until_death(site, kind: str, args=None) -> Task:
    from hosting.actions import queue_task
    from hosting.engine.worker import execute

    task = queue_task(site, kind, args=args)
    with pytest.raises(WorkerDied):
        execute(task.pk)
    # The worker's process is gone: its pid now names no process.
    dead = subprocess.Popen(["true"])
    dead.wait()
    Task.objects.filter(pk=task.pk).update(owner_pid=dead.pid)
    return task


@pytest.mark.parametrize("kind, step", [("migrate", "verify"), ("delete", "record"), ("clone", "record")])
def test_it_rolls_back_a_task_whose_worker_died(installed, make_platform, local, domains, monkeypatch,
                                               kind, step):
    site = installed()
    write_rows(site, ["survives"])
    other = make_platform(local, "p2")
    before = snapshot(site)
    args = {"migrate": {"platform": other.pk}, "clone": {"domain": domains.new("clone")}}.get(kind)
    die_before(monkeypatch, step)
    task = run_until_death(site, kind, args)
    assert Task.objects.get(pk=task.pk).state == Task.RUNNING
    monkeypatch.undo()
    assert Reaper(report=lambda line: None).reap_one()
    task.refresh_from_db()
    assert task.state == Task.FAILED, (task.summary, log_of(task))
    assert "rolled back" in task.summary and "Worker lost" in task.summary
    assert snapshot(site) == before
    assert not task.locks.exists()
