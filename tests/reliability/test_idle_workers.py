"""Found by the chaos drill: a worker SIGKILLed while idle wedges its whole cluster.

django-q2 workers wait in `for task in iter(task_queue.get, "STOP")`; multiprocessing's
Queue.get() holds the queue's read lock while it blocks on the pipe. When the worker holding it
dies, the lock is never released: every reincarnated worker blocks on it, nothing queued runs
again, and the engine sees only queued tasks (no running task to reap). Killing every idle
worker at once always takes the holder. The engine's watchdog (hosting.engine.watchdog) sees a
startable task left queued while nothing runs and ends the cluster with WEDGED_EXIT; systemd
(Restart=on-failure) or `manage.py serve` starts it again, which this test does by hand."""
from __future__ import annotations

import time

import pytest

from hosting.actions import queue_task
from hosting.models import Site, Task
from tests.engine.helpers import wait_for

pytestmark = [pytest.mark.slow]


def test_it_survives_sigkilled_idle_workers(real_clusters, worker_env, settings) -> None:
    from pathlib import Path

    from hosting.engine.watchdog import WEDGED_EXIT
    from tests.reliability import chaos

    world = chaos.build_world(Path(settings.HARBORMASTER_DATA_DIR), 1, platforms=1, drush_seconds=0)
    cluster = real_clusters.start("local", workers=2, env=worker_env)
    first = queue_task(world["sites"][0], "verify")
    wait_for(lambda: Task.objects.get(pk=first.pk).state == Task.SUCCEEDED, 20, "a verify before the kill")
    wait_for(lambda: len(cluster.workers()) >= 2, 20, "two idle workers")  # none still starting
    idle = cluster.workers()
    for worker in idle:
        worker.kill()
    wait_for(lambda: len([w for w in cluster.workers() if w.pid not in {p.pid for p in idle}]) >= 2, 20,
             "django-q2 to reincarnate the workers")
    time.sleep(0.5)
    after = queue_task(Site.objects.get(pk=world["sites"][0].pk), "verify")
    # The watchdog needs max(3 beats, 5 s) of a stuck task plus 3 checks, then ends the cluster.
    cluster.proc.wait(timeout=30)
    assert cluster.proc.returncode == WEDGED_EXIT, cluster.log.read_text()[-3000:]
    assert "worker queue wedged after a worker died while idle" in cluster.log.read_text()
    assert Task.objects.get(pk=after.pk).state == Task.QUEUED  # it was wedged, not run
    # What systemd's Restart=on-failure (or `manage.py serve`) does on that status.
    real_clusters.start("local", workers=2, env=worker_env)
    wait_for(lambda: Task.objects.get(pk=after.pk).state == Task.SUCCEEDED, 20, "a verify after the restart")
