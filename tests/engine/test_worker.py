"""The worker runs a claimed task's steps in order, undoes them in reverse on failure, saves
state after every step, and ends the task per what happened (no cluster: execute() in-process)."""
from __future__ import annotations

import pytest

from hosting.actions import queue_task
from hosting.engine.worker import execute
from hosting.models import Lock, Task, TaskLog, TaskStep
from tests.engine.helpers import steps

pytestmark = pytest.mark.django_db(transaction=True)


def _lines(record) -> list[str]:
    return [" ".join(line.split()[:3]) for line in record.read_text().splitlines()] if record.exists() else []


def _states(task: Task) -> list[tuple[str, str]]:
    return list(TaskStep.objects.filter(task=task).order_by("position").values_list("name", "state"))


def test_it_runs_the_steps_in_order_and_records_them(site, record):
    task = queue_task(site, "backup", args={"record": str(record), **steps(
        {"name": "dump", "sh": "rec dump; echo dumped"}, {"name": "archive", "sh": "rec archive"})})
    assert execute(task.pk) == Task.SUCCEEDED
    task.refresh_from_db()
    assert task.state == Task.SUCCEEDED and task.finished_at is not None
    assert _states(task) == [("dump", "done"), ("archive", "done")]
    assert all(s.started_at and s.finished_at for s in TaskStep.objects.filter(task=task))
    assert _lines(record) == [f"dump {task.pk} dump", f"archive {task.pk} archive"]
    log = list(TaskLog.objects.filter(task=task).values_list("line", flat=True))
    assert "dumped" in log and log[-1] == "Done: 2 steps."
    assert task.result["state"] == {"ran": ["dump", "archive"]}
    assert not Lock.objects.exists()


def test_it_undoes_completed_steps_in_reverse_when_a_step_fails(site, record):
    task = queue_task(site, "install", args={"record": str(record), **steps(
        {"name": "a", "sh": "rec a", "undo": "rec undo"},
        {"name": "b", "sh": "rec b", "undo": "rec undo"},
        {"name": "c", "sh": "rec c; echo 'disk full' >&2; exit 1", "undo": "rec undo"},
        {"name": "d", "sh": "rec d"})})
    assert execute(task.pk) == Task.FAILED
    task.refresh_from_db()
    assert task.summary == "Step C failed: sh failed with exit code 1: disk full; rolled back."
    assert _states(task) == [("a", "undone"), ("b", "undone"), ("c", "failed"), ("d", "pending")]
    # c failed by itself (it cleans up after itself); b and a are undone, last first.
    assert _lines(record) == [f"a {task.pk} a", f"b {task.pk} b", f"c {task.pk} c",
                              f"undo {task.pk} b:undo", f"undo {task.pk} a:undo"]
    assert not Lock.objects.exists()


def test_it_pauses_the_task_when_an_undo_fails(site, record):
    task = queue_task(site, "install", args={"record": str(record), **steps(
        {"name": "a", "sh": "true", "undo": "rec undo-a"},
        {"name": "b", "sh": "true", "undo": "echo 'cannot drop' >&2; exit 2"},
        {"name": "c", "sh": "exit 1"})})
    assert execute(task.pk) == Task.PAUSED
    task.refresh_from_db()
    assert task.state == Task.PAUSED
    assert "Step C failed" in task.summary and "cannot drop" in task.summary
    assert _states(task) == [("a", "done"), ("b", "undo-failed"), ("c", "failed")]
    # A paused task keeps its locks: nobody may touch what it left half-done.
    assert list(Lock.objects.values_list("task_id", flat=True)) == [task.pk]


def test_it_pauses_without_undoing_when_a_completed_step_cannot_be_undone(site, record):
    task = queue_task(site, "delete", args={"record": str(record), **steps(
        {"name": "backup", "sh": "true"},
        {"name": "drop-db", "sh": "rec drop", "reversible": False},
        {"name": "remove-files", "sh": "exit 1"})})
    assert execute(task.pk) == Task.PAUSED
    task.refresh_from_db()
    assert "step Drop db cannot be undone" in task.summary
    assert _states(task) == [("backup", "done"), ("drop-db", "done"), ("remove-files", "failed")]


def test_it_fails_a_task_whose_plan_cannot_be_built(server):
    task = queue_task(server, "verify", args={"broken": True})
    assert execute(task.pk) == Task.FAILED
    task.refresh_from_db()
    assert task.summary == "Could not plan the task: RuntimeError: this plan cannot be built"
    assert not Lock.objects.exists()


def test_it_kills_a_program_past_the_deadline_and_fails_the_task(site, record, settings):
    settings.HARBORMASTER_DEADLINES = {**settings.HARBORMASTER_DEADLINES, "site.backup": 1}
    task = queue_task(site, "backup", args={"record": str(record), **steps(
        {"name": "copy", "sh": "rec start; sleep 30; rec end"})})
    assert execute(task.pk) == Task.FAILED
    task.refresh_from_db()
    assert task.summary == "The task ran past its deadline of 1 s during step Copy; nothing to roll back."
    assert _lines(record) == [f"start {task.pk} copy"]


def test_it_ends_with_a_warning_when_the_operation_warns(site):
    task = queue_task(site, "verify", args=steps({"name": "check", "sh": "true", "warn": "files/ is not writable"}))
    assert execute(task.pk) == Task.WARNING
    assert Task.objects.get(pk=task.pk).summary == "Done with warnings."


def test_it_pauses_a_task_whose_undo_outlasts_the_rollback_deadline(site, record, settings):
    settings.HARBORMASTER_ROLLBACK_DEADLINE = 1
    task = queue_task(site, "install", args={"record": str(record), **steps(
        {"name": "a", "sh": "true", "undo": "sleep 30"},
        {"name": "b", "sh": "exit 1"})})
    assert execute(task.pk) == Task.PAUSED
    task.refresh_from_db()
    assert "Step B failed" in task.summary and "paused for a human" in task.summary
    assert _states(task) == [("a", "undo-failed"), ("b", "failed")]


def test_it_says_one_step_in_the_singular_and_rolls_back_without_doubled_punctuation(site, record):
    task = queue_task(site, "backup", args={"record": str(record), **steps({"name": "dump", "sh": "rec dump"})})
    assert execute(task.pk) == Task.SUCCEEDED
    task.refresh_from_db()
    assert task.summary == "Done: 1 step."
    task = queue_task(site, "install", args={"record": str(record), **steps(
        {"name": "a", "sh": "rec a", "undo": "rec undo"},
        {"name": "b", "sh": "echo 'drush is not on PATH.' >&2; exit 1"})})
    assert execute(task.pk) == Task.FAILED
    task.refresh_from_db()
    assert task.summary == "Step B failed: sh failed with exit code 1: drush is not on PATH; rolled back."
