"""Worker clusters register and beat (hosting.engine.registry): a real qcluster records itself,
beats once per heartbeat with one statement, marks itself stopped on a clean exit, and a cluster
that dies is reported within two beats, even with nothing queued."""
from __future__ import annotations

import signal
import time
from datetime import timedelta

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from hosting import clusters as served
from hosting import health
from hosting.engine import registry
from hosting.engine.instance import instance_key
from hosting.engine.owner import Owner
from hosting.models import Cluster
from tests.engine.helpers import wait_for
from tests.registry import cluster_row


def _reg(queue: str = "local", **fields) -> registry.Registration:
    return registry.Registration(queue=queue, workers=2, owner=Owner("h1", 1234, 99.5), instance="i1", **fields)


@pytest.mark.django_db
def test_one_beat_is_one_upsert():
    reg = _reg()
    for _ in range(2):  # the insert, then the update of the same row
        with CaptureQueriesContext(connection) as captured:
            registry.beat(reg)
        assert len(captured) == 1 and "ON CONFLICT" in captured[0]["sql"], captured.captured_queries
    row = Cluster.objects.get()
    assert ((row.host, row.pid, row.process_started, row.queue, row.workers, row.instance)
            == ("h1", 1234, 99.5, "local", 2, "i1"))


@pytest.mark.django_db
def test_a_beat_brings_back_a_removed_row_but_never_a_stopped_one():
    reg = _reg()
    registry.beat(reg)
    started = Cluster.objects.get().started_at
    Cluster.objects.all().delete()  # a clean-up on another host, a database restored
    registry.beat(reg)
    assert Cluster.objects.get().stopped_at is None
    registry.beat(reg)
    assert Cluster.objects.get().started_at >= started
    registry.stopped(reg, Cluster.STOPPED)
    registry.beat(reg)  # a beat in flight as the process stops
    row = Cluster.objects.get()
    assert row.stopped_at is not None and row.stop_reason == Cluster.STOPPED


@pytest.mark.django_db
def test_it_removes_rows_gone_for_an_hour():
    old = cluster_row(beat_ago=3601)
    recent = cluster_row(beat_ago=3000, stopped_at=timezone.now())
    assert registry.clean_up() == 1
    assert list(Cluster.objects.values_list("pk", flat=True)) == [recent.pk] and old.pk != recent.pk


@pytest.mark.django_db
def test_it_reads_the_waiting_reason_of_a_task_from_the_registry(server, site):
    from hosting.actions import queue_task

    task = queue_task(site, "backup")
    assert served.waiting_reason(task) == "no worker cluster serves queue local: none has registered " \
                                         "(is `qcluster` running for local?)"
    row = cluster_row("local", host="w1", pid=77)
    assert served.waiting_reason(task) == ""
    row.stopped_at, row.stop_reason = timezone.now() - timedelta(seconds=5), Cluster.STOPPED
    row.save()
    assert served.waiting_reason(task).startswith(
        "no worker cluster serves queue local: the last one (w1 pid 77) stopped")
    assert "w1" not in served.waiting_reason(task, internals=False)
    task.waiting_reason = "waiting for task #3 holding site:1"
    assert served.waiting_reason(task) == "waiting for task #3 holding site:1"


@pytest.mark.slow
@pytest.mark.django_db(transaction=True)
def test_a_real_cluster_registers_beats_and_marks_itself_stopped(clusters, server):
    cluster = clusters.start("local", heartbeat=0.5)
    row = wait_for(lambda: Cluster.objects.filter(pid=cluster.pid).first(), 10, "the cluster's row")
    assert (row.queue, row.workers, row.instance, row.stopped_at) == ("local", 2, instance_key(), None)
    first = row.beat_at
    wait_for(lambda: Cluster.objects.get(pk=row.pk).beat_at > first, 5, "a second beat")
    assert health.worker_cluster(server).ok
    cluster.proc.send_signal(signal.SIGTERM)
    cluster.proc.wait(timeout=30)
    row.refresh_from_db()
    assert row.stop_reason == Cluster.STOPPED and row.stopped_at is not None
    check = health.worker_cluster(server)  # at once: no need to wait for missed beats
    assert not check.ok and "stopped" in check.detail


@pytest.mark.slow
@pytest.mark.django_db(transaction=True)
def test_a_sigkilled_idle_cluster_is_reported_within_two_beats(clusters, server, settings):
    settings.HARBORMASTER_HEARTBEAT = 1.0
    cluster = clusters.start("local", heartbeat=1.0)
    wait_for(lambda: Cluster.objects.filter(pid=cluster.pid).exists(), 10, "the cluster's row")
    wait_for(lambda: health.worker_cluster(server).ok, 5, "the queue to be served")
    cluster.kill(signal.SIGKILL)
    killed = time.monotonic()
    check = wait_for(lambda: (c := health.worker_cluster(server)) and not c.ok and c, 10, "the report")
    took = time.monotonic() - killed
    # Two beats and a second of slack after the last beat, which came at most a beat before the kill.
    # The rest is the polling of this test and of the health check on a loaded machine.
    assert took <= 2 * 1.0 + served.STALE_SLACK + 1.5, took
    assert "stopped beating" in check.detail and "none has registered" not in check.detail
