"""Task-history retention (hosting.prune): exactly the old finished tasks go, with their steps
and log lines; what backups, retries, schedules and the queue need stays; the work is done in
short transactions that never hold up a claim for long."""
from __future__ import annotations

import threading
import time
from datetime import timedelta
from io import StringIO

import pytest
from django.core.management import CommandError, call_command
from django.db import connection, transaction
from django.utils import timezone
from django_q.models import Schedule

from hosting import prune
from hosting.actions import queue_task
from hosting.engine.claim import claim
from hosting.engine.owner import Owner
from hosting.models import AuditEvent, Backup, Lock, Task, TaskLog, TaskStep, TaskWatch
from tests.hosting.test_config import run_manage

ME = Owner("this-host", 4242, 1000.0)


@pytest.fixture(autouse=True)
def no_broker(monkeypatch):
    monkeypatch.setattr("hosting.engine.dispatch.dispatch", lambda task_id, queue: True)


def old_task(site, state: str = Task.SUCCEEDED, days: float = 100, kind: str = "verify", lines: int = 3,
             steps: int = 2, **fields) -> Task:
    """A task of SITE created and (if final) finished DAYS ago, with steps and log lines."""
    at = timezone.now() - timedelta(days=days)
    task = queue_task(site, kind, args=fields.pop("args", None), retry_of=fields.pop("retry_of", None))
    final = state in Task.FINAL
    Task.objects.filter(pk=task.pk).update(state=state, created_at=at, started_at=at, finished_at=at if final else None,
                                           **fields)
    TaskStep.objects.bulk_create([TaskStep(task=task, position=i, name=f"s{i}", state="done") for i in range(steps)])
    TaskLog.objects.bulk_create([TaskLog(task=task, position=i, at=at, line=f"line {i}") for i in range(lines)])
    task.refresh_from_db()
    return task


@pytest.mark.django_db
def test_it_prunes_exactly_the_old_finished_tasks_with_their_steps_and_log(site, hm_dirs):
    doomed = [old_task(site, state) for state in Task.FINAL]
    watched = doomed[0]
    TaskWatch.objects.create(task=watched, state=watched.state, attempt=0)
    recent = old_task(site, days=20)
    active = [old_task(site, state) for state in Task.ACTIVE]
    locked = old_task(site, Task.FAILED)
    Lock.objects.create(key="site:99", task=locked)
    backed_up = old_task(site, kind="backup")
    Backup.objects.create(site=site, domain=site.domain, client=site.client, path="/b/1.tar.zst", task=backed_up)
    # A chain whose newest retry is recent stays whole; a chain that is old everywhere goes.
    first = old_task(site, Task.FAILED)
    second = old_task(site, Task.FAILED, retry_of=first)
    old_task_kept_by = old_task(site, days=2, retry_of=second)
    gone_first = old_task(site, Task.FAILED)
    gone_retry = old_task(site, retry_of=gone_first)
    # The newest scheduled backup of the site counts the schedule's period: it stays.
    older_scheduled = old_task(site, Task.FAILED, days=120, kind="backup", args={"kind": "scheduled"})
    newest_scheduled = old_task(site, Task.FAILED, days=110, kind="backup", args={"kind": "scheduled"})
    waiting = queue_task(site, "verify")
    Task.objects.filter(pk=waiting.pk).update(waiting_on=doomed[1], waiting_reason="waiting")
    audit_before = AuditEvent.objects.count()

    result = prune.prune(30)

    gone = {t.pk for t in doomed} | {gone_first.pk, gone_retry.pk, older_scheduled.pk}
    kept = ({recent.pk, locked.pk, backed_up.pk, first.pk, second.pk, old_task_kept_by.pk, newest_scheduled.pk,
             waiting.pk} | {t.pk for t in active})
    assert set(Task.objects.values_list("pk", flat=True)) == kept
    assert set(TaskStep.objects.values_list("task_id", flat=True)) == kept - {waiting.pk}
    assert set(TaskLog.objects.values_list("task_id", flat=True)) == kept - {waiting.pk}
    assert not TaskWatch.objects.filter(task_id=watched.pk).exists()
    assert Task.objects.get(pk=waiting.pk).waiting_on_id is None
    assert Task.objects.get(pk=second.pk).retry_of_id == first.pk
    assert Backup.objects.get().task_id == backed_up.pk
    assert (result.tasks, result.steps, result.log_lines) == (len(gone), 2 * len(gone), 3 * len(gone))
    # Kept: finished before the cutoff but needed (the lock, the backup, the chain, the schedule).
    assert result.kept == 5 and result.finished
    assert AuditEvent.objects.count() == audit_before  # the record of who did what stays


