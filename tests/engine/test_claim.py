"""Claim: atomic, with locks, caps and fair turns; stale and duplicate deliveries do nothing."""
from __future__ import annotations

from datetime import timedelta

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from hosting.actions import queue_task
from hosting.engine.claim import claim, lock_keys
from hosting.engine.owner import Owner
from hosting.engine.worker import execute
from hosting.models import Lock, Task

pytestmark = pytest.mark.django_db

ME = Owner("this-host", 4242, 1000.0)


def test_it_claims_a_queued_task_with_owner_heartbeat_deadline_and_lock(site, clock, settings):
    settings.HARBORMASTER_DEADLINES = {**settings.HARBORMASTER_DEADLINES, "site.backup": 77}
    task = queue_task(site, "backup")
    claimed = claim(task.pk, ME)
    assert claimed is not None and claimed.state == Task.RUNNING
    assert (claimed.owner_host, claimed.owner_pid, claimed.owner_started) == ("this-host", 4242, 1000.0)
    assert claimed.heartbeat_at == clock.now and claimed.started_at == clock.now
    assert claimed.deadline_at == clock.now + timedelta(seconds=77)
    assert claimed.attempt == 1
    assert list(Lock.objects.values_list("key", "task_id")) == [(f"site:{site.pk}", task.pk)]


def test_it_leaves_a_task_queued_saying_which_task_holds_its_lock(site, clock):
    first = queue_task(site, "backup")
    second = queue_task(site, "verify")
    assert claim(first.pk, ME) is not None
    assert claim(second.pk, ME) is None
    second.refresh_from_db()
    assert second.state == Task.QUEUED
    assert second.waiting_reason == f"waiting for task #{first.pk} holding site:{site.pk}"
    assert second.waiting_on_id == first.pk and second.waited_at == clock.now


def test_it_takes_the_extra_locks_of_the_plan_and_waits_on_them(site, make_site, acme, clock):
    other = make_site("other.acme.test", acme)
    holder = queue_task(other, "backup")
    claim(holder.pk, ME)
    task = queue_task(site, "clone")
    assert lock_keys(task, [f"site:{other.pk}"]) == sorted([f"site:{site.pk}", f"site:{other.pk}"])
    assert claim(task.pk, ME, [f"site:{other.pk}"]) is None
    assert Task.objects.get(pk=task.pk).waiting_on_id == holder.pk
    # Nothing of the waiting task's locks stayed behind.
    assert not Lock.objects.filter(task=task).exists()


def test_it_does_nothing_for_a_task_that_is_not_queued(site, clock):
    task = queue_task(site, "backup")
    assert claim(task.pk, ME) is not None
    assert claim(task.pk, Owner("elsewhere", 1, 1.0)) is None
    task.refresh_from_db()
    assert task.owner_host == "this-host" and task.attempt == 1


def test_it_removes_a_lock_that_a_final_task_somehow_kept(site, clock):
    old = queue_task(site, "backup")
    Task.objects.filter(pk=old.pk).update(state=Task.FAILED)
    Lock.objects.create(key=f"site:{site.pk}", task=old)
    task = queue_task(site, "verify")
    assert claim(task.pk, ME) is not None
    assert list(Lock.objects.values_list("task_id", flat=True)) == [task.pk]


def test_it_lets_a_resumed_task_keep_its_own_locks(site, clock):
    task = queue_task(site, "install")
    Lock.objects.create(key=f"site:{site.pk}", task=task)
    assert claim(task.pk, ME) is not None
    assert Lock.objects.get().task_id == task.pk


def test_it_keeps_a_task_queued_while_its_server_runs_its_limit(site, make_site, server, clock):
    server.max_running_tasks = 1
    server.save()
    first = queue_task(site, "backup")
    second = queue_task(make_site("b.test"), "backup")
    assert claim(first.pk, ME) is not None
    assert claim(second.pk, ME) is None
    assert Task.objects.get(pk=second.pk).waiting_reason == "server local runs 1 tasks, its limit"


