"""A cluster stops within seconds however it is told (hosting.engine.shutdown): SIGTERM or SIGINT
to its whole process group (systemd's control-group kill, GNU `timeout`, a terminal's Ctrl-C)
or SIGTERM to its main process only (systemd's KillMode=mixed, `manage.py serve`); idle, and
with tasks running, which its workers hand back on the way out. Before, a SIGTERM to the group
left qcluster hanging for ever in django-q2's signal handler."""
from __future__ import annotations

import os
import signal
import subprocess
import time

import psutil
import pytest

from hosting.actions import queue_task
from hosting.engine.processes import marked_processes
from hosting.engine.shutdown import KILL_AFTER
from hosting.models import Cluster as ClusterRow
from hosting.models import Lock, Task
from tests.engine.helpers import alive, steps, wait_for

pytestmark = [pytest.mark.slow, pytest.mark.django_db(transaction=True)]

STOPS = {"group-SIGTERM": (True, signal.SIGTERM), "group-SIGINT": (True, signal.SIGINT),
         "main-SIGTERM": (False, signal.SIGTERM)}
GRACE = 4.0  # HARBORMASTER_STOP_GRACE of these clusters
# A clean stop takes about a second; the grace period would show as GRACE seconds or more.
CLEAN = 3.5


def _start(clusters, grace: float = GRACE):
    return clusters.start("local", workers=2, env={"HARBORMASTER_STOP_GRACE": str(grace)})


def _stop(cluster, how: str) -> float:
    """Send the stop; return the seconds until the main process has exited."""
    group, sig = STOPS[how]
    pids = [p.pid for p in cluster.processes()]
    began = time.monotonic()
    if group:
        os.killpg(cluster.pid, sig)
    else:
        os.kill(cluster.pid, sig)
    try:
        cluster.proc.wait(timeout=GRACE + KILL_AFTER + 10)
    except subprocess.TimeoutExpired:
        raise AssertionError(f"qcluster did not exit on {how}:\n{cluster.log.read_text()[-3000:]}") from None
    took = time.monotonic() - began
    # Every process of the cluster is gone with it (none orphaned, none left to a timeout).
    wait_for(lambda: not any(alive(pid) for pid in pids), timeout=2, what="the cluster's processes to end")
    return took


def _tree(task_id: int) -> list[int]:
    return [proc.pid for proc, marked, _owner in marked_processes() if marked == task_id]


def _words(record) -> list[str]:
    return [line.split()[0] for line in record.read_text().splitlines()] if record.exists() else []


@pytest.mark.parametrize("how", STOPS)
def test_an_idle_cluster_stops_within_seconds(clusters, server, how):
    cluster = _start(clusters)
    took = _stop(cluster, how)
    assert took < CLEAN and cluster.proc.returncode == 0, (took, cluster.log.read_text()[-3000:])
    assert ClusterRow.objects.get(pid=cluster.pid).stop_reason == ClusterRow.STOPPED, cluster.log.read_text()[-3000:]


@pytest.mark.parametrize("how", STOPS)
def test_a_stopping_cluster_hands_back_its_running_tasks(clusters, server, make_site, acme, record, how):
    """An idempotent task is re-queued, a destructive one rolled back (failed), their programs
    killed, their locks released; nothing waits for the next start."""
    cluster = _start(clusters)
    backup = queue_task(make_site("a.acme.test", acme), "backup", args={
        "record": str(record), **steps({"name": "copy", "sh": "rec copy; sleep 300"})})
    install = queue_task(make_site("b.acme.test", acme), "install", args={"record": str(record), **steps(
        {"name": "db", "sh": "rec db", "undo": "rec undo-db"},
        {"name": "files", "sh": "rec files; sleep 300", "undo": "rec undo-files"})})
    wait_for(lambda: {"copy", "files"} <= set(_words(record)), what="both tasks' long steps")
    trees = wait_for(lambda: all(_tree(t.pk) for t in (backup, install)) and
                     [pid for t in (backup, install) for pid in _tree(t.pk)], what="the tasks' programs")
    took = _stop(cluster, how)
    assert took < CLEAN and cluster.proc.returncode == 0, (took, cluster.log.read_text()[-3000:])
    backup.refresh_from_db()
    install.refresh_from_db()
    assert (backup.state, backup.attempt) == (Task.QUEUED, 1), backup.waiting_reason
    assert "stopped during step Copy; re-queued" in backup.waiting_reason
    assert install.state == Task.FAILED and install.summary.endswith("; rolled back."), install.summary
    assert "stopped during step Files" in install.summary
    assert _words(record)[-2:] == ["undo-files", "undo-db"]
    assert not Lock.objects.exists()
    assert not any(alive(pid) for pid in trees)


def test_a_rollback_longer_than_the_grace_period_is_cut_short_and_its_task_paused(clusters, server, site,
                                                                                   record):
    cluster = _start(clusters, grace=1)
    task = queue_task(site, "install", args={"record": str(record), **steps(
        {"name": "files", "sh": "rec files; sleep 300", "undo": "rec undo; sleep 300"})})
    wait_for(lambda: "files" in _words(record), what="the long step")
    took = _stop(cluster, "main-SIGTERM")
    assert 1 <= took < 1 + KILL_AFTER, (took, cluster.log.read_text()[-3000:])
    task.refresh_from_db()
    assert task.state == Task.PAUSED and "paused for a human" in task.summary, task.summary
    assert _words(record) == ["files", "undo"]
    assert not [p for p, marked, _ in marked_processes() if marked == task.pk and p.status() != psutil.STATUS_ZOMBIE]