@pytest.mark.django_db
def test_a_task_retried_while_it_is_being_pruned_stays_with_its_retry(site, hm_dirs, monkeypatch):
    old = old_task(site, Task.FAILED)
    other = old_task(site)
    scanned = prune.chain_keeps
    retries = []

    def scan_then_retry(ids, cutoff):
        keeps = scanned(ids, cutoff)
        retries.append(queue_task(site, "verify", retry_of=Task.objects.get(pk=old.pk)))  # someone presses Retry
        return keeps

    monkeypatch.setattr(prune, "chain_keeps", scan_then_retry)
    result = prune.prune(30)
    assert retries and Task.objects.filter(pk=old.pk).exists() and not Task.objects.filter(pk=other.pk).exists()
    assert Task.objects.get(pk=retries[0].pk).retry_of_id == old.pk
    assert (result.tasks, result.skipped, result.kept) == (1, 1, 0)
    assert "kept 0 older tasks" in prune.summary(result) and "1 changed meanwhile" in prune.summary(result)


@pytest.mark.django_db
def test_it_counts_without_deleting_on_a_dry_run(site, hm_dirs):
    for _ in range(3):
        old_task(site)
    result = prune.prune(30, dry_run=True)
    assert (result.tasks, result.steps, result.log_lines, result.transactions) == (3, 6, 9, 0)
    assert Task.objects.count() == 3 and TaskLog.objects.count() == 9


@pytest.mark.django_db
def test_it_refuses_to_prune_tasks_younger_than_a_day(site):
    with pytest.raises(ValueError):
        prune.prune(0)


class Transactions:
    """Rows deleted per committed transaction, told apart with on_commit (both databases)."""

    def __init__(self) -> None:
        self.rows, self.current, self.open = [], 0, False

    def __call__(self, execute, sql, params, many, context):
        result = execute(sql, params, many, context)
        if connection.in_atomic_block:
            if not self.open:
                self.open = True
                transaction.on_commit(self.close)
            if sql.lstrip().upper().startswith("DELETE"):
                self.current += max(0, context["cursor"].rowcount)
        return result

    def close(self) -> None:
        self.rows.append(self.current)
        self.current, self.open = 0, False


@pytest.mark.django_db(transaction=True)
def test_it_deletes_in_transactions_of_at_most_a_batch(site, hm_dirs):
    for _ in range(12):
        old_task(site, lines=10, steps=3)          # 14 rows each
    huge = old_task(site, lines=130, steps=1)      # its log alone is over a batch
    recorder = Transactions()
    with connection.execute_wrapper(recorder):
        result = prune.prune(30, batch=40)
    total = 12 * 14 + 1 + 1 + 130
    assert result.rows == total and not Task.objects.exists() and not TaskLog.objects.exists()
    assert sum(recorder.rows) == total
    assert max(recorder.rows) <= 40, recorder.rows
    # 168 rows of small tasks fill at least 5 transactions of 40; the big log takes 4 of its own.
    assert len(recorder.rows) == result.transactions >= 9
    assert result.longest > 0 and len(result.durations) == result.transactions
    assert huge.pk not in set(Task.objects.values_list("pk", flat=True))