def test_it_keeps_a_task_queued_while_its_client_runs_its_limit(make_site, acme, clock, settings):
    settings.HARBORMASTER_CLIENT_CONCURRENCY = 2
    tasks = [queue_task(make_site(f"s{i}.acme.test", acme), "verify") for i in range(3)]
    assert claim(tasks[0].pk, ME) and claim(tasks[1].pk, ME)
    assert claim(tasks[2].pk, ME) is None
    assert Task.objects.get(pk=tasks[2].pk).waiting_reason == "client acme runs 2 tasks, its limit"


@pytest.mark.django_db(transaction=True)
def test_it_serialises_claims_with_the_server_row(site, clock):
    task = queue_task(site, "backup")
    with CaptureQueriesContext(connection) as queries:
        assert claim(task.pk, ME) is not None
    sql = [q["sql"] for q in queries]
    server_locks = [q for q in sql if 'FROM "hosting_server"' in q and "FOR NO KEY UPDATE" in q]
    if connection.features.has_select_for_update:
        assert len(server_locks) == 1  # PostgreSQL: the server row, held until the claim commits
    else:
        # SQLite: the claim's transaction takes the database's write lock at BEGIN, which
        # serialises every claim; a row lock would be a no-op query.
        assert sql[0] == "BEGIN IMMEDIATE" and not server_locks


@pytest.mark.django_db(transaction=True)
def test_it_runs_a_task_once_when_it_is_delivered_twice(site, record):
    task = queue_task(site, "backup", args={"record": str(record), "steps": [{"name": "a", "sh": "rec run"}]})
    assert execute(task.pk) == Task.SUCCEEDED
    assert execute(task.pk) == "not queued (succeeded)"
    assert execute(999999) == "gone"
    assert record.read_text().count("run ") == 1


@pytest.mark.django_db(transaction=True)
def test_it_hands_the_waiting_task_over_when_the_holder_ends(site, monkeypatch):
    sent: list[int] = []
    monkeypatch.setattr("hosting.engine.dispatch.dispatch", lambda task_id, queue: sent.append(task_id) or True)
    holder = queue_task(site, "backup")
    waiter = queue_task(site, "verify")
    assert claim(holder.pk, Owner.current()) is not None
    assert execute(waiter.pk) == "waiting or taken"
    sent.clear()
    from hosting.engine import ending

    ending.end(holder.pk, Task.SUCCEEDED, "done")
    assert sent == [waiter.pk]
    assert execute(waiter.pk) == Task.SUCCEEDED


def _race(task_ids: list[int]) -> list[int]:
    """Claim TASK_IDS from as many threads (connections) at once; the ids that started."""
    import threading

    from django.db import connection

    barrier = threading.Barrier(len(task_ids))
    won: list[int] = []

    def attempt(task_id: int) -> None:
        try:
            barrier.wait()
            if claim(task_id, Owner("racer", 1000 + task_id, 1.0)) is not None:
                won.append(task_id)
        finally:
            connection.close()
    threads = [threading.Thread(target=attempt, args=(pk,)) for pk in task_ids]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    return won


@pytest.mark.django_db(transaction=True)
def test_it_lets_exactly_one_of_racing_claims_take_a_lock(site):
    tasks = [queue_task(site, "verify").pk for _ in range(6)]
    won = _race(tasks)
    assert len(won) == 1
    assert list(Lock.objects.values_list("task_id", flat=True)) == won
    assert Task.objects.filter(state=Task.QUEUED, waiting_on_id=won[0]).count() == 5


@pytest.mark.django_db(transaction=True)
def test_it_keeps_to_the_server_cap_when_claims_race(server, make_site, settings):
    settings.HARBORMASTER_SERVER_CONCURRENCY = 2
    tasks = [queue_task(make_site(f"r{i}.test"), "verify").pk for i in range(6)]
    won = _race(tasks)
    assert len(won) == 2 and Task.objects.filter(state=Task.RUNNING).count() == 2
