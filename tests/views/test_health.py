from datetime import timedelta

import pytest
from django.utils import timezone

from hosting import health
from hosting.models import Server
from tests.registry import cluster_row
from tests.views.conftest import make_task


@pytest.fixture(autouse=True)
def beats(settings):
    settings.HARBORMASTER_HEARTBEAT = 5.0  # a queue nobody serves is reported after 11 s


def test_it_checks_the_control_database_and_broker(db):
    database, broker = health.control_database(), health.broker()
    assert database.ok and database.latency_ms is not None
    assert broker.ok and "message(s) waiting" in broker.detail


def test_it_reports_a_queue_no_cluster_serves_even_when_nothing_is_queued(server):
    check = health.worker_cluster(server)
    assert not check.ok and "no worker cluster serves queue local: none has registered" in check.detail


def test_it_counts_the_tasks_an_unserved_queue_holds_up(server, site):
    for _ in range(3):
        make_task(site, "backup", "queued")
    check = health.worker_cluster(server)
    assert not check.ok and check.detail.endswith("; 3 task(s) queued")


def test_it_shows_the_live_clusters_of_a_queue(server):
    cluster_row("local", host="web1", pid=4321, version="0.1.0")
    check = health.worker_cluster(server)
    assert check.ok and "web1 pid 4321: 2 worker(s), up 60 min, beat 0 s ago, version 0.1.0" in check.detail


def test_it_reports_a_cluster_silent_for_two_beats(server):
    row = cluster_row("local", host="web1", pid=4321, beat_ago=10.5)  # two beats and a late tick
    assert health.worker_cluster(server).ok
    row.beat_at = timezone.now() - timedelta(seconds=11.5)
    row.save()
    check = health.worker_cluster(server)
    assert not check.ok and "the last one (web1 pid 4321) stopped beating 11 s ago" in check.detail


def test_it_reports_a_cluster_that_stopped_at_once(server):
    cluster_row("local", host="web1", pid=4321, stopped_at=timezone.now() - timedelta(seconds=3),
                stop_reason="stopped")
    check = health.worker_cluster(server)
    assert not check.ok and "the last one (web1 pid 4321) stopped 3 s ago" in check.detail


def test_a_busy_cluster_behind_on_its_beat_is_not_down(server, site):
    # Every worker runs a long task and the housekeeping thread fell behind: the tasks' own
    # heartbeats show workers are there.
    cluster_row("local", beat_ago=30)
    make_task(site, "backup", "running", heartbeat_at=timezone.now())
    check = health.worker_cluster(server)
    assert check.ok and "running tasks beat" in check.detail


def test_it_reports_clusters_that_beat_but_take_no_message(server):
    from django_q.models import OrmQ

    cluster_row("local")
    OrmQ.objects.create(key="local", payload="x", lock=timezone.now() - timedelta(minutes=2))
    check = health.worker_cluster(server)
    assert not check.ok and "no worker has taken a message of queue local for 1" in check.detail


def test_it_reports_what_a_live_cluster_says_is_wrong(server):
    cluster_row("local", problem="tasks [4] stay queued with nothing running")
    assert "tasks [4] stay queued" in health.worker_cluster(server).detail
    cluster_row("local", unreadable=3, unreadable_at=timezone.now() - timedelta(minutes=1))
    check = health.worker_cluster(server)
    assert not check.ok and "dropped 3 unreadable message(s), the last 60 s ago" in check.detail


def test_it_only_requires_clusters_for_the_queues_of_servers(db):
    # A fresh instance: no server, so no queue that must be served.
    assert [(c.name, c.ok) for c in health.worker_checks()] == [("workers", True)]
    cluster_row("spare")
    checks = {c.name: c for c in health.worker_checks()}
    spare = checks["workers of queue spare"]
    assert spare.ok and "no server uses this queue" in spare.detail
    Server.objects.create(name="web2", queue="web2", hostname="localhost")
    checks = {c.name: c for c in health.worker_checks()}
    assert set(checks) == {"workers of queue spare", "workers of queue web2"} and not checks["workers of queue web2"].ok


def test_it_measures_free_disk_on_this_host(server):
    check = health.disk(server)
    assert check.ok and "GiB free" in check.detail


def test_it_does_not_measure_another_hosts_disk(server):
    server.hostname = "far.example.test"
    assert "another host" in health.disk(server).detail