@pytest.mark.django_db(transaction=True)
def test_a_claim_is_not_held_up_while_a_big_history_is_pruned(site, hm_dirs):
    at = timezone.now() - timedelta(days=100)
    tasks = Task.objects.bulk_create([
        Task(kind="verify", target_type="site", site=site, platform=site.platform, server=site.platform.server,
             client=site.client, target_label=site.domain, state=Task.SUCCEEDED, finished_at=at) for _ in range(3000)])
    Task.objects.filter(pk__in=[t.pk for t in tasks]).update(created_at=at)
    TaskLog.objects.bulk_create([TaskLog(task=t, position=i, at=at, line="x" * 60) for t in tasks for i in range(10)],
                                batch_size=5000)
    rounds, done = threading.Event(), threading.Event()
    outcome: dict = {}

    def run() -> None:
        try:
            outcome["result"] = prune.prune(30, batch=100, progress=lambda _: rounds.set())
        finally:
            done.set()
            connection.close()

    worker = threading.Thread(target=run)
    worker.start()
    try:
        assert rounds.wait(60), "the prune made no progress"
        waits = []
        for _ in range(5):
            task = queue_task(site, "backup")
            started = time.perf_counter()
            claimed = claim(task.pk, ME)
            waits.append(time.perf_counter() - started)
            assert claimed is not None and claimed.state == Task.RUNNING
            Task.objects.filter(pk=task.pk).update(state=Task.SUCCEEDED, finished_at=timezone.now())
            Lock.objects.filter(task=task).delete()
        # The claims were made while the prune was still deleting: a prune in one transaction
        # would have kept every one of them waiting until its end.
        still_pruning = not done.is_set()
    finally:
        worker.join(120)
    assert still_pruning, "the prune ended before the claims: make the history bigger"
    assert max(waits) < 0.5, waits
    assert outcome["result"].tasks == 3000 and outcome["result"].transactions > 50


def run(*args: str) -> str:
    out = StringIO()
    call_command("tasks", *args, stdout=out, stderr=StringIO())
    return out.getvalue()


@pytest.mark.django_db
def test_the_command_prints_what_it_would_remove_and_what_it_removed(site, hm_dirs, settings):
    settings.HARBORMASTER_TASK_RETENTION_DAYS = 60
    for days in (100, 100, 40):
        old_task(site, days=days)
    assert run("prune", "--dry-run").startswith("Would prune 2 tasks (4 steps, 6 log lines) finished before")
    assert Task.objects.count() == 3
    out = run("prune", "--older-than", "30", "--batch", "5")
    assert out.startswith("Pruned 3 tasks (6 steps, 9 log lines) finished before")
    assert "transactions (longest" in out and Task.objects.count() == 0
    event = AuditEvent.objects.get(action="tasks.pruned")
    assert event.actor_label.startswith("cli") and event.after["tasks"] == 3


@pytest.mark.django_db
@pytest.mark.parametrize("args, message", [
    (("--older-than", "0"), "at least 1 day"),
    (("--batch", "0"), "at least 1 row"),
])
def test_the_command_refuses_bad_values(site, args, message):
    with pytest.raises(CommandError, match=message):
        run("prune", *args)


@pytest.mark.django_db
def test_the_command_needs_days_when_retention_is_off(site, settings):
    settings.HARBORMASTER_TASK_RETENTION_DAYS = 0
    with pytest.raises(CommandError, match="keep forever"):
        run("prune")


@pytest.mark.django_db
def test_it_runs_hourly_on_the_scheduler_queue_by_the_setting(site, hm_dirs, settings):
    schedule = Schedule.objects.get(name="harbormaster: task history retention")
    assert (schedule.func, schedule.minutes, schedule.cluster) == (
        "hosting.prune.run_scheduled", 60, settings.HARBORMASTER_SCHEDULER_QUEUE)
    old_task(site, days=100)
    settings.HARBORMASTER_TASK_RETENTION_DAYS = 0
    assert "off" in prune.run_scheduled() and Task.objects.count() == 1
    settings.HARBORMASTER_TASK_RETENTION_DAYS = 90
    assert prune.run_scheduled().startswith("Pruned 1 tasks")
    assert not Task.objects.exists()
    assert AuditEvent.objects.get(action="tasks.pruned").actor_label == prune.ACTOR
    prune.run_scheduled()  # nothing to prune: no second event
    assert AuditEvent.objects.filter(action="tasks.pruned").count() == 1


def test_the_setting_is_parsed_strictly(tmp_path):
    result = run_manage(tmp_path, "check", HARBORMASTER_TASK_RETENTION_DAYS="a month")
    assert result.returncode != 0
    assert "HARBORMASTER_TASK_RETENTION_DAYS: expected a whole number" in result.stderr
    result = run_manage(tmp_path, "check", HARBORMASTER_TASK_RETENTION_DAYS="-1")
    assert "HARBORMASTER_TASK_RETENTION_DAYS: must be at least 0" in result.stderr
