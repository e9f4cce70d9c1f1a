"""The Redis broker (REDIS_URL): tasks run through it, a lost message is handed over again, a
message waiting in the list is not sent twice, and a queue nobody fetches from shows in health.
Uses Redis database 9 only, flushed before and after."""
from __future__ import annotations

from datetime import timedelta

import pytest
from django.utils import timezone

from hosting import health
from hosting.actions import queue_task
from hosting.engine import reconcile
from hosting.engine.routing import REDIS_BROKER, redis_broker, redis_list
from hosting.models import Task
from tests.engine.helpers import steps, wait_for
from tests.services import need_service

pytestmark = pytest.mark.django_db(transaction=True)
DB = 9


@pytest.fixture
def redis_url(monkeypatch):
    """Point this process's django-q2 at Redis database DB (the clusters get REDIS_URL)."""
    import redis
    from django_q.conf import Conf

    host, port = need_service("redis")
    url = f"redis://{host}:{port}/{DB}"
    conn = redis.from_url(url)
    conn.flushdb()
    monkeypatch.setattr(Conf, "ORM", None)
    monkeypatch.setattr(Conf, "BROKER_CLASS", REDIS_BROKER)  # as settings name it with REDIS_URL
    monkeypatch.setattr(Conf, "REDIS", url)
    try:
        yield url
    finally:
        conn.flushdb()
        conn.close()


def _age(task: Task, seconds: float) -> None:
    then = timezone.now() - timedelta(seconds=seconds)
    Task.objects.filter(pk=task.pk).update(created_at=then, dispatched_at=then)


def _in_list(queue: str = "local") -> list[int | None]:
    return reconcile.redis_messages(queue)


def test_it_reads_the_task_ids_of_the_redis_list(redis_url, site):
    assert redis_broker()
    task = queue_task(site, "backup")
    assert _in_list() == [task.pk]
    assert reconcile.messages_in_broker("local") == {task.pk}
    conn, key = redis_list("local")
    conn.rpush(key, b"not a signed package")
    assert _in_list() == [task.pk, None]


def test_it_resends_only_messages_absent_from_redis_and_never_piles_them_up(redis_url, site):
    task = queue_task(site, "backup")
    _age(task, 600)  # waiting for ten minutes behind a busy cluster: still in the list
    assert reconcile.reconcile("local") == []
    assert reconcile.reconcile("local") == []
    conn, key = redis_list("local")
    conn.lpop(key)  # lost with a cluster that fetched it
    assert reconcile.reconcile("local") == [task.pk]
    assert _in_list() == [task.pk]
    _age(task, 600)
    assert reconcile.reconcile("local") == []  # the re-sent message is in the list: once only


def test_it_waits_for_a_fetched_message_unless_its_cluster_is_gone(redis_url, site):
    task = queue_task(site, "backup")
    _age(task, 30)
    conn, key = redis_list("local")
    conn.lpop(key)  # fetched by a cluster whose workers are busy: in its memory
    assert reconcile.reconcile("local") == []
    # The cluster that fetched it is gone: its successor (started now) hands it over at once.
    assert reconcile.reconcile("local", started=timezone.now()) == [task.pk]
    _age(task, 30)
    conn.lpop(key)
    assert reconcile.reconcile("local") == []
    _age(task, reconcile.BLIND_RESEND + 5)  # at most one more delivery a minute
    assert reconcile.reconcile("local") == [task.pk]


def test_it_reports_a_redis_queue_whose_clusters_take_no_message(redis_url, server, site):
    from tests.registry import cluster_row

    cluster_row("local")  # a cluster beats, but reads another list (another broker, instance key)
    task = queue_task(site, "backup")
    assert health.worker_cluster(server).ok
    _age(task, 120)
    check = health.worker_cluster(server)
    assert not check.ok and "no worker has taken a message of queue local for" in check.detail
    assert "(1 waiting)" in check.detail and health.broker().detail == "Redis"
    # A cluster whose workers are all busy (their tasks beat) is not down.
    busy = queue_task(site, "verify")
    Task.objects.filter(pk=busy.pk).update(state=Task.RUNNING, heartbeat_at=timezone.now())
    check = health.worker_cluster(server)
    assert check.ok and "2 message(s) waiting" in check.detail


@pytest.mark.slow
def test_it_runs_tasks_through_redis_and_recovers_a_lost_message(redis_url, clusters, server, make_site):
    lost = queue_task(make_site("lost.test"), "verify", args=steps({"name": "v", "sh": "true"}))
    conn, key = redis_list("local")
    assert conn.delete(key) == 1  # the broker lost it before any cluster ran
    clusters.start("local", env={"REDIS_URL": redis_url})
    fresh = queue_task(make_site("fresh.test"), "verify", args=steps({"name": "v", "sh": "true"}))
    wait_for(lambda: Task.objects.get(pk=fresh.pk).state == Task.SUCCEEDED, timeout=15, what="a task via Redis")
    wait_for(lambda: Task.objects.get(pk=lost.pk).state == Task.SUCCEEDED, timeout=20,
             what="the reconciler to hand the lost task over again")
    assert Task.objects.get(pk=lost.pk).attempt == 1
    assert conn.llen(key) == 0
