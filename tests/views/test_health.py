from datetime import timedelta

from django.utils import timezone

from hosting import health
from tests.views.conftest import make_task


def test_it_checks_the_control_database_and_broker(db):
    database, broker = health.control_database(), health.broker()
    assert database.ok and database.latency_ms is not None
    assert broker.ok and "message(s) waiting" in broker.detail


def test_it_reports_workers_whose_tasks_stopped_beating(server, site):
    make_task(site, "backup", "running", heartbeat_at=timezone.now() - timedelta(minutes=1))
    check = health.worker_cluster(server)
    assert not check.ok and "stopped beating" in check.detail


def test_it_reports_a_queue_nobody_takes_messages_from(server):
    from django_q.models import OrmQ

    OrmQ.objects.create(key="local", payload="x", lock=timezone.now() - timedelta(minutes=2))
    check = health.worker_cluster(server)
    assert not check.ok and "is `qcluster` running for local?" in check.detail


def test_it_reports_a_live_cluster_by_its_heartbeats(server, site):
    make_task(site, "backup", "running")
    check = health.worker_cluster(server)
    assert check.ok and "last heartbeat" in check.detail


def test_it_measures_free_disk_on_this_host(server):
    check = health.disk(server)
    assert check.ok and "GiB free" in check.detail


def test_it_does_not_measure_another_hosts_disk(server):
    server.hostname = "far.example.test"
    assert "another host" in health.disk(server).detail
