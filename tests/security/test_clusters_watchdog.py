"""Issue 13, item 5: the victim's watchdog restarted its cluster in a loop. A cluster restarts
itself for a wedged worker queue at most once per WEDGE_MEMORY on a host; a cluster that finds
the same symptom again within it, or whose queue is shared with a foreign writer (it drops
unreadable messages), reports the problem (registry row, status page, `ping`) instead."""
from __future__ import annotations

import multiprocessing
import time
from datetime import timedelta
from pathlib import Path

import pytest
from django.utils import timezone

from hosting import health
from hosting.actions import queue_task
from hosting.engine import registry, watchdog
from hosting.engine.owner import Owner, hostname
from hosting.models import Cluster, Platform, Site, Task
from tests.engine.clusters import ClusterFactory
from tests.engine.helpers import steps, wait_for
from tests.registry import cluster_row

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture
def make_site(server, tmp_path: Path):
    root = tmp_path / "platform"
    root.mkdir()
    platform = Platform.objects.create(name="p1", server=server, path=str(root), status="enabled")
    count = iter(range(1000))

    def make() -> Site:
        return Site.objects.create(domain=f"s{next(count)}.test", platform=platform, status="enabled")
    return make


@pytest.fixture
def stuck(make_site, settings):
    """A startable task handed over a minute ago, and nothing running: the wedge's symptom."""
    settings.HARBORMASTER_HEARTBEAT = 0.5
    task = queue_task(make_site(), "verify")
    Task.objects.filter(pk=task.pk).update(dispatched_at=timezone.now() - timedelta(minutes=1))
    return task


def _watch() -> tuple[watchdog.Watchdog, registry.Registration]:
    reg = registry.Registration(queue="local", workers=2, owner=Owner(hostname(), 999_999, 1.0))
    return watchdog.Watchdog("local", reg), reg


def _observe(dog: watchdog.Watchdog, times: int = watchdog.CHECKS) -> list[bool]:
    started = timezone.now() - timedelta(hours=1)
    return [dog.observe(started) for _ in range(times)]


def test_the_first_wedge_restarts_the_cluster(stuck):
    dog, reg = _watch()
    assert _observe(dog) == [False, False, True]
    assert reg.problem == ""


def test_a_wedge_again_soon_after_a_restart_is_reported_not_restarted(stuck):
    cluster_row("local", host=hostname(), stopped_at=timezone.now() - timedelta(minutes=2),
                stop_reason=Cluster.WEDGED)
    dog, reg = _watch()
    assert _observe(dog, 5) == [False] * 5
    assert f"tasks [{stuck.pk}] stay queued with nothing running, 2 min after this queue's cluster was " \
           "restarted for a wedged worker queue; not restarting again within 15 min" in reg.problem
    registry.beat(reg)  # the next beat carries the report to the status page and `ping`
    check = health.worker_cluster(stuck.server)
    assert not check.ok and "not restarting again" in check.detail
    Task.objects.filter(pk=stuck.pk).update(state=Task.SUCCEEDED)  # it ran after all
    assert _observe(dog, 1) == [False] and reg.problem == ""


def test_an_older_wedge_restart_or_another_hosts_does_not_hold_it_back(stuck):
    cluster_row("local", host=hostname(), stopped_at=timezone.now() - timedelta(minutes=20), stop_reason=Cluster.WEDGED)
    cluster_row("local", host="elsewhere", stopped_at=timezone.now() - timedelta(minutes=1), stop_reason=Cluster.WEDGED)
    dog, _ = _watch()
    assert _observe(dog)[-1] is True


def test_a_queue_shared_with_a_foreign_writer_is_reported_not_restarted(stuck, monkeypatch):
    counters = multiprocessing.get_context("fork").Array("d", [4, time.time()])
    monkeypatch.setattr(registry, "_unreadable", counters)
    dog, reg = _watch()
    assert _observe(dog) == [False, False, False]
    assert "this cluster dropped 4 unreadable message(s) of queue local" in reg.problem


@pytest.mark.slow
def test_a_cluster_wedged_again_after_its_restart_reports_instead_of_looping(make_site, tmp_path, settings):
    """The real thing, twice: SIGKILLing every idle worker at once wedges django-q2's worker
    queue (tests/reliability/test_idle_workers.py). The first cluster restarts itself (exit 75);
    its successor, wedged the same way, stays up and reports."""
    factory = ClusterFactory(tmp_path)
    try:
        first = factory.start("local", workers=2)
        _wedge(first)
        task = queue_task(make_site(), "verify", args=steps({"name": "v", "sh": "true"}))
        first.proc.wait(timeout=40)
        assert first.proc.returncode == watchdog.WEDGED_EXIT, first.log.read_text()[-3000:]
        row = Cluster.objects.get(pid=first.pid)
        assert row.stop_reason == Cluster.WEDGED and "restarted: worker queue wedged" in row.problem
        # What systemd (Restart=on-failure) or `manage.py serve` does on that status.
        second = factory.start("local", workers=2)
        wait_for(lambda: Task.objects.get(pk=task.pk).state == Task.SUCCEEDED, 20, "the task after the restart")
        _wedge(second)
        later = queue_task(make_site(), "verify", args=steps({"name": "v", "sh": "true"}))
        reported = wait_for(lambda: Cluster.objects.filter(pid=second.pid).exclude(problem="").first(), 40,
                            "the second cluster to report")
        assert "not restarting again within 15 min" in reported.problem and f"[{later.pk}]" in reported.problem
        time.sleep(3)  # more beats: still no restart
        assert second.proc.poll() is None, second.log.read_text()[-3000:]
        settings.HARBORMASTER_HEARTBEAT = 0.5
        check = health.worker_cluster(Task.objects.get(pk=later.pk).server)
        assert not check.ok and "not restarting again" in check.detail
    finally:
        factory.kill_all()


def _wedge(cluster) -> None:  # noqa: ANN001 - tests.engine.clusters.Cluster
    # Both workers up first: one still starting (or just reincarnated) would not be killed, and
    # the wait below for two new ones could not end.
    wait_for(lambda: len(cluster.workers()) >= 2, 20, "two idle workers")
    idle = cluster.workers()
    for worker in idle:
        worker.kill()
    wait_for(lambda: len([w for w in cluster.workers() if w.pid not in {p.pid for p in idle}]) >= 2, 20,
             "django-q2 to reincarnate the workers")
    time.sleep(0.5)
