"""Two instances on one Redis (issue 13, item 5): with the default queue name both clusters read
one list, took each other's messages, could not unsign them (each instance has its own secret
key) and dropped them; the victim's watchdog then restarted its cluster in a loop. Everything an
instance puts in Redis is now under its instance key. Uses Redis database 11 only, flushed before
and after."""
from __future__ import annotations

import time
from datetime import timedelta
from pathlib import Path

import pytest
from django.utils import timezone

from hosting.actions import queue_task
from hosting.models import Platform, Site, Task
from tests.engine.clusters import ClusterFactory
from tests.engine.helpers import steps, wait_for
from tests.security.other_instance import OtherInstance
from tests.services import need_service

pytestmark = [pytest.mark.django_db(transaction=True)]
DB = 11


@pytest.fixture
def redis_url(monkeypatch):
    """This process's django-q2 on Redis database DB, as settings configure it with REDIS_URL."""
    import redis
    from django_q.conf import Conf

    from hosting.engine import routing

    host, port = need_service("redis")
    url = f"redis://{host}:{port}/{DB}"
    conn = redis.from_url(url)
    conn.flushdb()
    monkeypatch.setattr(Conf, "ORM", None)
    monkeypatch.setattr(Conf, "BROKER_CLASS", getattr(routing, "REDIS_BROKER", None))
    monkeypatch.setattr(Conf, "REDIS", url)
    try:
        yield url
    finally:
        conn.flushdb()
        conn.close()


@pytest.fixture(autouse=True)
def engine_settings(settings):
    settings.HARBORMASTER_EXTRA_OPERATIONS = ["tests.engine.ops"]
    settings.HARBORMASTER_HEARTBEAT = 0.5
    return settings


@pytest.fixture
def clusters(tmp_path: Path):
    factory = ClusterFactory(tmp_path)
    try:
        yield factory
    finally:
        factory.kill_all()


@pytest.fixture
def make_site(server, tmp_path: Path):
    root = tmp_path / "platform"
    root.mkdir()
    platform = Platform.objects.create(name="p1", server=server, path=str(root), status="enabled")

    def make(domain: str) -> Site:
        return Site.objects.create(domain=domain, platform=platform, status="enabled")
    return make


@pytest.mark.slow
def test_two_instances_on_one_redis_run_all_their_tasks_without_restarts(
        redis_url, clusters, make_site, tmp_path):
    other = OtherInstance(tmp_path / "other", REDIS_URL=redis_url)
    other.migrate()
    mine = clusters.start("local", env={"REDIS_URL": redis_url})
    theirs = clusters.start("local", env={"REDIS_URL": redis_url, **other.env()})
    # Both pushers wait on Redis before anything is queued: each message goes to whichever
    # BLPOP comes first, so before the fix about half of each instance's tasks were taken.
    time.sleep(1.0)
    my_tasks = [queue_task(make_site(f"s{i}.mine.test"), "verify", args=steps({"name": "v", "sh": "true"}))
                for i in range(8)]
    their_tasks = other.queue(8)

    def all_done() -> bool:
        mine_done = Task.objects.filter(pk__in=[t.pk for t in my_tasks], state=Task.SUCCEEDED).count() == 8
        states = other.states()
        return mine_done and all(states.get(pk) == Task.SUCCEEDED for pk in their_tasks)

    # Well under the reconciler's blind re-send (60 s): nothing may be lost on the way.
    wait_for(all_done, timeout=25, what="both instances' tasks", every=0.3)
    mine_pids = {p.pid for p in mine.processes()}
    assert all(Task.objects.get(pk=t.pk).owner_pid in mine_pids for t in my_tasks)
    for cluster in (mine, theirs):
        assert cluster.proc.poll() is None, cluster.log.read_text()[-3000:]  # no restart
        log = cluster.log.read_text()
        assert "Failed to push" not in log and "unreadable" not in log and "wedged" not in log, log[-3000:]


# --- A message this instance cannot read is reported, counted, kept and its task re-sent -------

@pytest.fixture
def counted(monkeypatch):
    """The shared counter qcluster's main process makes before it forks."""
    import multiprocessing

    from hosting.engine import registry

    monkeypatch.setattr(registry, "_unreadable", multiprocessing.get_context("fork").Array("d", 2))
    return registry


def _foreign_package() -> bytes:
    """A django-q2 package signed with another instance's secret key."""
    from django_q import core_signing
    from django_q.conf import Conf
    from django_q.signing import PickleSerializer

    return core_signing.dumps({"id": "x", "func": "hosting.engine.worker.execute", "args": (1,)},
                              key="another-instance-" + "k" * 40, salt=Conf.PREFIX,
                              serializer=PickleSerializer).encode()


def test_redis_keys_are_under_the_instance_key(redis_url, server, make_site):
    from hosting.engine import reconcile
    from hosting.engine.instance import instance_key
    from hosting.engine.routing import redis_list

    task = queue_task(make_site("www.acme.test"), "backup")
    conn, key = redis_list("local")
    assert key == f"django_q:{instance_key()}:local:q" and conn.llen(key) == 1
    assert conn.llen("django_q:local:q") == 0  # django-q2's own key, shared by every instance
    assert reconcile.redis_messages("local") == [task.pk]


def test_an_unreadable_redis_message_is_reported_counted_and_kept(redis_url, counted, caplog):
    from hosting.engine.broker import Redis, redis_key

    broker = Redis(list_key="local")
    broker.connection.rpush(broker.list_key, _foreign_package())
    assert broker.dequeue() is None  # the pusher gets nothing to run
    assert counted.unreadable()[0] == 1
    assert "queue local: dropped an unreadable message (BadSignature" in caplog.text
    assert broker.connection.llen(redis_key("local", "unreadable")) == 1


def test_an_unreadable_orm_message_is_counted_and_its_task_handed_over_again(db, counted, server, make_site, caplog):
    from django_q.models import OrmQ

    from hosting.engine import reconcile
    from hosting.engine.broker import ORM

    task = queue_task(make_site("www.acme.test"), "backup")
    OrmQ.objects.filter(key="local").update(payload=_foreign_package().decode())  # rewritten by a foreign key
    Task.objects.filter(pk=task.pk).update(dispatched_at=timezone.now() - timedelta(seconds=30))
    assert ORM(list_key="local").dequeue() is None
    assert counted.unreadable()[0] == 1 and "dropped an unreadable message" in caplog.text
    assert not OrmQ.objects.filter(key="local").exists()
    assert reconcile.reconcile("local") == [task.pk]  # its message is gone: sent again
    assert ORM(list_key="local").dequeue()  # and this one reads


def test_a_host_whose_instance_key_differs_is_reported(redis_url, server):
    """A host of this instance set up with another HARBORMASTER_INSTANCE (or secret key) reads
    a list the panel never writes to: its tasks would wait forever behind a beating cluster."""
    from hosting import health
    from hosting.engine.instance import instance_key
    from tests.registry import cluster_row

    cluster_row("local", instance=instance_key())
    assert health.worker_cluster(server).ok
    cluster_row("local", host="web2", pid=9, instance="not-ours")
    check = health.worker_cluster(server)
    assert not check.ok and f"cluster web2 pid 9 reads Redis under instance key not-ours, this panel sends " \
                            f"under {instance_key()}" in check.detail


def test_the_instance_key_differs_between_instances_and_can_be_named(settings, tmp_path):
    from hosting.engine.instance import instance_key
    from tests.hosting.test_config import run_manage

    settings.HARBORMASTER_INSTANCE = ""
    mine = instance_key()
    assert len(mine) == 12 and mine == instance_key()  # every host of this instance derives the same
    settings.SECRET_KEY = "another-instance-" + "k" * 40
    assert instance_key() != mine
    settings.HARBORMASTER_INSTANCE = "shop-eu.1"
    assert instance_key() == "shop-eu.1"
    refused = run_manage(tmp_path, "check", HARBORMASTER_INSTANCE="two words")
    assert refused.returncode == 2 and "HARBORMASTER_INSTANCE: expected 1-40 letters" in refused.stderr
